"""The Docker image behaves like the package: spec, check, discover and read run in the
container against the local sandbox and give the same records as an in-process read.

Needs a Docker engine and the connector image; the fixtures, and the environment that chooses
the image, are in image_fixtures.py.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

import pytest

from integration_tests.image_fixtures import (
    API_KEY,
    IoDir,
    Run,
    metadata,
    run_container,
    run_errors,
    run_in_process,
)

pytestmark = pytest.mark.image_tests


def record_multiset(records: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    """Records without emitted_at, order-free."""
    return Counter((r["stream"], json.dumps(r["data"], sort_keys=True)) for r in records)


def test_spec_prints_one_spec_message(docker_client: Any, connector_image: str) -> None:
    run = run_container(docker_client, connector_image, ["spec"])
    assert run.exit_code == 0, run.describe()
    specs = run.of_type("SPEC")
    assert len(specs) == 1, run.describe()
    properties = specs[0]["spec"]["connectionSpecification"]["properties"]
    assert "access_token" in properties


def test_image_runs_as_airbyte_with_absolute_entrypoint(docker_client: Any, connector_image: str) -> None:
    config = docker_client.images.get(connector_image).attrs["Config"]
    assert config["User"] == "airbyte"
    assert config["WorkingDir"] == "/airbyte/integration_code"
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["AIRBYTE_ENTRYPOINT"] == " ".join(config["Entrypoint"])
    assert all(part.startswith("/") for part in config["Entrypoint"])

    probe = run_container(
        docker_client,
        connector_image,
        [
            "-c",
            'id -un; id -u; touch /airbyte/probe && echo writable; test -x "$AIRBYTE_ENTRYPOINT" && echo x',
        ],
        entrypoint="/bin/sh",
    )
    assert probe.exit_code == 0, probe.describe()
    assert probe.stdout.split() == ["airbyte", "1000", "writable", "x"], probe.describe()


def test_image_labels_match_metadata(docker_client: Any, connector_image: str) -> None:
    data = metadata()
    labels = docker_client.images.get(connector_image).labels
    assert labels["io.airbyte.name"] == data["dockerRepository"]
    assert labels["io.airbyte.version"] == str(data["dockerImageTag"])


def test_image_has_no_build_time_ca_or_pip_config(docker_client: Any, connector_image: str) -> None:
    probe = run_container(
        docker_client,
        connector_image,
        ["-c", "ls /tmp/build-ca /build /etc/pip.conf /etc/xdg/pip ~/.config/pip 2>/dev/null; env"],
        entrypoint="/bin/sh",
    )
    assert "pip-ca-bundle" not in probe.stdout and "PIP_CERT" not in probe.stdout, probe.describe()


def test_check_succeeds_and_fails_with_a_wrong_key(
    docker_client: Any, connector_image: str, io_dir: IoDir
) -> None:
    good = run_container(
        docker_client, connector_image, ["check", "--config", io_dir.inside("config.json")], io_dir.path
    )
    statuses = [m["connectionStatus"]["status"] for m in good.of_type("CONNECTION_STATUS")]
    assert statuses == ["SUCCEEDED"], good.describe()
    assert API_KEY not in good.stdout, "the key leaked into the connector's output"

    bad = run_container(
        docker_client, connector_image, ["check", "--config", io_dir.inside("bad_config.json")], io_dir.path
    )
    statuses = [m["connectionStatus"]["status"] for m in bad.of_type("CONNECTION_STATUS")]
    assert statuses == ["FAILED"], bad.describe()
    assert "not-the-key" not in bad.stdout, "the key leaked into the connector's output"


def test_discover_lists_streams_with_schemas(discovered: Run, catalog: dict[str, Any]) -> None:
    assert discovered.exit_code == 0, discovered.describe()
    assert catalog["streams"], discovered.describe()
    for entry in catalog["streams"]:
        schema = entry["stream"]["json_schema"]
        assert schema.get("properties"), f"{entry['stream']['name']}: empty schema (package data missing?)"


def test_docker_read_equals_in_process_read(docker_read: Run, io_dir: IoDir) -> None:
    local = run_in_process(
        ["read", "--config", str(io_dir.path / "config.json"), "--catalog", str(io_dir.path / "catalog.json")]
    )
    assert local.exit_code == 0 and not run_errors(local), local.describe()
    in_docker, in_process = record_multiset(docker_read.records()), record_multiset(local.records())
    assert sum(in_docker.values()) > 0, "the read returned no records at all"
    only_docker, only_local = in_docker - in_process, in_process - in_docker
    assert not only_docker and not only_local, (
        f"{sum(only_docker.values())} records only in Docker, e.g. {list(only_docker)[:3]}; "
        f"{sum(only_local.values())} only in-process, e.g. {list(only_local)[:3]}"
    )
    streams_docker = Counter(r["stream"] for r in docker_read.records())
    streams_local = Counter(r["stream"] for r in local.records())
    assert streams_docker == streams_local


def cursor_value(value: Any) -> float | None:
    """Epoch seconds of a cursor value (number or ISO date), None when not comparable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def test_read_with_state_resumes(
    docker_client: Any, connector_image: str, io_dir: IoDir, catalog: dict[str, Any], docker_read: Run
) -> None:
    last_state: dict[str, dict[str, Any]] = {}
    for message in docker_read.of_type("STATE"):
        state = message["state"]
        if state.get("type") == "STREAM":
            last_state[state["stream"]["stream_descriptor"]["name"]] = state
    assert last_state, "the read emitted no per-stream STATE message"

    cursors = {
        entry["stream"]["name"]: entry["cursor_field"][0]
        for entry in catalog["streams"]
        if entry["sync_mode"] == "incremental" and len(entry.get("cursor_field") or []) == 1
    }
    thresholds: dict[str, float] = {}
    for name, cursor in cursors.items():
        saved = (last_state.get(name) or {}).get("stream", {}).get("stream_state") or {}
        value = cursor_value(saved.get(cursor))
        if value is not None:
            thresholds[name] = value
    assert thresholds, f"no incremental stream has a plain {{cursor: value}} state: {last_state}"

    io_dir.write("state.json", list(last_state.values()))
    resumed = run_container(
        docker_client,
        connector_image,
        [
            "read",
            "--config",
            io_dir.inside("config.json"),
            "--catalog",
            io_dir.inside("catalog.json"),
            "--state",
            io_dir.inside("state.json"),
        ],
        io_dir.path,
    )
    assert resumed.exit_code == 0 and not run_errors(resumed), resumed.describe()

    older = []
    for record in resumed.records():
        name = record["stream"]
        if name in thresholds:
            value = cursor_value(record["data"].get(cursors[name]))
            if value is not None and value < thresholds[name]:
                older.append((name, record["data"].get(cursors[name]), thresholds[name]))
    assert not older, f"records older than the saved state came back: {older[:5]}"

    first = Counter(r["stream"] for r in docker_read.records() if r["stream"] in thresholds)
    second = Counter(r["stream"] for r in resumed.records() if r["stream"] in thresholds)
    if sum(first.values()) > len(first):
        assert sum(second.values()) < sum(first.values()), (first, second)
