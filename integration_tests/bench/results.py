"""The results: a row of the table (one read, measured or computed) and the report that holds them."""

from __future__ import annotations

from dataclasses import dataclass, field

from integration_tests.bench.processes import Process
from integration_tests.bench.sizes import Sizes


@dataclass
class Row:
    key: str
    scenario: str
    reader: str
    stream: str
    records: float | None = None
    expected: int | None = None
    wall: float | None = None
    requests: float | None = None
    rps: float | None = None
    ceiling: float | None = None
    cpu: float | None = None
    rss_mb: float | None = None
    served_429: int | None = None
    server_cpu: float | None = None
    ratio: float | None = None
    computed: bool = False
    exit_code: int = 0
    max_in_one_second: int | None = None
    first_record_seconds: float | None = None
    ru_maxrss_mb: float | None = None
    errors: list[str] = field(default_factory=list)
    stderr_tail: str = ""

    @property
    def records_per_second(self) -> float | None:
        if self.records is None or not self.wall:
            return None
        return self.records / self.wall

    @property
    def cpu_us_per_record(self) -> float | None:
        if self.cpu is None or not self.records:
            return None
        return self.cpu * 1e6 / self.records

    @property
    def complete(self) -> bool:
        return self.exit_code == 0 and (self.expected is None or self.records == self.expected)


@dataclass
class Report:
    sizes: Sizes
    machine: dict[str, str]
    rows: list[Row]
    notes: list[str]
    targets: list[tuple[str, str, bool | None]]
    startup: Process | None = None
    profile: str = ""

    def row(self, key: str) -> Row | None:
        return next((r for r in self.rows if r.key == key), None)
