"""Small builders shared by the unit tests (and by the integration tests).

Configs, catalogs and states are built fluently; API objects come from one factory each, shaped
like the documented Customer.io App API answers; `read_stream` runs the connector through the CDK's
entrypoint exactly as a platform would, and `run_cli` runs the real console script in a subprocess.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteMessageSerializer,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    Level,
    SyncMode,
    TraceType,
)
from airbyte_cdk.test.catalog_builder import CatalogBuilder, ConfiguredAirbyteStreamBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, _run_command, make_file, read
from airbyte_cdk.test.models.outcome import ExpectedOutcome
from airbyte_cdk.test.state_builder import StateBuilder

from integration_tests.connector import protocol_message
from source_customerio import SourceCustomerio

KEY = "unit-test-key"
US = "https://api.customer.io/v1"
EU = "https://api-eu.customer.io/v1"
PROJECT_ROOT = Path(__file__).resolve().parent.parent

ALL_STREAMS = (
    "broadcasts", "transactional_messages", "messages", "customers", "campaigns", "newsletters",
    "segments", "exports", "activities", "sender_identities", "reporting_webhooks", "snippets",
    "ip_addresses", "collections", "topics", "workspaces", "types", "eps_suppression",
    "campaign_actions", "broadcast_actions", "newsletter_variants", "transactional_contents",
    "segment_memberships", "campaign_metrics", "campaign_action_metrics", "broadcast_metrics",
    "newsletter_metrics",
)  # fmt: skip


# -- config, catalog, state ----------------------------------------------------------------------


class ConfigBuilder:
    """`ConfigBuilder().with_start_date("2024-01-01").build()`; the default reads the US region.

    `with` is a Python keyword, so arbitrary settings go through `with_(**kv)`.
    """

    def __init__(self) -> None:
        self._config: dict[str, Any] = {"access_token": KEY, "region": "us"}

    def with_key(self, key: str | None) -> ConfigBuilder:
        if key is None:
            self._config.pop("access_token", None)
        else:
            self._config["access_token"] = key
        return self

    def with_start_date(self, value: str) -> ConfigBuilder:
        self._config["start_date"] = value
        return self

    def with_region(self, region: str) -> ConfigBuilder:
        self._config["region"] = region
        return self

    def with_base_url(self, url: str) -> ConfigBuilder:
        self._config["base_url"] = url
        return self

    def with_(self, **kv: Any) -> ConfigBuilder:
        self._config.update(kv)
        return self

    def build(self) -> dict[str, Any]:
        return dict(self._config)


def catalog(
    *streams: str,
    mode: SyncMode = SyncMode.full_refresh,
    schemas: Mapping[str, Mapping[str, Any]] | None = None,
) -> ConfiguredAirbyteCatalog:
    """A configured catalog; `schemas` gives streams the json_schema a discover made (else `{}`)."""
    builder = CatalogBuilder()
    for name in streams:
        stream = ConfiguredAirbyteStreamBuilder().with_name(name).with_sync_mode(mode)
        if schemas and name in schemas:
            stream = stream.with_json_schema(dict(schemas[name]))
        builder.with_stream(stream)
    return builder.build()


def state(stream: str, value: Mapping[str, Any]) -> list[AirbyteStateMessage]:
    return StateBuilder().with_stream_state(stream, dict(value)).build()


def read_stream(
    config: Mapping[str, Any],
    stream: str | Iterable[str],
    mode: SyncMode = SyncMode.full_refresh,
    state: list[AirbyteStateMessage] | None = None,
    expect_error: bool = False,
    source: SourceCustomerio | None = None,
    schemas: Mapping[str, Mapping[str, Any]] | None = None,
) -> EntrypointOutput:
    """Read `stream`(s) through the CDK entrypoint; the output is checked never to hold the key."""
    names = [stream] if isinstance(stream, str) else list(stream)
    outcome = ExpectedOutcome.EXPECT_EXCEPTION if expect_error else ExpectedOutcome.EXPECT_SUCCESS
    connector = source or SourceCustomerio()
    chosen = catalog(*names, mode=mode, schemas=schemas)
    output = read(connector, config, chosen, state, expected_outcome=outcome)
    _assert_keys_absent(output, config)
    return output


def check(config: Mapping[str, Any], source: SourceCustomerio | None = None) -> EntrypointOutput:
    """`check` through the CDK entrypoint in this process (so requests_mock applies)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = make_file(Path(tmp) / "config.json", dict(config))
        output = _run_command(
            source or SourceCustomerio(),
            ["check", "--config", path],
            expected_outcome=ExpectedOutcome.ALLOW_ANY,
        )
    _assert_keys_absent(output, config)
    return output


def _assert_keys_absent(output: EntrypointOutput, config: Mapping[str, Any]) -> None:
    """Whatever happened, neither spelling of the configured key may reach the output."""
    for secret in (config.get("access_token"), config.get("app_api_key")):
        if isinstance(secret, str) and len(secret.strip()) >= 8:
            assert_no_secret(output, secret.strip())


def connection_status(output: EntrypointOutput) -> Any:
    """The single CONNECTION_STATUS of a check."""
    statuses = [m.connectionStatus for m in output.connection_status_messages]
    assert len(statuses) == 1, f"expected one CONNECTION_STATUS, got {len(statuses)}"
    return statuses[0]


# -- reading an output ---------------------------------------------------------------------------


def records_of(output: EntrypointOutput, stream: str | None = None) -> list[dict[str, Any]]:
    return [
        dict(m.record.data)
        for m in output.records
        if m.record is not None and (stream is None or m.record.stream == stream)
    ]


def states_of(output: EntrypointOutput, stream: str) -> list[dict[str, Any]]:
    """Each STATE message's blob for `stream`, in order."""
    blobs = []
    for message in output.state_messages:
        stream_state = message.state.stream if message.state else None
        if stream_state and stream_state.stream_descriptor.name == stream:
            blob = stream_state.stream_state
            blobs.append(dict(blob.__dict__) if blob is not None else {})
    return blobs


def log_lines(output: EntrypointOutput, level: Level | None = None) -> list[str]:
    return [
        m.log.message for m in output.logs if m.log is not None and (level is None or m.log.level == level)
    ]


def error_traces(output: EntrypointOutput) -> list[Any]:
    """The `trace.error` of each ERROR trace."""
    return [m.trace.error for m in output.errors if m.trace and m.trace.type == TraceType.ERROR]


def all_text(output: EntrypointOutput) -> str:
    """Every message of the output, serialised: what the platform would store."""
    return "\n".join(
        json.dumps(AirbyteMessageSerializer.dump(m), default=str) for m in output.get_message_iterator()
    )


def assert_no_secret(output: EntrypointOutput | Iterable[str], secret: str = KEY) -> None:
    text = "\n".join(output) if not isinstance(output, EntrypointOutput) else all_text(output)
    assert secret not in text, "the API key appears in the connector's output"


# -- requests ------------------------------------------------------------------------------------


def http_answer(
    status: int, body: bytes = b"{}", headers: Mapping[str, str] | None = None, url: str = f"{US}/campaigns"
) -> requests.Response:
    """An answer as `requests` hands it over, for the error handler and backoff tested directly."""
    answer = requests.Response()
    answer.status_code = status
    answer._content = body
    answer.headers.update(headers or {})
    answer.request = requests.Request("GET", url).prepare()
    answer.url = answer.request.url
    return answer


def query(request: Any) -> dict[str, str]:
    """The query of a recorded request, case preserved (requests_mock's `qs` lowercases values)."""
    return {k: v[-1] for k, v in parse_qs(urlsplit(request.url).query, keep_blank_values=True).items()}


def path_of(request: Any) -> str:
    return urlsplit(request.url).path


def calls_to(requests_mock: Any, path: str, method: str | None = None) -> list[Any]:
    """Recorded requests to exactly `path` (e.g. "/v1/campaigns"), optionally of one method."""
    return [
        r
        for r in requests_mock.request_history
        if path_of(r) == path and (method is None or r.method == method)
    ]


# -- API objects ---------------------------------------------------------------------------------


def campaign(id: int, updated: int = 1_734_000_000, **extra: Any) -> dict[str, Any]:
    return {"id": id, "name": f"campaign {id}", "created": 1_700_000_000, "updated": updated, **extra}


def broadcast(id: int, updated: int = 1_734_000_000, **extra: Any) -> dict[str, Any]:
    return {"id": id, "name": f"broadcast {id}", "created": 1_700_000_000, "updated": updated, **extra}


def newsletter(id: int, updated: int = 1_734_000_000, **extra: Any) -> dict[str, Any]:
    return {"id": id, "name": f"newsletter {id}", "created": 1_700_000_000, "updated": updated, **extra}


def transactional_message(id: int, updated_at: int = 1_734_000_000, **extra: Any) -> dict[str, Any]:
    return {"id": id, "name": f"transactional {id}", "trigger_name": "t", "updated_at": updated_at, **extra}


def segment(id: int, updated_at: int = 1_734_000_000, **extra: Any) -> dict[str, Any]:
    return {"id": id, "name": f"segment {id}", "type": "dynamic", "updated_at": updated_at, **extra}


def export(id: int, updated_at: int = 1_734_000_000, **extra: Any) -> dict[str, Any]:
    return {"id": id, "type": "customers", "status": "done", "updated_at": updated_at, **extra}


def collection(id: int, updated_at: int = 1_734_000_000, **extra: Any) -> dict[str, Any]:
    return {"id": id, "name": f"collection {id}", "rows": 3, "updated_at": updated_at, **extra}


def snippet(name: str, updated_at: int = 1_734_000_000, **extra: Any) -> dict[str, Any]:
    return {"name": name, "value": f"value of {name}", "updated_at": updated_at, **extra}


def activity(id: str, timestamp: int = 1_734_000_000, **extra: Any) -> dict[str, Any]:
    return {"id": id, "type": "event", "name": "purchase", "timestamp": timestamp, **extra}


def sender_identity(id: int, **extra: Any) -> dict[str, Any]:
    return {"id": id, "name": f"sender {id}", "email": f"sender{id}@example.com", **extra}


def reporting_webhook(id: int, **extra: Any) -> dict[str, Any]:
    return {"id": id, "name": f"hook {id}", "endpoint": f"https://hooks.example.com/{id}", **extra}


def topic(id: int, **extra: Any) -> dict[str, Any]:
    return {"id": id, "identifier": f"topic_{id}", "name": f"Topic {id}", **extra}


def workspace(id: Any, **extra: Any) -> dict[str, Any]:
    return {"id": id, "name": f"workspace {id}", "people": 10, **extra}


def object_type(id: Any, **extra: Any) -> dict[str, Any]:
    return {"id": id, "name": f"type {id}", "slug": f"type-{id}", **extra}


def delivery(id: str, created: int = 1_734_000_000, **extra: Any) -> dict[str, Any]:
    body = {"id": id, "customer_id": f"person-{id}", "created": created, "type": "email"}
    return {**body, "metrics": {"sent": created + 1}, **extra}


def action(id: int, updated: int = 1_734_000_000, **extra: Any) -> dict[str, Any]:
    """A campaign or broadcast action (workflow step)."""
    return {
        "id": id,
        "name": f"step {id}",
        "type": "email",
        "created": 1_700_000_000,
        "updated": updated,
        **extra,
    }


def variant(id: int, **extra: Any) -> dict[str, Any]:
    """A newsletter variant or transactional message content (no created/updated unless given)."""
    return {"id": id, "name": f"variant {id}", "type": "email", "subject": "Hello", "language": "", **extra}


def series(**columns: list[int]) -> dict[str, Any]:
    """A metrics answer: `{"metric": {"series": {name: [count per day, oldest first]}}}`."""
    return {"metric": {"series": columns}}


def identifier(cio_id: str, id: str | None = None, email: str | None = None) -> dict[str, Any]:
    """One entry of a customer search's `identifiers`."""
    return {"cio_id": cio_id, "id": id, "email": email}


def person(
    cio_id: Any, id: str | None = None, email: str | None = None, wrapped: bool = False
) -> dict[str, Any]:
    """One person of `POST /v1/customers/attributes`: flat, or wrapped as {"customer": {...}}."""
    identifiers = {"cio_id": cio_id, "id": id, "email": email}
    body: dict[str, Any] = {
        "id": id,
        "identifiers": identifiers,
        "attributes": {"cio_id": cio_id, **({"email": email} if email else {}), **({"id": id} if id else {})},
        "timestamps": {"cio_id": 1_734_000_000},
        "unsubscribed": False,
        "devices": [],
    }
    return {"customer": body} if wrapped else body


def suppression(email: str, created: int = 1_734_000_000, **extra: Any) -> dict[str, Any]:
    return {"email": email, "reason": "550 mailbox unavailable", "created": created, **extra}


def page(records_key: str, records: list[Any], next: Any = None, **extra: Any) -> dict[str, Any]:
    """A list answer: `{records_key: records}`, with `next` only when given."""
    body: dict[str, Any] = {records_key: records, **extra}
    if next is not None:
        body["next"] = next
    return body


# -- a whole mocked API -------------------------------------------------------------------------

# stream -> (method, path under the API root, records key, primary key)
ENDPOINTS: dict[str, tuple[str, str, str, list[str]]] = {
    "broadcasts": ("GET", "broadcasts", "broadcasts", ["id"]),
    "transactional_messages": ("GET", "transactional", "messages", ["id"]),
    "messages": ("GET", "messages", "messages", ["id"]),
    "customers": ("POST", "customers", "identifiers", ["cio_id"]),
    "campaigns": ("GET", "campaigns", "campaigns", ["id"]),
    "newsletters": ("GET", "newsletters", "newsletters", ["id"]),
    "segments": ("GET", "segments", "segments", ["id"]),
    "exports": ("GET", "exports", "exports", ["id"]),
    "activities": ("GET", "activities", "activities", ["id"]),
    "sender_identities": ("GET", "sender_identities", "sender_identities", ["id"]),
    "reporting_webhooks": ("GET", "reporting_webhooks", "reporting_webhooks", ["id"]),
    "snippets": ("GET", "snippets", "snippets", ["name"]),
    "ip_addresses": ("GET", "info/ip_addresses", "ip_addresses", ["id"]),
    "collections": ("GET", "collections", "collections", ["id"]),
    "topics": ("GET", "subscription_topics", "topics", ["id"]),
    "workspaces": ("GET", "workspaces", "workspaces", ["id"]),
    "types": ("GET", "object_types", "types", ["id"]),
    "eps_suppression": ("GET", "esp/suppression/bounces", "suppressions", ["suppression_type", "email"]),
    # The tables under the tables: the path `check` probes (parent 0, which does not exist).
    "campaign_actions": ("GET", "campaigns/0/actions", "actions", ["campaign_id", "id"]),
    "broadcast_actions": ("GET", "broadcasts/0/actions", "actions", ["broadcast_id", "id"]),
    "newsletter_variants": ("GET", "newsletters/0/contents", "contents", ["newsletter_id", "id"]),
    "transactional_contents": (
        "GET",
        "transactional/0/contents",
        "contents",
        ["transactional_message_id", "id"],
    ),
    "segment_memberships": ("GET", "segments/0/membership", "identifiers", ["segment_id", "cio_id"]),
    "campaign_metrics": ("GET", "campaigns/0/metrics", "metric", ["campaign_id", "day"]),
    "campaign_action_metrics": (
        "GET",
        "campaigns/0/actions/0/metrics",
        "metric",
        ["campaign_id", "action_id", "day"],
    ),
    "broadcast_metrics": ("GET", "broadcasts/0/metrics", "metric", ["broadcast_id", "day"]),
    "newsletter_metrics": ("GET", "newsletters/0/metrics", "metric", ["newsletter_id", "day"]),
}
# Sub-resources of any parent: (path pattern under the API root, the answer).
SUB_RESOURCES: dict[str, tuple[str, dict[str, Any]]] = {
    "campaign_actions": (r"campaigns/\d+/actions", page("actions", [action(31)])),
    "broadcast_actions": (r"broadcasts/\d+/actions", page("actions", [action(41)])),
    "newsletter_variants": (r"newsletters/\d+/contents", page("contents", [variant(51)])),
    "transactional_contents": (
        r"transactional/\d+/contents",
        page("contents", [variant(61, created=1_700_000_000, updated=1_734_000_000)]),
    ),
    "segment_memberships": (
        r"segments/\d+/membership",
        page("identifiers", [identifier("3000001", "p1", "p1@example.com")], ids=["p1"]),
    ),
    "campaign_metrics": (r"campaigns/\d+/metrics", series(sent=[3, 4], opened=[1, 2])),
    "campaign_action_metrics": (r"campaigns/\d+/actions/\d+/metrics", series(sent=[5, 6], opened=[2, 3])),
    "broadcast_metrics": (r"broadcasts/\d+/metrics", series(sent=[7, 8], opened=[3, 4])),
    "newsletter_metrics": (r"newsletters/\d+/metrics", series(sent=[9, 10], opened=[4, 5])),
}
SUPPRESSION_TYPES = ("bounces", "blocks", "spam_reports", "invalid_emails")

# One object per list endpoint, as the API sends it.
SAMPLES: dict[str, list[Any]] = {
    "broadcasts": [broadcast(1)],
    "transactional_messages": [transactional_message(2)],
    "messages": [delivery("d1")],
    "campaigns": [campaign(3)],
    "newsletters": [newsletter(4)],
    "segments": [segment(5)],
    "exports": [export(6)],
    "activities": [activity("a7")],
    "sender_identities": [sender_identity(8)],
    "reporting_webhooks": [reporting_webhook(9)],
    "snippets": [snippet("footer")],
    "ip_addresses": ["10.0.0.1"],
    "collections": [collection(11)],
    "topics": [topic(12)],
    "workspaces": [workspace(13)],
    "types": [object_type(14)],
}


def suppression_pages(lists: Mapping[str, list[Any]]) -> Any:
    """A requests_mock callback serving `lists[type]` by `limit`/`offset`, like the API."""

    def answer(request: Any, context: Any) -> dict[str, Any]:
        kind = path_of(request).rsplit("/", 1)[-1]
        params = query(request)
        offset, limit = int(params.get("offset", 0)), int(params.get("limit", 1000))
        return {"suppressions": list(lists.get(kind, []))[offset : offset + limit]}

    return answer


def hydrate_all(wrapped: bool = False) -> Any:
    """A requests_mock callback for `POST customers/attributes`: one person per requested cio_id."""

    def answer(request: Any, context: Any) -> dict[str, Any]:
        ids = request.json()["ids"]
        return {
            "customers": [person(i, id=f"id-{i}", email=f"{i}@example.com", wrapped=wrapped) for i in ids]
        }

    return answer


def mock_api(requests_mock: Any, root: str = US, **answers: Any) -> None:
    """Answer every endpoint of every stream with `SAMPLES` and `SUB_RESOURCES` (one page, no `next`).

    `answers[stream]` replaces a stream's answer with requests_mock keyword arguments
    (e.g. `campaigns={"status_code": 403}`).
    """
    for stream, (method, path, records_key, _) in ENDPOINTS.items():
        if stream in ("customers", "eps_suppression") or stream in SUB_RESOURCES:
            continue
        kwargs = answers.get(stream, {"json": {records_key: SAMPLES[stream]}})
        requests_mock.register_uri(method, f"{root}/{path}", **kwargs)
    requests_mock.post(
        f"{root}/customers",
        **answers.get("customers", {"json": {"identifiers": [identifier("101", "p1", "p1@example.com")]}}),
    )
    requests_mock.post(f"{root}/customers/attributes", json=hydrate_all())
    for kind in SUPPRESSION_TYPES:
        default = {"json": suppression_pages({kind: [suppression(f"{kind}@example.com")]})}
        requests_mock.get(f"{root}/esp/suppression/{kind}", **answers.get("eps_suppression", default))
    for stream, (pattern, answer) in SUB_RESOURCES.items():
        url = re.compile(re.escape(root) + "/" + pattern + r"(\?.*)?$")
        requests_mock.get(url, **answers.get(stream, {"json": answer}))


# -- the console script --------------------------------------------------------------------------


def run_cli(
    args: list[str], config: Mapping[str, Any] | None = None, timeout: float = 60
) -> tuple[int, list[str]]:
    """Run `python -m source_customerio *args`; `{config}` in args is replaced by a file of `config`."""
    with tempfile.TemporaryDirectory() as tmp:
        if config is not None:
            config_path = Path(tmp) / "config.json"
            config_path.write_text(json.dumps(config))
            args = [str(config_path) if a == "{config}" else a for a in args]
        done = subprocess.run(
            [sys.executable, "-m", "source_customerio", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=PROJECT_ROOT,
            check=False,
        )
    return done.returncode, done.stdout.splitlines()


def parse_lines(lines: Iterable[str]) -> list[AirbyteMessage]:
    """The Airbyte messages of stdout lines; a line that is not one fails the test, quoting it."""
    return [AirbyteMessageSerializer.load(protocol_message(line)) for line in lines]
