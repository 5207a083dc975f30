"""The benchmark's smoke path on tiny sizes: every row is there, measured and sane (no timing asserted).

The smoke run is marked `slow` (`-m "not slow"` leaves it out while iterating); `make test` and CI run it.
"""

from __future__ import annotations

import re

import pytest

from integration_tests import bench

THROTTLED_PEOPLE = 1000
COMMAND_ROWS = ("spec", "check", "check_ceiling")
TINY = [
    "--smoke",
    "--deliveries",
    "2000",
    "--people",
    "2000",
    "--throttled-people",
    str(THROTTLED_PEOPLE),
    "--throttled-deliveries",
    "2000",
]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "latest.md"
    args = bench.parse_args([*TINY, "--out", str(out)])
    sizes = bench.sizes_from(args)
    report = bench.run_benchmark(sizes, log=lambda text: None)
    text = bench.render(report)
    out.write_text(text)
    return report, text, out


def test_sizes_come_from_the_flags():
    sizes = bench.sizes_from(bench.parse_args(TINY))
    assert (sizes.deliveries, sizes.people, sizes.throttled_people, sizes.throttled_deliveries) == (
        2000,
        2000,
        THROTTLED_PEOPLE,
        2000,
    )
    assert bench.sizes_from(bench.parse_args([])) == bench.Sizes()


@pytest.mark.slow  # runs the benchmark at its smoke sizes
def test_every_row_is_present_in_order(smoke):
    report, _, _ = smoke
    assert [r.key for r in report.rows] == list(bench.ORDER)


@pytest.mark.slow  # runs the benchmark at its smoke sizes
def test_measured_rows_are_complete_and_sane(smoke):
    report, _, _ = smoke
    for row in report.rows:
        if row.computed:
            continue
        assert row.exit_code == 0, (row.key, row.errors, row.stderr_tail)
        if row.key in COMMAND_ROWS:  # spec and check: no records
            assert row.records is None and row.wall > 0 and row.cpu > 0 and 10 < row.rss_mb < 1000, row.key
            assert (row.requests or 0) >= (0 if row.key == "spec" else 20), row.key
            continue
        assert row.records == row.expected and row.records > 0, row.key
        assert row.wall > 0 and row.records_per_second > 0, row.key
        assert row.cpu > 0 and row.cpu_us_per_record > 0, row.key
        assert 10 < row.rss_mb < 1000, row.key
        assert row.requests >= 1 and row.served_429 >= 0 and row.server_cpu >= 0, row.key
        if row.ceiling:
            assert row.max_in_one_second is not None, row.key
    for key in ("messages", "messages_ceiling"):
        assert report.row(key).ratio > 0


@pytest.mark.slow  # runs the benchmark at its smoke sizes
def test_the_computed_search_row_is_marked_and_scaled(smoke):
    report, _, _ = smoke
    computed = report.row("search_big_computed")
    search = report.row("search_ceiling")
    assert computed.computed and computed.records == 2000
    # 2,000 people: 2 search pages of 1,000 and 20 hydrations of 100.
    assert computed.requests == 2 + 20
    assert computed.wall > 0 and computed.rps == search.rps
    assert computed.cpu is None and computed.rss_mb is None


@pytest.mark.slow  # runs the benchmark at its smoke sizes
def test_the_table_and_markdown_have_every_row(smoke):
    report, text, out = smoke
    assert out.read_text() == text
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    header, rows = lines[0], lines[1:]
    for column in bench.COLUMNS:
        assert column in header
    assert len(rows) == len(bench.ORDER)
    for line, row in zip(rows, report.rows, strict=True):
        assert row.reader in line and row.stream in line
        assert line.count("|") == len(bench.COLUMNS) + 1
    assert "≈" in next(line for line in rows if "computed" in line)
    assert "CPU: AMD" in text or re.search(r"- CPU: .+", text)
    assert "- cores: " in text and "- Python: " in text
    assert "Targets:" in text and "COMPUTED" in text


@pytest.mark.slow  # runs the benchmark at its smoke sizes
def test_targets_are_not_judged_below_their_sizes(smoke):
    report, _, _ = smoke
    judged = {name: met for name, _, met in report.targets}
    assert any(name.startswith("429s") for name in judged)
    assert judged[next(n for n in judged if n.startswith("unthrottled messages"))] is None
    assert judged[next(n for n in judged if n.startswith("every measured read"))] is True
    # The start-up targets hold at any size; the 9-month deliveries' only at 200,000.
    assert any(n.startswith("`spec`") for n in judged) and any(n.startswith("`check`") for n in judged)
    assert judged[next(n for n in judged if "deliveries of the last 270 days" in n)] is None


@pytest.mark.slow  # runs the benchmark at its smoke sizes
def test_the_computed_request_count_is_what_the_connector_sent(smoke):
    """The search row's requests are counted by the sandbox: the connector's real paging, against
    which the benchmark's formula for the computed row must hold."""
    report, _, _ = smoke
    search = report.row("search_ceiling")
    assert search.records == THROTTLED_PEOPLE
    assert search.requests == bench.search_requests(THROTTLED_PEOPLE)


@pytest.mark.slow  # runs the benchmark at its smoke sizes
def test_the_deletions_figures_are_reported(smoke):
    """The small sandbox's 120 newsletters at smoke sizes: the state size is a measured byte count, and
    the tombstones of the second read are exactly the newsletters deleted before it."""
    _, text, _ = smoke
    state = re.search(r"Deletions, state: .* of 120 newsletters .* takes ([\d,]+) bytes", text)
    assert state and 0 < int(state.group(1).replace(",", "")) < 841, "smaller than the ids as plain JSON"
    sync = re.search(r"Deletions, sync: (\d+) newsletters deleted .* emitted (\d+) tombstones \(exact", text)
    assert sync and sync.group(1) == sync.group(2) == "50"


@pytest.mark.slow  # runs the benchmark at its smoke sizes
def test_the_child_deletions_figures_are_reported(smoke):
    """Campaign actions under 200 campaigns: the state with keys is measured against the one without,
    and the second read's tombstones are exactly the actions gone (deleted, or under a deleted campaign)."""
    _, text, _ = smoke
    state = re.search(
        r"under 200 campaigns the stream state takes ([\d,]+) bytes .*, ([\d,]+) bytes without", text
    )
    assert state, text
    with_keys, without = (int(group.replace(",", "")) for group in state.groups())
    assert 0 < without < with_keys
    sync = re.search(
        r"\((\d+) actions gone\); the next read emitted (\d+) tombstones \(exactly the ones", text
    )
    assert sync and sync.group(1) == sync.group(2) and int(sync.group(1)) >= 20


def test_profile_categories_follow_the_innermost_known_frame():
    folded = "\n".join(
        [
            "thread (1): MainThread;<module> (a.py:1);_find_and_load (<frozen importlib._bootstrap>:1) 5",
            "run (x.py:1);AirbyteEntrypoint.read (airbyte_cdk/entrypoint.py:2);"
            "RecordNormalizer.__call__ (normalize.py:69) 3",
            "Prefetcher._run (prefetch.py:1);CustomerioStream.request (base.py:1);"
            "_decode_payload (source_customerio/http/error_table.py:95) 2",
            "run (x.py:1);_Entrypoint.read (source_customerio/cli.py:9);AirbyteEntrypoint.read "
            "(airbyte_cdk/entrypoint.py:2);render (source_customerio/records.py:70) 4",
        ]
    )
    by_category, by_function, total = bench.categorize(folded)
    assert total == 14
    assert by_category["render and write RECORD lines in batches"] == 4
    assert by_category["start-up: imports"] == 5
    assert by_category["normalize records to the schema"] == 3
    assert by_category["decode page JSON (orjson.loads, error table)"] == 2
    assert by_function["RecordNormalizer.__call__ (normalize.py)"] == 3
