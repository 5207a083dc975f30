"""The tables under the tables, end to end against the sandbox: counts that are exactly the sandbox's
(the complete reads of every stream are in test_read.py), incremental reads that pick up a changed
child and a new day of metrics, deleted parents, undocumented behaviours either way, a refused
sub-resource, and a sync killed mid-fan-out that resumes with the parents left.

The scenarios run side by side (each is a connector subprocess waiting on its sandbox)."""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from integration_tests.connector import FAN_OUT, INCREMENTAL, catalog, key_of
from integration_tests.sandbox import Quirks
from integration_tests.sandbox.subresources import CHILD_STREAMS, METRIC_STREAMS
from integration_tests.scenarios import (
    RequestLog,
    assert_clean,
    assert_complete,
    assert_valid_records,
    config_for,
    new_sandbox,
    run,
    run_all,
    stream_state,
)

CURSOR_CHILDREN = [s for s in CHILD_STREAMS if s in INCREMENTAL]
METRICS = list(METRIC_STREAMS)
NO_LOOKBACK = {"lookback_window_minutes": 0, "metrics_lookback_days": 0}
CAMPAIGN_SERIES = ["campaign_actions", "campaign_metrics", "campaign_action_metrics"]
MANY = {"campaigns": 40, "segments": 30}
DAY = 86_400


def yesterday(stream: str) -> date:
    """The newest day a read has rows for (days that have ended), in the stream's days."""
    zone = timezone.utc if METRIC_STREAMS[stream][1] == 2 else timezone(timedelta(hours=-5))
    return datetime.now(zone).date() - timedelta(days=1)


def day_start(stream: str, day: date) -> int:
    offset = 0 if METRIC_STREAMS[stream][1] == 2 else 5 * 3600
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()) + offset


def sandbox_row(sandbox, stream: str, record: dict) -> dict:
    """The sandbox's own counts for a row the connector emitted."""
    parents = METRIC_STREAMS[stream][0]
    table = sandbox.world.tables[parents]
    parent_key = next(k for k in record if k.endswith("_id") and k != "action_id")
    parent = table.record(table.index_of(str(record[parent_key])))
    ids = (int(parent["id"]), *([record["action_id"]] if "action_id" in record else []))
    day = date.fromisoformat(record["day"])
    series = sandbox.world.sub.series(stream, ids, int(parent["created"]), [day])["metric"]["series"]
    return {name: values[0] for name, values in series.items()}


def child_cursors(sandbox, stream: str) -> dict[str, tuple[str, int]]:
    """key -> (parent id, `updated`) of every child the sandbox holds."""
    out = {}
    for parent in sandbox.world.sub.live_parents(CHILD_STREAMS[stream]):
        for row in sandbox.world.sub.children(stream, parent):
            out[f"{int(parent['id'])}|{row['id']}"] = (str(int(parent["id"])), row.get("updated"))
    return out


def _incremental_twice(sandbox):
    config = config_for(sandbox, **NO_LOOKBACK)
    streams = CURSOR_CHILDREN + METRICS
    first = run("read", config, catalog(streams, incremental=True))
    changed = {s: sandbox.mutate(s, "update", 2)["keys"] for s in streams}
    second = run("read", config, catalog(streams, incremental=True), state=first.final_states())
    return first, changed, second


def _gap(sandbox, stream: str, days: int):
    """An incremental read whose state says each parent was last read `days` days ago."""
    parents = METRIC_STREAMS[stream][0]
    saved = {"parents": {}}
    for parent in sandbox.world.sub.live_parents(parents):
        saved["parents"][str(parent["id"])] = {
            "day_start": day_start(stream, yesterday(stream) - timedelta(days=days))
        }
    config = config_for(sandbox, metrics_lookback_days=0)
    return saved, run("read", config, catalog([stream], incremental=True), state=stream_state(stream, saved))


def _killed_then_resumed(sandbox, stream: str, kill_after: int):
    config, configured = config_for(sandbox, **NO_LOOKBACK), catalog([stream], incremental=True)
    first = run("read", config, configured, kill_after_records=kill_after)
    log = RequestLog(sandbox)
    second = run("read", config, configured, state=first.final_states())
    return first, second, log


@pytest.fixture(scope="module")
def outcome():
    with ExitStack() as stack:
        enter = stack.enter_context
        boxes = SimpleNamespace(
            incremental=enter(new_sandbox(seed=61)),
            deleted=enter(new_sandbox(seed=62, quirks=Quirks(deleted_parents=1))),
            variants_updated=enter(new_sandbox(seed=63, quirks=Quirks(newsletter_contents_updated=True))),
            tz_ignored=enter(new_sandbox(seed=64, quirks=Quirks(metrics_tz_ignored=True))),
            newest_omitted=enter(new_sandbox(seed=65, quirks=Quirks(metrics_newest_days_omitted=2))),
            refused=enter(new_sandbox(seed=66, forbidden_paths=["/v1/campaigns/"])),
            gap=enter(new_sandbox(seed=67)),
            killed={
                s: enter(new_sandbox(seed=68 + i, counts=MANY))
                for i, s in enumerate(
                    ["campaign_actions", "campaign_metrics", "campaign_action_metrics", "segment_memberships"]
                )
            },
        )
        kill_after = {
            "campaign_actions": 35,
            "campaign_metrics": 6000,
            "campaign_action_metrics": 12000,
            "segment_memberships": 100,
        }
        calls = {
            "incremental": lambda: _incremental_twice(boxes.incremental),
            "deleted": lambda: run("read", config_for(boxes.deleted), catalog(FAN_OUT)),
            "variants_updated": lambda: _incremental_twice(boxes.variants_updated),
            "tz_ignored": lambda: run("read", config_for(boxes.tz_ignored), catalog(["campaign_metrics"])),
            "newest_omitted": lambda: run(
                "read", config_for(boxes.newest_omitted, **NO_LOOKBACK), catalog(["campaign_metrics"], True)
            ),
            "refused": lambda: run(
                "read", config_for(boxes.refused), catalog(["campaigns", *CAMPAIGN_SERIES])
            ),
            "gap": lambda: _gap(boxes.gap, "campaign_metrics", 10),
            **{
                f"killed:{s}": (lambda s=s: _killed_then_resumed(boxes.killed[s], s, kill_after[s]))
                for s in boxes.killed
            },
        }
        yield SimpleNamespace(boxes=boxes, **{k.replace(":", "_"): v for k, v in run_all(calls).items()})


# -- incremental ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", CURSOR_CHILDREN)
def test_a_second_incremental_read_returns_exactly_the_children_at_or_after_their_parents_cursor(
    outcome, stream
):
    sandbox = outcome.boxes.incremental
    first, changed, second = outcome.incremental
    assert first.exit_code == 0 and second.exit_code == 0, second.stdout[-2000:]
    assert_clean(second)
    saved = first.stream_state(stream)["parents"]
    cursors = child_cursors(sandbox, stream)
    expected = {
        key
        for key, (parent, updated) in cursors.items()
        if not isinstance(updated, int) or updated >= saved[parent]["updated"]
    }
    assert set(changed[stream]) <= expected
    got = second.keys_of(stream)
    assert len(got) == len(set(got))
    assert set(got) == expected
    if stream == "newsletter_variants":  # documented without `updated`: always read again, no cursor
        assert expected == set(cursors)
        # No cursor per parent: only the keys kept for deletions (test_child_deletions.py).
        assert all(set(entry) == {"keys"} for entry in second.stream_state(stream)["parents"].values())
        return
    assert len(expected) < len(cursors), f"{stream}: every child is newer than the state; nothing is tested"
    assert set(second.stream_state(stream)["parents"]) == {parent for parent, _ in cursors.values()}


@pytest.mark.parametrize("stream", METRICS)
def test_a_second_incremental_read_returns_the_last_day_with_the_counts_added_since(outcome, stream):
    sandbox = outcome.boxes.incremental
    first, changed, second = outcome.incremental
    day = yesterday(stream).isoformat()
    rows = {key_of(stream, r): r for r in second.records_of(stream)}
    assert rows and {r["day"] for r in rows.values()} == {day}
    assert set(changed[stream]) <= set(rows)
    assert set(rows) == {k for k in sandbox.truth(stream)["keys"] if k.endswith(day)}
    before = {key_of(stream, r): r for r in first.records_of(stream)}
    for key in changed[stream]:
        assert rows[key]["sent"] == before[key]["sent"] + 7, "the counts added after the first read"
    for record in rows.values():
        assert {k: record.get(k, 0) for k in sandbox_row(sandbox, stream, record)} == sandbox_row(
            sandbox, stream, record
        )
    for state in second.stream_state(stream)["parents"].values():
        assert state == {"day_start": day_start(stream, yesterday(stream))}


def test_a_read_after_a_gap_reads_every_day_since_the_saved_one(outcome):
    sandbox = outcome.boxes.gap
    saved, result = outcome.gap
    assert result.exit_code == 0, result.stdout[-2000:]
    first_day = yesterday("campaign_metrics") - timedelta(days=10)
    expected = {
        k
        for k in sandbox.truth("campaign_metrics")["keys"]
        if date.fromisoformat(k.split("|")[-1]) >= first_day
    }
    assert len(expected) == 11 * len(saved["parents"])  # the saved day again (no lookback), then ten more
    assert sorted(result.keys_of("campaign_metrics")) == sorted(expected)


def test_variants_that_carry_updated_are_read_incrementally(outcome):
    """The other reading of the documentation: newsletter contents with `updated`."""
    sandbox = outcome.boxes.variants_updated
    first, changed, second = outcome.variants_updated
    saved = first.stream_state("newsletter_variants")["parents"]
    cursors = child_cursors(sandbox, "newsletter_variants")
    assert all(isinstance(updated, int) for _, updated in cursors.values())
    expected = {key for key, (parent, updated) in cursors.items() if updated >= saved[parent]["updated"]}
    assert set(changed["newsletter_variants"]) <= expected
    assert set(second.keys_of("newsletter_variants")) == expected


# -- the API either way ------------------------------------------------------------------------------


def test_parents_deleted_mid_sync_are_skipped_and_the_rest_is_read_whole(outcome):
    sandbox, result = outcome.boxes.deleted, outcome.deleted
    assert result.exit_code == 0, result.stdout[-3000:]
    assert result.errors == []
    assert_clean(result)
    for stream in FAN_OUT:
        assert_complete(sandbox, result, stream)
        assert_valid_records(result, stream)
    # The first campaign is still listed, but none of its sub-resources were read.
    first_campaign = str(sandbox.world.tables["campaigns"].record(0)["id"])
    assert first_campaign not in {str(r["campaign_id"]) for r in result.records_of("campaign_actions")}
    assert not [w for w in result.logs("WARN") if "404" in w]


def test_a_time_zone_the_api_did_not_apply_stops_the_read_naming_what_it_saw(outcome):
    result = outcome.tz_ignored
    assert result.exit_code != 0
    assert result.records_of("campaign_metrics") == []
    assert_clean(result)
    messages = [e["message"] for e in result.errors]
    assert any(
        "Stream 'campaign_metrics'" in m and "daily entries for the" in m and "cannot be dated" in m
        for m in messages
    ), messages


def test_days_the_api_has_not_counted_yet_are_left_for_the_next_read(outcome):
    sandbox, result = outcome.boxes.newest_omitted, outcome.newest_omitted
    assert result.exit_code == 0, result.stdout[-2000:]
    newest = yesterday("campaign_metrics") - timedelta(days=2)
    expected = {
        k for k in sandbox.truth("campaign_metrics")["keys"] if date.fromisoformat(k.split("|")[-1]) <= newest
    }
    assert set(result.keys_of("campaign_metrics")) == expected
    for state in result.stream_state("campaign_metrics")["parents"].values():
        assert state == {"day_start": day_start("campaign_metrics", newest)}


def test_a_refused_sub_resource_skips_its_streams_and_reads_the_parents(outcome):
    sandbox, result = outcome.boxes.refused, outcome.refused
    assert result.exit_code == 0, result.stdout[-2000:]
    assert result.errors == []
    assert_complete(sandbox, result, "campaigns")
    for stream in CAMPAIGN_SERIES:
        assert result.records_of(stream) == []
        assert [w for w in result.logs("WARN") if f"Stream '{stream}' skipped" in w and "403" in w], stream


# -- interrupted ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stream", ["campaign_actions", "campaign_metrics", "campaign_action_metrics", "segment_memberships"]
)
def test_a_sync_killed_mid_fan_out_resumes_with_the_parents_left(outcome, stream):
    sandbox = outcome.boxes.killed[stream]
    first, second, log = getattr(outcome, f"killed_{stream}")
    assert first.exit_code != 0, "the first run was killed"
    assert second.exit_code == 0, second.stdout[-3000:]
    assert_clean(first)
    assert_clean(second)
    truth = set(sandbox.truth(stream)["keys"])
    got = set(first.keys_of(stream)) | set(second.keys_of(stream))
    assert truth - got == set(), f"lost {sorted(truth - got)[:5]}"
    assert got - truth == set()
    saved = first.stream_state(stream)
    assert saved is not None and saved.get("done"), (
        f"a STATE with the parents done came before the kill: {saved}"
    )
    done = set(saved["done"])
    parents = {key.split("|")[0] for key in truth}
    assert 0 < len(done) < len(parents)
    # The resumed run asks nothing of the parents already done, and reads again only the parents of the
    # group under way when the first run was killed (ten parents at the most).
    asked = {path.split("/")[3] for path in log.targets if path.count("/") >= 4}
    assert asked & done == set()
    again = set(first.keys_of(stream)) & set(second.keys_of(stream))
    assert {key.split("|")[0] for key in again} <= parents - done
    assert len({key.split("|")[0] for key in again}) <= 10
    repeated = [k for k, n in Counter(second.keys_of(stream)).items() if n > 1]
    assert repeated == []
