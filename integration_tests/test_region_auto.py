"""Region auto-detection end to end, over real sockets: both regions' hosts are local servers (the
connector's host table injected with `SourceCustomerio(region_hosts=...)`), one of them the sandbox
that holds the key's workspace, the other a host that refuses the key with 401 as the wrong region
does. The connector finds the right one, says so, and reads everything from it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from airbyte_cdk.models import FailureType, Status

from integration_tests.connector import key_of
from integration_tests.sandbox import Sandbox
from source_customerio import SourceCustomerio
from source_customerio import source as source_module
from unit_tests.builders import check, connection_status, error_traces, log_lines, read_stream, records_of

KEY = "region-test-key-0123"
CONFIG = {"access_token": KEY, "region": "auto", "requests_per_second": 100}


class WrongRegion:
    """A host that answers 401 to every request, as the other region does, and records them."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append((self.path, self.headers.get("Authorization")))
                body = json.dumps({"meta": {"error": "Unauthorized request"}}).encode()
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def _fresh_region_cache() -> Iterator[None]:
    """The found region is cached per process; each test finds its own."""
    source_module._api_root.cache_clear()
    yield
    source_module._api_root.cache_clear()


@pytest.fixture
def wrong_region() -> Iterator[WrongRegion]:
    host = WrongRegion()
    yield host
    host.stop()


@pytest.fixture
def workspace() -> Iterator[Sandbox]:
    with Sandbox(seed=9, size="tiny", api_key=KEY, requests_per_second=0) as sandbox:
        yield sandbox


def test_a_key_of_the_eu_region_is_found_there_and_read_whole(wrong_region, workspace):
    source = SourceCustomerio(region_hosts={"us": wrong_region.base_url, "eu": workspace.base_url})
    output = read_stream(CONFIG, ["campaigns", "newsletters"], source=source)
    assert error_traces(output) == []
    for stream in ("campaigns", "newsletters"):
        got = sorted(key_of(stream, r) for r in records_of(output, stream))
        assert got == sorted(workspace.truth(stream)["keys"]), stream
    # The US host was asked once, with the key, which path only; then everything went to the EU host.
    assert wrong_region.requests == [("/v1/workspaces", f"Bearer {KEY}")]
    assert workspace.stats()["by_endpoint"]["GET /v1/workspaces"] == 1
    assert any("EU region" in line for line in log_lines(output))


def test_check_names_the_region_it_found(wrong_region, workspace):
    source = SourceCustomerio(region_hosts={"us": wrong_region.base_url, "eu": workspace.base_url})
    status = connection_status(check(CONFIG, source=source))
    assert status.status == Status.SUCCEEDED
    assert "Connected to Customer.io (EU)" in status.message


def test_a_key_of_the_us_region_never_reaches_the_eu_host(wrong_region, workspace):
    source = SourceCustomerio(region_hosts={"us": workspace.base_url, "eu": wrong_region.base_url})
    output = read_stream(CONFIG, "campaigns", source=source)
    assert sorted(key_of("campaigns", r) for r in records_of(output)) == sorted(
        workspace.truth("campaigns")["keys"]
    )
    assert wrong_region.requests == []
    assert any("US region" in line for line in log_lines(output))


def test_a_key_no_region_accepts_is_a_config_error_after_asking_both(wrong_region):
    other = WrongRegion()
    try:
        source = SourceCustomerio(region_hosts={"us": wrong_region.base_url, "eu": other.base_url})
        output = read_stream(CONFIG, "campaigns", source=source, expect_error=True)
    finally:
        other.stop()
    [error] = error_traces(output)
    assert error.failure_type == FailureType.config_error
    assert "App API key" in error.message and "region" in error.message
    assert [path for path, _ in wrong_region.requests + other.requests] == ["/v1/workspaces"] * 2
    assert output.records == []
