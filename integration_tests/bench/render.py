"""The report as text: the machine and the sizes, ONE table, the notes and the targets (also markdown)."""

from __future__ import annotations

from datetime import datetime, timezone

from integration_tests.bench.processes import ROOT
from integration_tests.bench.results import Report, Row
from integration_tests.bench.sizes import ceiling_label

# The markdown copy of the table (--out's default); --profile writes its folded stacks beside it.
RESULTS = ROOT / "bench-results" / "latest.md"
COLUMNS = (
    "scenario",
    "reader",
    "stream",
    "records",
    "wall s",
    "records/s",
    "requests",
    "requests/s (% of ceiling)",
    "CPU s",
    "CPU µs/record",
    "peak RSS MB",
    "429s",
    "sandbox CPU s",
    "vs minimal",
)


def format_number(value: float | None, digits: int = 0, thousands: bool = True) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}" if thousands else f"{value:.{digits}f}"


def _cells(row: Row) -> list[str]:
    mark = "≈ " if row.computed else ""
    records = format_number(row.records)
    if not row.computed and row.expected is not None and row.records != row.expected:
        records += f" (of {row.expected:,}!)"
    if row.exit_code:
        records += f" (exit {row.exit_code}!)"
    rps = format_number(row.rps, 2)
    if row.rps is not None and row.ceiling:
        rps += f" ({100 * row.rps / row.ceiling:.0f}%)"
    return [
        row.scenario,
        row.reader,
        row.stream,
        records,
        mark + format_number(row.wall, 1),
        mark + format_number(row.records_per_second),
        mark + format_number(row.requests),
        rps,
        format_number(row.cpu, 1),
        format_number(row.cpu_us_per_record, 1),
        format_number(row.rss_mb, 0),
        format_number(row.served_429),
        format_number(row.server_cpu, 1),
        format_number(row.ratio, 2),
    ]


def table(rows: list[Row]) -> str:
    cells = [list(COLUMNS), *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    numeric = set(range(3, len(COLUMNS)))

    def line(values: list[str]) -> str:
        padded = [
            v.rjust(w) if i in numeric else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(("-" * (w + 1) + ":") if i in numeric else ("-" * (w + 2)) for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(cells[0]), rule, *(line(c) for c in cells[1:])])


def render(report: Report) -> str:
    sizes = report.sizes
    out = [f"## Benchmark ({datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')})", ""]
    out += [f"- {name}: {value}" for name, value in report.machine.items()]
    out += [
        f"- sizes: {sizes.deliveries:,} deliveries and {sizes.people:,} people unthrottled; "
        f"{sizes.throttled_people:,} people and {sizes.throttled_deliveries:,} deliveries at the ceiling "
        f"({ceiling_label(sizes)}); the actions and metrics of {sizes.campaigns:,} campaigns at the ceiling",
        "- the sandbox runs in its own process on the same machine and competes for its cores; "
        "its CPU is not in the reader's CPU columns",
        "",
        table(report.rows),
        "",
        "Requests/s: API requests admitted by the sandbox over the span from the first to the last one. "
        "CPU: user + sys of the reader process (wait4). Peak RSS: the reader's VmHWM. "
        "≈ marks computed figures.",
        "",
    ]
    out += [f"- {note}" for note in report.notes]
    out += ["", "Targets:", ""]
    for name, value, met in report.targets:
        verdict = "not judged at these sizes" if met is None else ("met" if met else "MISSED")
        out.append(f"- {verdict}: {name} (got {value})")
    if report.profile:
        out += ["", report.profile]
    failures = [r for r in report.rows if r.exit_code and r.stderr_tail]
    for row in failures:
        out += ["", f"stderr of {row.reader} {row.stream} ({row.scenario}):", "```", row.stderr_tail, "```"]
    return "\n".join(out) + "\n"
