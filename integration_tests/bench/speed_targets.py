"""The targets of issue 12 (speed at Python's limit) that the rows of one run are judged against; the
people-export ones are in people_export.py."""

from __future__ import annotations

from integration_tests.bench.render import format_number
from integration_tests.bench.results import Report
from integration_tests.bench.sizes import Sizes

SPEED_TARGETS = {
    "spec_seconds": 0.8,
    "spec_rss_mb": 60.0,
    "check_seconds": 1.5,
    "orjson_ratio": 1.0,
    "recent_rps": 9.5,
    "deliveries_rss_mb": 154.0,
}


def speed_targets(report: Report) -> None:
    sizes, full, get, targets = report.sizes, Sizes(), report.row, report.targets

    def check(name: str, value: str, met: bool | None, at_scale: bool = True) -> None:
        targets.append((name, value, met if at_scale else None))

    spec = get("spec")
    if spec is not None and spec.wall is not None and spec.rss_mb is not None:
        check(
            f"`spec`: wall <= {SPEED_TARGETS['spec_seconds']:g} s and peak RSS <= "
            f"{SPEED_TARGETS['spec_rss_mb']:g} MB",
            f"{spec.wall:.2f} s, {spec.rss_mb:.0f} MB",
            spec.complete
            and spec.wall <= SPEED_TARGETS["spec_seconds"]
            and spec.rss_mb <= SPEED_TARGETS["spec_rss_mb"],
        )
    check_row = get("check")
    if check_row is not None and check_row.wall is not None:
        check(
            f"`check` against the unthrottled sandbox (requests_per_second 100): wall <= "
            f"{SPEED_TARGETS['check_seconds']:g} s",
            f"{check_row.wall:.2f} s, {check_row.requests or 0:,.0f} requests",
            check_row.complete and check_row.wall <= SPEED_TARGETS["check_seconds"],
        )
    messages, minimal = get("messages"), get("minimal_orjson")
    if messages is not None and minimal is not None:
        a, b = messages.records_per_second, minimal.records_per_second
        ratio = a / b if a and b else None
        check(
            f"unthrottled messages: connector / minimal reader (orjson), same run >= "
            f"{SPEED_TARGETS['orjson_ratio']:.1f}",
            format_number(ratio, 2),
            None if ratio is None else ratio >= SPEED_TARGETS["orjson_ratio"] and messages.complete,
            sizes.deliveries >= full.deliveries,
        )
    if messages is not None and messages.rss_mb is not None:
        check(
            f"peak RSS of {sizes.deliveries:,} unthrottled deliveries <= "
            f"{SPEED_TARGETS['deliveries_rss_mb']:g} MB",
            f"{messages.rss_mb:.0f} MB",
            messages.rss_mb <= SPEED_TARGETS["deliveries_rss_mb"],
            sizes.deliveries >= full.deliveries,
        )
    recent = get("messages_recent")
    if recent is not None:
        check(
            f"at the ceiling, {recent.records or 0:,.0f} deliveries of the last {sizes.recent_days} days: "
            f">= {SPEED_TARGETS['recent_rps']:g} req/s and no 429",
            f"{format_number(recent.rps, 2)} req/s, {recent.served_429} x 429",
            recent.rps is not None
            and recent.rps >= SPEED_TARGETS["recent_rps"]
            and recent.served_429 == 0
            and recent.complete,
            sizes.recent_deliveries >= full.recent_deliveries,
        )
