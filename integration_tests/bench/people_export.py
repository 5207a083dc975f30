"""People by customer export at the ceiling (10 req/s + 150 ms): `--people` people (1,000,000) read with
`customers_method: exports`, once from a file with a `cio_id` column, once more with the typed attribute
columns of a discover (the catalog's `customers` schema), and once from a file without a `cio_id` column (the
connector then joins the file to an identifiers-only search), and the connector's parse + shape cost on its
own, in this process, with no HTTP and no Airbyte message around it, with and without typed columns.

The sandbox writes each export file once, on disk, while the export is pending; here it is written before
the clock starts (`/_admin/prepare_export`), since writing a million rows is the server's work (~30 s of
sandbox CPU), not the connector's. The table's notes say how long that took.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from integration_tests.bench.commands import (
    connector_command,
    connector_config,
    deliveries_start,
    discovered_schemas,
)
from integration_tests.bench.processes import API_KEY, SandboxProcess
from integration_tests.bench.results import Row
from integration_tests.bench.sizes import Sizes, ceiling_label
from source_customerio.records import BATCH_ROWS
from source_customerio.streams.attribute_columns import AttributeColumns
from source_customerio.streams.export_file import decompress_if_gzip, read_layout, survey
from source_customerio.streams.export_rows import PersonRows
from source_customerio.streams.people_filter import EVERYONE

TARGETS = {"wall_with_cio_id": 15.0, "cpu_us_per_person": 10.0, "rss_mb": 88.0, "wall_without_cio_id": 180.0}


@dataclass
class PeopleExportResults:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    targets: list[tuple[str, str, bool | None]] = field(default_factory=list)


def run_people_export(sizes: Sizes, say: Callable[[str], None], timeout: float) -> PeopleExportResults:
    from integration_tests.bench.scenarios import run_reader

    out = PeopleExportResults()
    ceiling = ceiling_label(sizes)
    full = sizes.people >= Sizes().people
    with SandboxProcess(
        requests_per_second=sizes.ceiling_rps,
        latency_ms=sizes.ceiling_latency_ms,
        people=sizes.people,
        deliveries=10,
        export_ready_after_polls=1,
    ) as sandbox:
        people = sandbox.count("customers")
        config = connector_config(sandbox, sizes.ceiling_rps, deliveries_start(), customers_method="exports")
        say("bench: discover (its typed attribute columns, for the typed read) ...")
        typed_schema = discovered_schemas(config)["customers"]
        columns = AttributeColumns.from_schema(typed_schema)
        for key, column, quirks, schemas in (
            ("people_export_cio_id", "cio_id column", {}, None),
            ("people_export_typed", "cio_id column, typed columns", {}, {"customers": typed_schema}),
            ("people_export_no_cio_id", "no cio_id column", {"export_cio_id_column": False}, None),
        ):
            if quirks:
                sandbox.configure(**quirks)
            say(f"bench: preparing the export file ({column}) in the sandbox (not timed) ...")
            prepared = prepare_export_file(sandbox)
            if schemas is None:
                out.notes.append(
                    f"Export file ({column}): {prepared['rows']:,} rows, {prepared['bytes'] / 1e6:.0f} MB, "
                    f"written by the sandbox before the clock started in {prepared['write_seconds']:.1f} s."
                )
            say(f"bench: {ceiling}: connector (exports, {column}) customers ...")
            with connector_command(config, "customers", schemas=schemas) as command:
                row = run_reader(
                    sandbox,
                    command,
                    Row(
                        key,
                        ceiling,
                        f"connector (exports, {column})",
                        "customers",
                        expected=people,
                        ceiling=sizes.ceiling_rps,
                    ),
                    timeout,
                )
            out.rows.append(row)
            say(f"bench:   {row.records:,.0f} records in {row.wall:.1f} s")
        say("bench: parse + shape of the export file on its own (in this process) ...")
        sandbox.configure(export_cio_id_column=True)
        parse, parse_typed = _parse_and_shape(sandbox, columns)

    with_id, typed, without_id = out.rows
    checks = (
        (
            f"{people:,} people by export at {ceiling}, cio_id column: wall",
            with_id.wall,
            "wall_with_cio_id",
            "s",
        ),
        ("... connector CPU per person", with_id.cpu_us_per_record, "cpu_us_per_person", "µs"),
        ("... peak RSS", with_id.rss_mb, "rss_mb", "MB"),
        (
            f"{people:,} people by export at {ceiling}, no cio_id column: wall",
            without_id.wall,
            "wall_without_cio_id",
            "s",
        ),
    )
    for name, value, target, unit in checks:
        if value is not None:
            row = without_id if target == "wall_without_cio_id" else with_id
            met = row.complete and value <= TARGETS[target]
            out.targets.append(
                (f"{name} <= {TARGETS[target]:g} {unit}", f"{value:.1f} {unit}", met if full else None)
            )
    if with_id.cpu_us_per_record:
        out.notes.append(
            f"Parse + shape on its own (in this process, no HTTP, no Airbyte message): {parse.records:,} "
            f"people in {parse.cpu:.2f} s of CPU = {parse.per_person:.1f} µs per person (survey pass "
            f"{parse.survey_per_person:.1f} µs, record pass {parse.record_per_person:.1f} µs, records made "
            "as the JSON text the connector writes), "
            f"of the connector's {with_id.cpu_us_per_record:.1f} µs per person with a cio_id column; the "
            "rest is start-up, HTTP, the download and the Airbyte message path (record to stdout)."
        )
    if with_id.cpu_us_per_record and typed.cpu_us_per_record:
        added = typed.cpu_us_per_record - with_id.cpu_us_per_record
        alone, plain = parse_typed.record_per_person, parse.record_per_person
        out.notes.append(
            f"Typed attribute columns ({len(columns)} columns from discover's sample of the same people): "
            f"{typed.cpu_us_per_record:.1f} µs of connector CPU per person against "
            f"{with_id.cpu_us_per_record:.1f} µs without, {added:+.1f} µs; on its own (in this process) the "
            f"record pass takes {alone:.1f} µs per person against {plain:.1f} µs, {alone - plain:+.1f} µs"
            " for the columns (the rest of the difference is serialising the larger records)."
        )
    return out


def prepare_export_file(sandbox: SandboxProcess) -> dict[str, Any]:
    """Have the sandbox write the file of an export of everyone now (the server's work, not timed)."""
    answer = requests.post(f"{sandbox.url}/_admin/prepare_export", json={"filters": EVERYONE}, timeout=3600)
    answer.raise_for_status()
    return dict(answer.json())


def _download(sandbox: SandboxProcess, target: Path) -> None:
    """The prepared export file, through the API as the connector gets it (an export of the same people)."""
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {API_KEY}"
    export = s.post(f"{sandbox.base_url}/exports/customers", json={"filters": EVERYONE}).json()["export"]
    while s.get(f"{sandbox.base_url}/exports/{export['id']}").json()["export"]["status"] != "done":
        time.sleep(0.2)
    link = s.get(f"{sandbox.base_url}/exports/{export['id']}/download").json()
    with requests.get(link.get("url") or link["link"], stream=True) as response, open(target, "wb") as out:
        for chunk in response.iter_content(1 << 20):
            out.write(chunk)


@dataclass
class ParseCost:
    records: int
    cpu: float
    survey_cpu: float

    @property
    def per_person(self) -> float:
        return self.cpu * 1e6 / max(self.records, 1)

    @property
    def survey_per_person(self) -> float:
        return self.survey_cpu * 1e6 / max(self.records, 1)

    @property
    def record_per_person(self) -> float:
        return self.per_person - self.survey_per_person


def _parse_and_shape(sandbox: SandboxProcess, columns: AttributeColumns) -> tuple[ParseCost, ParseCost]:
    """The connector's two passes over a downloaded export file, timed on this process's CPU clock;
    then the same with typed attribute columns."""
    with tempfile.TemporaryDirectory(prefix="bench-people-") as tmp:
        path = Path(tmp) / "export.csv"
        _download(sandbox, path)
        decompress_if_gzip(path)
        costs = []
        for typed in (None, columns):
            started = time.process_time()
            layout = read_layout(path)
            assert layout is not None
            survey(path, layout)
            survey_cpu = time.process_time() - started
            rows = PersonRows(path, layout, {}, typed)
            count = 0
            while True:  # as the connector reads them: records as JSON text, a batch at a time
                before = rows.position
                count += len(rows.take_json(BATCH_ROWS))
                if rows.position - before < BATCH_ROWS:
                    break
            rows.close()
            costs.append(ParseCost(count, time.process_time() - started, survey_cpu))
        return costs[0], costs[1]
