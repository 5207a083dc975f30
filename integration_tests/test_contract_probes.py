"""The live contract's probes (integration_tests/live/), proved against the sandbox: with its default
behaviour and with each alternative switched on, they report exactly the switches the sandbox was set
to, and they report a broken contract as a problem."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from integration_tests.live.client import Client
from integration_tests.live.contract import run_contract
from integration_tests.sandbox import Quirks, Sandbox
from integration_tests.sandbox.util import Response
from integration_tests.scenarios import SECRET_KEY, new_sandbox, run_all

# What the probes can tell from a workspace without waiting for a cursor to expire.
DETERMINED = {
    "end_ts_exclusive",
    "start_ts_exclusive",
    "empty_pages_with_next",
    "last_page_next",
    "cursor_loop",
    "hidden_senders_listing",
    "search_refuses_cio_id",
    "hydration_native_values",
    "export_link_key",
    "export_compression",
    "export_bom",
    "export_cio_id_column",
    "export_column_order",
    "export_extra_columns",
    "export_attributes_only_when_asked",
    "export_drops_rows",
}
CASES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "end_ts_exclusive": {"end_ts_exclusive": True},
    "start_ts_exclusive": {"start_ts_exclusive": True},
    "both_bounds_exclusive": {"start_ts_exclusive": True, "end_ts_exclusive": True},
    "empty_pages_with_next": {"empty_pages_with_next": True},
    "last_page_next_null": {"last_page_next": "null"},
    "last_page_next_absent": {"last_page_next": "absent", "empty_pages_with_next": True},
    "cursor_loop": {"cursor_loop": True},
    "hidden_senders_only": {"hidden_senders_listing": "only"},
    "hydration_native_values": {"hydration_native_values": True},
}


def probe(sandbox: Sandbox):
    return run_contract(Client(sandbox.base_url, SECRET_KEY, requests_per_second=0), log=lambda _: None)


@pytest.fixture(scope="module")
def reports():
    sandboxes = {name: new_sandbox(seed=71, quirks=Quirks(**knobs)) for name, knobs in CASES.items()}
    for sandbox in sandboxes.values():
        sandbox.start()
    try:
        yield run_all({name: (lambda sb=sb: probe(sb)) for name, sb in sandboxes.items()}, workers=3)
    finally:
        for sandbox in sandboxes.values():
            sandbox.stop()


@pytest.mark.parametrize("case", CASES)
def test_the_probes_report_the_switches_the_sandbox_was_set_to(reports, case):
    report = reports[case]
    expected = Quirks(**CASES[case]).as_dict()
    # A server loop ends every walk at a repeat, so the last page's `next` cannot be seen then; a first
    # search page that is empty (with a `next`) gives no one to hydrate, so no attribute value to look at.
    determined = DETERMINED - ({"last_page_next"} if CASES[case].get("cursor_loop") else set())
    determined -= {"hydration_native_values"} if CASES[case].get("empty_pages_with_next") else set()
    assert determined <= set(report.observed), sorted(determined - set(report.observed))
    assert {k: report.observed[k] for k in determined} == {k: expected[k] for k in determined}
    assert report.problems == []


def test_the_rendered_report_names_what_differs_and_how_to_reproduce_it(reports):
    text = reports["both_bounds_exclusive"].render()
    assert "end_ts_exclusive" in text and "DIFFERENT" in text
    assert "Sandbox(quirks=Quirks(end_ts_exclusive=True, start_ts_exclusive=True))" in text
    assert "Every behaviour determined matches the sandbox's defaults." in reports["defaults"].render()


def broken(sandbox: Sandbox, path: str, change) -> None:
    """The sandbox answers `path` with `change(payload)` instead of its payload."""
    handle = sandbox.app.handle

    def altered(req: Any) -> Response:
        response = handle(req)
        if req.path == path and response.status == 200 and isinstance(response.body, bytes):
            response.body = orjson.dumps(change(orjson.loads(response.body)))
        return response

    sandbox.app.handle = altered  # type: ignore[method-assign]


def test_a_broken_contract_is_reported_as_a_problem():
    with new_sandbox(seed=72) as sandbox:
        broken(sandbox, "/v1/campaigns", lambda body: {"items": body["campaigns"]})
        broken(
            sandbox,
            "/v1/segments",
            lambda body: {"segments": [{**s, "updated_at": "soon"} for s in body["segments"]]},
        )
        broken(sandbox, "/v1/customers/attributes", lambda body: {"customers": body["customers"][:1]})
        report = probe(sandbox)
    problems = "\n".join(report.problems)
    assert "GET /campaigns: no `campaigns` list in the answer (it has ['items'])" in problems
    assert "GET /segments: cursor `updated_at` is not a unix time: 'soon'" in problems
    assert "hydration by cio_id (what the connector does) loses people" in problems
    assert len(report.problems) == 3
