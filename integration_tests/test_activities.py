"""Activities, incremental on `timestamp`: the order of the list is not documented, so the whole list is
read and filtered (an activity added at the end of the list is found), and a saved cursor older than
the 30 days Customer.io keeps is named in a warning."""

from __future__ import annotations

import math
import time

from integration_tests.connector import catalog
from integration_tests.scenarios import (
    assert_clean,
    config_for,
    new_sandbox,
    run,
    run_all,
    stream_state,
)

ACTIVITIES = catalog(["activities"], incremental=True)
DAY = 86_400


def _added_after_a_read():
    with new_sandbox(seed=81) as sandbox:
        config = config_for(sandbox, lookback_window_minutes=0)
        first = run("read", config, ACTIVITIES)
        added = sandbox.mutate("activities", "insert", 2)["keys"]
        second = run("read", config, ACTIVITIES, state=first.final_states())
        pages = sandbox.stats()["by_endpoint"]["GET /v1/activities"]
        return (
            first,
            added,
            second,
            pages,
            sandbox.truth("activities")["count"],
            sandbox.app.api.page_size_cap,
        )


def _state_older_than_30_days():
    with new_sandbox(seed=82) as sandbox:
        saved = int(time.time()) - 40 * DAY
        result = run(
            "read", config_for(sandbox), ACTIVITIES, state=stream_state("activities", {"timestamp": saved})
        )
        return result, sandbox.truth("activities")["keys"]


def test_activities_added_at_the_end_of_the_list_are_read_and_nothing_older_again():
    outcome = run_all({"added": _added_after_a_read, "old": _state_older_than_30_days})
    first, added, second, pages, count, page = outcome["added"]
    assert first.exit_code == 0 and second.exit_code == 0, second.stdout[-2000:]
    assert_clean(second)
    # The new activities sit on the last page (the listing is newest first, then the additions).
    got = second.keys_of("activities")
    assert set(added) <= set(got)
    newest_before = first.stream_state("activities")["timestamp"]
    assert all(r["timestamp"] >= newest_before for r in second.records_of("activities"))
    # Every page of both reads was asked: no read stopped at the first page of old activities.
    assert pages == math.ceil((count - len(added)) / page) + math.ceil(count / page)
    assert second.stream_state("activities")["timestamp"] >= newest_before

    result, truth = outcome["old"]
    assert result.exit_code == 0, result.stdout[-2000:]
    assert sorted(result.keys_of("activities")) == sorted(truth)
    warned = [w for w in result.logs("WARN") if "Stream 'activities'" in w and "only the last 30 days" in w]
    assert warned, result.logs("WARN")
