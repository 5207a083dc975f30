"""Readings of the API that its documentation leaves open, each switched in the sandbox and read whole:

- deliveries sit on every second where the connector's windows and sub-windows meet, and are read
  exactly once whether `start_ts` / `end_ts` are inclusive or exclusive;
- hidden sender identities are read, flagged, and never doubled, whatever `hidden=true` lists;
- ESP suppressions are read per sending domain, with the domain in the key;
- 429s without Retry-After (a daily quota) end, once retries run out, in an error that says so.
"""

from __future__ import annotations

import itertools
from collections import Counter
from contextlib import ExitStack
from datetime import datetime, timezone
from typing import Any

import pytest

from integration_tests.connector import catalog
from integration_tests.sandbox import Faults, Quirks, Sandbox
from integration_tests.sandbox.catalog import SENDING_DOMAINS
from integration_tests.scenarios import (
    FAST_BACKOFF,
    assert_clean,
    assert_complete,
    config_for,
    new_sandbox,
    run,
    run_all,
    warnings,
)
from source_customerio.streams.messages import WINDOW_SECONDS

SEAM_SEED = 61
BOUNDS = list(itertools.product([False, True], repeat=2))  # (start_ts exclusive, end_ts exclusive)


class MessagesRequests:
    """The (start_ts, end_ts) of every first page of GET /v1/messages the sandbox answers."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.spans: set[tuple[int, int]] = set()
        handle = sandbox.app.handle

        def logged(req: Any) -> Any:
            if req.path == "/v1/messages" and not req.arg("start"):
                self.spans.add((int(req.arg("start_ts")), int(req.arg("end_ts"))))
            return handle(req)

        sandbox.app.handle = logged  # type: ignore[method-assign]


def messages_config(sandbox: Sandbox, start: int) -> dict[str, Any]:
    when = datetime.fromtimestamp(start, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return config_for(sandbox, start_date=when)


def seam_times(start: int, stop: int) -> list[int]:
    """Deliveries to pin so that every bound the connector asks for has one on and next to it.

    A read is watched, deliveries are pinned on the seconds around every start_ts / end_ts it asked
    (more deliveries can split a window that was not split before), until no new bound appears. Bounds
    from `stop` on are left alone: the last window ends now, so its sub-windows' bounds move with the
    clock."""
    with new_sandbox(seed=SEAM_SEED) as sandbox:
        watched, pinned = MessagesRequests(sandbox), {start - 2, start - 1, start, start + 1}
        sandbox.world.deliveries.pin(sorted(pinned))
        for _ in range(6):
            result = run("read", messages_config(sandbox, start), catalog(["messages"]))
            assert result.exit_code == 0, result.stdout[-2000:]
            near = {t for lo, hi in watched.spans for b in (lo, hi) for t in range(b - 1, b + 2)}
            new = sorted(t for t in near - pinned if t < stop)
            if not new:
                return sorted(pinned)
            sandbox.world.deliveries.pin(new)
            pinned |= set(new)
    raise AssertionError("the windows' bounds kept moving")


def read_seams(start: int, pins: list[int], start_exclusive: bool, end_exclusive: bool, stack: ExitStack):
    quirks = Quirks(start_ts_exclusive=start_exclusive, end_ts_exclusive=end_exclusive)
    sandbox = stack.enter_context(new_sandbox(seed=SEAM_SEED, quirks=quirks))
    sandbox.world.deliveries.pin(pins)
    return sandbox, lambda: run("read", messages_config(sandbox, start), catalog(["messages"]))


@pytest.fixture(scope="module")
def outcome():
    with ExitStack() as stack:
        probe = stack.enter_context(new_sandbox(seed=SEAM_SEED))
        deliveries = probe.world.deliveries
        # From 20 days after the first delivery: the first window starts inside the history.
        start = deliveries.first_created() + 20 * 86_400
        last_window = start + (probe.world.ctx.anchor - start) // WINDOW_SECONDS * WINDOW_SECONDS
        pins = seam_times(start, stop=last_window + 2)
        calls: dict[Any, Any] = {}
        sandboxes: dict[Any, Sandbox] = {}
        for bounds in BOUNDS:
            sandboxes[bounds], calls[bounds] = read_seams(start, pins, *bounds, stack)
        for listing in ("all", "only"):
            sb = stack.enter_context(new_sandbox(seed=62, quirks=Quirks(hidden_senders_listing=listing)))
            sandboxes[listing] = sb
            calls[listing] = lambda sb=sb: run("read", config_for(sb), catalog(["sender_identities"]))
        domains = stack.enter_context(new_sandbox(seed=63))
        sandboxes["domains"] = domains
        configured = [*SENDING_DOMAINS, "other.example.com"]
        calls["domains"] = lambda: run(
            "read", config_for(domains, esp_suppression_domains=configured), catalog(["eps_suppression"])
        )
        for status in (404, 400):
            sb = stack.enter_context(new_sandbox(seed=63, quirks=Quirks(unknown_domain_status=status)))
            sandboxes[("unknown domain", status)] = sb
            calls[("unknown domain", status)] = lambda sb=sb: run(
                "read", config_for(sb, esp_suppression_domains=configured), catalog(["eps_suppression"])
            )
        quota = stack.enter_context(
            new_sandbox(seed=64, faults=Faults(burst_429=1000, retry_after_missing=1.0))
        )
        sandboxes["quota"] = quota
        calls["quota"] = lambda: run("read", config_for(quota), catalog(["campaigns"]), env=FAST_BACKOFF)
        results = run_all(calls, workers=4)
        yield start, pins, {name: (sandboxes[name], results[name]) for name in calls}


@pytest.mark.parametrize(("start_exclusive", "end_exclusive"), BOUNDS)
def test_deliveries_on_every_window_seam_are_read_exactly_once(outcome, start_exclusive, end_exclusive):
    start, pins, results = outcome
    sandbox, result = results[(start_exclusive, end_exclusive)]
    assert result.exit_code == 0, result.stdout[-3000:]
    assert result.errors == []
    deliveries = sandbox.world.deliveries
    expected = {deliveries.key(i) for i in deliveries.indices() if deliveries.created(i) >= start}
    got = result.keys_of("messages")
    assert [k for k, n in Counter(got).items() if n > 1] == [], "a delivery was read twice"
    assert set(got) == expected, (len(expected - set(got)), len(set(got) - expected))
    # The seams were really populated: deliveries on, before and after bounds, around start_date too.
    assert {start - 1, start} <= set(pins) and len(pins) > 40
    assert_clean(result)


@pytest.mark.parametrize("listing", ["all", "only"])
def test_hidden_senders_are_read_once_each_with_their_flag(outcome, listing):
    _, _, results = outcome
    sandbox, result = results[listing]
    assert result.exit_code == 0, result.stdout[-3000:]
    assert_complete(sandbox, result, "sender_identities")
    hidden = sandbox.world.hidden_sender_ids()
    assert hidden, "the sandbox has hidden senders"
    flags = {r["id"]: r["hidden"] for r in result.records_of("sender_identities")}
    assert flags == {i: i in hidden for i in flags}


def test_suppressions_are_read_per_sending_domain_with_the_domain_in_the_key(outcome):
    _, _, results = outcome
    sandbox, result = results["domains"]
    assert result.exit_code == 0, result.stdout[-3000:]
    records = result.records_of("eps_suppression")
    keys = [f"{r['suppression_type']}|{r['domain']}|{r['email']}" for r in records]
    assert len(keys) == len(set(keys))
    assert sorted(keys) == sorted(sandbox.world.suppression_keys(list(SENDING_DOMAINS)))
    emails = Counter((r["suppression_type"], r["email"]) for r in records)
    assert max(emails.values()) == 2, "some addresses are suppressed on both domains"
    stats = sandbox.stats()["by_endpoint"]
    assert stats["GET /v1/esp/suppression/bounces"] >= 3  # one list per configured domain


def test_a_domain_answered_404_is_read_as_empty_with_a_warning(outcome):
    _, _, results = outcome
    sandbox, result = results[("unknown domain", 404)]
    assert result.exit_code == 0, result.stdout[-3000:]
    keys = [
        f"{r['suppression_type']}|{r['domain']}|{r['email']}" for r in result.records_of("eps_suppression")
    ]
    assert sorted(keys) == sorted(sandbox.world.suppression_keys(list(SENDING_DOMAINS)))
    said = [w for w in warnings(result) if "other.example.com" in w]
    assert len(said) == 4 and all("404" in w and "esp_suppression_domains" in w for w in said)


def test_a_domain_answered_400_is_a_config_error_naming_it(outcome):
    _, _, results = outcome
    _, result = results[("unknown domain", 400)]
    assert result.exit_code != 0
    errors = [e for e in result.errors if e["failure_type"] == "config_error"]
    assert errors and "'other.example.com'" in errors[0]["message"]
    assert "esp_suppression_domains" in errors[0]["message"]
    assert_clean(result)


def test_429s_without_retry_after_end_in_an_error_about_a_daily_quota(outcome):
    _, _, results = outcome
    sandbox, result = results["quota"]
    assert result.exit_code != 0 and result.records == []
    retries = [line for line in result.logs() if line.startswith("Retrying GET /v1/campaigns")]
    assert len(retries) == 8 and all("Retry-After: none; a daily quota" in line for line in retries)
    assert any(line.startswith("Giving up on GET /v1/campaigns after 9 attempts") for line in result.logs())
    [error] = [e for e in result.errors if (e.get("stream_descriptor") or {}).get("name") == "campaigns"]
    assert error["failure_type"] == "transient_error"
    assert "daily request quota" in error["message"] and "GET /campaigns" in error["message"]
    assert sandbox.stats()["served_429"] == 9
    assert_clean(result)
