"""The scenarios, all measured in one run: unthrottled, then at the ceiling (see the package docstring)."""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from integration_tests.bench.children import run_children
from integration_tests.bench.commands import (
    DAY,
    connector_command,
    connector_config,
    deliveries_start,
    minimal_command,
)
from integration_tests.bench.deletions import (
    CAMPAIGNS,
    child_deletion_notes,
    deletion_notes,
    measure_child_deletions,
    measure_deletions,
)
from integration_tests.bench.machine import connector_version, machine
from integration_tests.bench.people_export import prepare_export_file, run_people_export
from integration_tests.bench.processes import SandboxProcess, measure
from integration_tests.bench.profiling import run_profile
from integration_tests.bench.report import derive
from integration_tests.bench.results import Report, Row
from integration_tests.bench.sizes import Sizes, ceiling_label
from integration_tests.bench.startup import check_row, spec_row

UNTHROTTLED = "unthrottled"
JSON_LABEL = {"stdlib": "json", "orjson": "orjson"}


def run_reader(
    sandbox: SandboxProcess,
    command: Sequence[str],
    row: Row,
    timeout: float,
) -> Row:
    sandbox.reset_stats()
    server_before = sandbox.cpu_seconds()
    done = measure(command, timeout)
    server_cpu = sandbox.cpu_seconds() - server_before
    stats = sandbox.stats()
    admitted = stats.get("admitted") or {}
    count, first, last = admitted.get("count", 0), admitted.get("first"), admitted.get("last")
    rps = (count - 1) / (last - first) if count >= 2 and first is not None and last > first else None
    return replace(
        row,
        records=done.records,
        wall=done.wall,
        requests=stats["total"],
        rps=rps,
        cpu=done.cpu,
        rss_mb=done.peak_rss_mb,
        served_429=stats["served_429"],
        server_cpu=server_cpu,
        exit_code=done.exit_code,
        max_in_one_second=stats.get("max_admitted_in_one_second"),
        first_record_seconds=done.first_record_seconds,
        ru_maxrss_mb=done.ru_maxrss_mb,
        errors=done.errors(),
        stderr_tail=done.stderr_tail if done.exit_code else "",
    )


def run_recent_deliveries(sizes: Sizes, step: Callable[[SandboxProcess, Sequence[str], Row], Row]) -> None:
    """`messages` at the ceiling when all deliveries to read lie in the last `recent_days` (9 months):
    two 6-month windows, so the parallelism must come from each window's sub-windows."""
    # The sandbox puts 65% of its deliveries in its last 170 days and the rest more than 530 days back
    # (integration_tests/sandbox/deliveries.py): this many in all puts recent_deliveries in the last 9 months.
    total = math.ceil(sizes.recent_deliveries / 0.65)
    with SandboxProcess(
        requests_per_second=sizes.ceiling_rps,
        latency_ms=sizes.ceiling_latency_ms,
        people=1_000,
        deliveries=total,
    ) as sandbox:
        total = sandbox.count("messages")
        start = (int(time.time()) - sizes.recent_days * DAY) // DAY * DAY
        config = connector_config(sandbox, sizes.ceiling_rps, start)
        with connector_command(config, "messages") as command:
            step(
                sandbox,
                command,
                Row(
                    "messages_recent",
                    ceiling_label(sizes),
                    f"connector, {sizes.recent_days} days of deliveries",
                    "messages",
                    expected=total - total * 35 // 100,
                    ceiling=sizes.ceiling_rps,
                ),
            )


def run_benchmark(sizes: Sizes, profile: bool = False, log: Any = None) -> Report:
    say = log or (lambda text: print(text, file=sys.stderr, flush=True))
    info = machine()
    rows: list[Row] = []
    timeout = sizes.timeout_seconds
    ceiling = ceiling_label(sizes)
    start_ts = deliveries_start()
    profile_text = ""

    def step(sandbox: SandboxProcess, command: Sequence[str], row: Row) -> Row:
        say(f"bench: {row.scenario}: {row.reader} {row.stream} ...")
        measured = run_reader(sandbox, command, row, timeout)
        rows.append(measured)
        rate = measured.records_per_second or 0
        say(f"bench:   {measured.records:,.0f} records in {measured.wall:.1f} s ({rate:,.0f}/s)")
        return measured

    say("bench: connector start-up (spec) ...")
    spec, startup = spec_row(timeout)
    rows.append(spec)

    with SandboxProcess(
        requests_per_second=0, latency_ms=0, people=sizes.people, deliveries=sizes.deliveries
    ) as sandbox:
        deliveries, people = sandbox.count("messages"), sandbox.count("customers")
        fast = sizes.unthrottled_connector_rps
        say("bench: unthrottled: connector check ...")
        rows.append(
            check_row(sandbox, connector_config(sandbox, fast, start_ts), "check", UNTHROTTLED, timeout)
        )
        for kind in ("stdlib", "orjson"):
            step(
                sandbox,
                minimal_command(sandbox.base_url, start_ts, kind),
                Row(
                    f"minimal_{kind}",
                    UNTHROTTLED,
                    f"minimal reader ({JSON_LABEL[kind]})",
                    "messages",
                    expected=deliveries,
                ),
            )
        with connector_command(connector_config(sandbox, fast, start_ts), "messages") as command:
            measured = step(
                sandbox, command, Row("messages", UNTHROTTLED, "connector", "messages", expected=deliveries)
            )
            if profile:
                say("bench: profiling the unthrottled messages read under py-spy ...")
                profile_text = run_profile(sandbox, command, measured, timeout)
        prepare_export_file(sandbox)  # written by the sandbox before the clock starts (people_export.py)
        config = connector_config(sandbox, fast, start_ts, customers_method="exports")
        with connector_command(config, "customers") as command:
            step(
                sandbox,
                command,
                Row("exports", UNTHROTTLED, "connector (exports)", "customers", expected=people),
            )
        sandbox.configure(requests_per_second=sizes.ceiling_rps, latency_ms=sizes.ceiling_latency_ms)
        config = connector_config(sandbox, sizes.ceiling_rps, start_ts, customers_method="exports")
        with connector_command(config, "customers") as command:
            step(
                sandbox,
                command,
                Row(
                    "exports_big_ceiling",
                    ceiling,
                    "connector (exports)",
                    "customers",
                    expected=people,
                    ceiling=sizes.ceiling_rps,
                ),
            )

    with SandboxProcess(
        requests_per_second=sizes.ceiling_rps,
        latency_ms=sizes.ceiling_latency_ms,
        people=sizes.throttled_people,
        deliveries=sizes.throttled_deliveries,
    ) as sandbox:
        few_people, few_deliveries = sandbox.count("customers"), sandbox.count("messages")
        rate = sizes.ceiling_rps
        say(f"bench: {ceiling}: connector check ...")
        config = connector_config(sandbox, rate, start_ts)
        rows.append(check_row(sandbox, config, "check_ceiling", ceiling, timeout))
        for method in ("search", "exports"):
            config = connector_config(sandbox, rate, start_ts, customers_method=method)
            with connector_command(config, "customers") as command:
                step(
                    sandbox,
                    command,
                    Row(
                        f"{method}_ceiling",
                        ceiling,
                        f"connector ({method})",
                        "customers",
                        expected=few_people,
                        ceiling=rate,
                    ),
                )
        # The target: one sync of customers (search) and messages, at the ceiling.
        config = connector_config(sandbox, rate, start_ts, customers_method="search")
        with connector_command(config, "customers+messages") as command:
            step(
                sandbox,
                command,
                Row(
                    "both_ceiling",
                    ceiling,
                    "connector (search)",
                    "customers+messages",
                    expected=few_people + few_deliveries,
                    ceiling=rate,
                ),
            )
        with connector_command(connector_config(sandbox, rate, start_ts), "messages") as command:
            step(
                sandbox,
                command,
                Row(
                    "messages_ceiling",
                    ceiling,
                    "connector",
                    "messages",
                    expected=few_deliveries,
                    ceiling=rate,
                ),
            )
        step(
            sandbox,
            minimal_command(sandbox.base_url, start_ts, "stdlib"),
            Row(
                "minimal_ceiling",
                ceiling,
                f"minimal reader ({JSON_LABEL['stdlib']})",
                "messages",
                expected=few_deliveries,
                ceiling=rate,
            ),
        )

    run_recent_deliveries(sizes, step)
    run_children(sizes, step, start_ts)
    people_export = run_people_export(sizes, say, timeout)
    report = Report(
        sizes,
        info,
        rows + people_export.rows,
        people_export.notes,
        people_export.targets,
        startup,
        profile_text,
    )
    derive(report, people)
    say("bench: deletions: the state of the largest deletable list, and a sync that finds some gone ...")
    report.notes.extend(deletion_notes(measure_deletions("large" if sizes.people >= 100_000 else "small")))
    say(f"bench: deletions: the state of campaign_actions under {CAMPAIGNS} campaigns, and a sync ...")
    report.notes.extend(child_deletion_notes(measure_child_deletions()))
    info["load average at end (1/5/15 min)"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    at_end = connector_version()
    if at_end != info["connector"]:
        info["connector at the end (the code changed during the run!)"] = at_end
    return report
