"""What the measured rows add up to: ratios, the computed search row, notes, and the targets."""

from __future__ import annotations

import math

from integration_tests.bench import children
from integration_tests.bench.render import format_number
from integration_tests.bench.results import Report, Row
from integration_tests.bench.sizes import HYDRATE_BATCH, TARGETS, Sizes, search_requests
from integration_tests.bench.speed_targets import speed_targets

# Table order: unthrottled reads, then the ceiling's customers (search vs export, small then large),
# then the ceiling's messages.
ORDER = (
    "spec",
    "check",
    "minimal_stdlib",
    "minimal_orjson",
    "messages",
    "exports",
    "search_ceiling",
    "exports_ceiling",
    "search_big_computed",
    "exports_big_ceiling",
    "people_export_cio_id",
    "people_export_typed",
    "people_export_no_cio_id",
    "check_ceiling",
    "messages_ceiling",
    "messages_recent",
    "minimal_ceiling",
    "both_ceiling",
    *children.ORDER,
)


def window_margin() -> float | None:
    """The request budget's margin: at most `rate` requests leave in any 1 s + this many seconds."""
    from source_customerio.http import budget

    margin = getattr(budget, "WINDOW_MARGIN_SECONDS", None)
    return float(margin) if isinstance(margin, (int, float)) else None


def derive(report: Report, people: int) -> None:
    """Ratios, the computed search row, notes and the targets."""
    rows, notes, targets = report.rows, report.notes, report.targets
    sizes = report.sizes
    get = report.row

    def ratio(connector: Row | None, baseline: Row | None) -> float | None:
        if connector is None or baseline is None:
            return None
        a, b = connector.records_per_second, baseline.records_per_second
        return a / b if a and b else None

    messages, minimal, minimal_orjson = get("messages"), get("minimal_stdlib"), get("minimal_orjson")
    if messages is not None:
        messages.ratio = ratio(messages, minimal)
    messages_ceiling = get("messages_ceiling")
    if messages_ceiling is not None:
        messages_ceiling.ratio = ratio(messages_ceiling, get("minimal_ceiling"))

    search, exports_few, exports_big = (
        get("search_ceiling"),
        get("exports_ceiling"),
        get("exports_big_ceiling"),
    )
    computed: Row | None = None
    search_fixed = 0.0
    if search is not None and search.rps and search.wall and search.requests:
        # Fixed costs (start-up, the first answer, the tail) are what the wall time has beyond the
        # request span; the span scales with the number of requests at the measured rate.
        span = (search.requests - 1) / search.rps
        search_fixed = max(search.wall - span, 0.0)
        requests = search_requests(people)
        wall = search_fixed + (requests - 1) / search.rps
        computed = Row(
            "search_big_computed",
            search.scenario,
            "connector (search), computed",
            "customers",
            records=people,
            expected=people,
            wall=wall,
            requests=requests,
            rps=search.rps,
            ceiling=search.ceiling,
            computed=True,
        )
        rows.append(computed)
    rows.sort(key=lambda r: ORDER.index(r.key) if r.key in ORDER else len(ORDER))

    startup = report.startup
    if startup is not None:
        notes.append(
            f"Connector start-up alone (`spec`: imports, no request) takes {startup.wall:.2f} s wall, "
            f"{startup.cpu:.2f} s CPU and {startup.peak_rss_mb:.0f} MB; every connector row includes it."
        )
    if messages is not None and minimal_orjson is not None:
        orjson_ratio = ratio(messages, minimal_orjson)
        if orjson_ratio:
            notes.append(
                f"Against the orjson minimal reader the connector's `messages` ratio is {orjson_ratio:.2f} "
                f"(the table's ratio is against the stdlib-json one, a plain `requests` loop)."
            )
    if computed is not None and search is not None and search.rps:
        notes.append(
            f"COMPUTED row: `customers` by search for {people:,} people = {computed.requests:,.0f} requests "
            f"({search_requests(people) - math.ceil(people / HYDRATE_BATCH):,} search + "
            f"{math.ceil(people / HYDRATE_BATCH):,} hydrate) at the rate measured for {search.records:,.0f} "
            f"people ({search.rps:.2f} req/s), plus that read's fixed cost "
            f"({search_fixed:.1f} s). Every other row is measured."
        )
    throttled = [r for r in rows if r.ceiling and not r.computed]
    if throttled:
        busiest = max(r.max_in_one_second or 0 for r in throttled)
        text = (
            f"At the ceiling the sandbox admitted at most {busiest} requests in any one second "
            f"(limit {sizes.ceiling_rps:g})."
        )
        margin = window_margin()
        if margin:
            best = sizes.ceiling_rps / (1 + margin)
            text += (
                f" The connector's budget lets at most {sizes.ceiling_rps:g} requests leave in any "
                f"{1 + margin:g} s, so its best sustained rate is {best:.2f} req/s "
                f"({100 * best / sizes.ceiling_rps:.1f}% of the ceiling)."
            )
        notes.append(text)
    for row in rows:
        if not row.computed and not row.complete:
            problem = f"exit code {row.exit_code}" if row.exit_code else ""
            if row.expected is not None and row.records != row.expected:
                problem += f"{'; ' if problem else ''}{row.records:,.0f} records of {row.expected:,}"
            notes.append(
                f"FAILED: {row.scenario} {row.reader} {row.stream}: {problem}. {' '.join(row.errors)}"
            )

    full = Sizes()

    def check(name: str, value: str, met: bool | None, at_scale: bool = True) -> None:
        """A target; judged only at (or above) the sizes it is defined for."""
        targets.append((name, value, met if at_scale else None))

    if messages is not None:
        check(
            f"unthrottled messages: connector / minimal reader >= {TARGETS['ratio']:.2f}",
            format_number(messages.ratio, 2),
            None if messages.ratio is None else messages.ratio >= TARGETS["ratio"],
            sizes.deliveries >= full.deliveries,
        )
    exports = get("exports")
    if exports is not None and exports.wall is not None:
        check(
            f"customers, {people:,} people by export, unthrottled: under {TARGETS['exports_seconds']:.0f} s",
            f"{exports.wall:.1f} s",
            exports.wall < TARGETS["exports_seconds"] and exports.complete,
            sizes.people >= full.people,
        )
    for unthrottled in (messages, exports):
        if unthrottled is not None and unthrottled.rss_mb is not None:
            check(
                f"peak RSS of unthrottled {unthrottled.stream} ({unthrottled.reader}) "
                f"< {TARGETS['rss_mb']:.0f} MB",
                f"{unthrottled.rss_mb:.0f} MB",
                unthrottled.rss_mb < TARGETS["rss_mb"],
                min(sizes.people, sizes.deliveries) >= full.people,
            )
    full_ceiling = (
        sizes.throttled_people >= full.throttled_people
        and sizes.throttled_deliveries >= full.throttled_deliveries // 2
    )
    ceiling_sizes = {key: full_ceiling for key in ("both_ceiling", "search_ceiling", "messages_ceiling")}
    ceiling_sizes.update(dict.fromkeys(children.ORDER, sizes.campaigns >= 150))
    for key, at_scale in ceiling_sizes.items():
        at_ceiling = get(key)
        if at_ceiling is not None:
            check(
                f"at the ceiling, {at_ceiling.stream} ({at_ceiling.reader}): sustained >= "
                f"{TARGETS['rps']} req/s",
                f"{format_number(at_ceiling.rps, 2)} req/s",
                None if at_ceiling.rps is None else at_ceiling.rps >= TARGETS["rps"],
                at_scale,
            )
    connector_throttled = [r for r in throttled if r.reader.startswith("connector")]
    if connector_throttled:
        total_429 = sum(r.served_429 or 0 for r in connector_throttled)
        check("429s served to the connector at the ceiling: 0", str(total_429), total_429 == 0)
    if search is not None and exports_few is not None and search.wall and exports_few.wall:
        measured = search.wall / exports_few.wall
        notes.append(
            f"Exports vs search at the ceiling, {search.records:,.0f} people, both MEASURED: "
            f"{search.wall:.1f} s vs {exports_few.wall:.1f} s = {measured:.1f}x."
        )
    if computed is not None and exports_big is not None and exports_big.wall and computed.wall:
        speedup = computed.wall / exports_big.wall
        notes.append(
            f"Exports vs search at the ceiling, {people:,} people: search {computed.wall:,.0f} s (COMPUTED) "
            f"vs export {exports_big.wall:.1f} s (MEASURED) = {speedup:.1f}x."
        )
        check(
            f"exports vs search at the ceiling, {people:,} people: >= {TARGETS['speedup']:.0f}x",
            f"{speedup:.1f}x (search computed)",
            speedup >= TARGETS["speedup"] and exports_big.complete,
            sizes.people >= full.people,
        )
    speed_targets(report)
    check(
        "every measured read returned exactly the sandbox's records, exit code 0",
        f"{sum(r.complete for r in rows if not r.computed)}/{sum(not r.computed for r in rows)}",
        all(r.complete for r in rows if not r.computed),
    )
