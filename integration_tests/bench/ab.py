"""A/B of the people export: this checkout against an earlier commit, run alternately on one sandbox.

    python -m integration_tests.bench.ab --base 75525aa [--rounds 3] [--people 1000000] [--typed]

The machine is shared and its speed drifts by tens of percent within minutes, so one run of `make bench`
can put a figure on either side of a target. Here both versions read the same prepared export file
(1,000,000 people, cio_id column, 10 req/s + 150 ms) one after the other, round after round, and the
ratio of their CPU per person is the figure to compare; `--typed` reads with the typed attribute columns
discover finds (the catalog `make bench` uses for its typed row). The base runs from a temporary
`git worktree` with this checkout's virtualenv.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

from integration_tests.bench.commands import (
    connector_command,
    connector_config,
    deliveries_start,
    discovered_schemas,
)
from integration_tests.bench.people_export import prepare_export_file
from integration_tests.bench.processes import ROOT, SandboxProcess
from integration_tests.bench.results import Row
from integration_tests.bench.scenarios import run_reader


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m integration_tests.bench.ab", description=__doc__.split("\n")[0]
    )
    p.add_argument("--base", required=True, help="the commit to compare with (any git revision)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--people", type=int, default=1_000_000)
    p.add_argument("--typed", action="store_true", help="with discover's typed attribute columns")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
        base = Path(tmp) / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(base), args.base], cwd=ROOT, check=True
        )
        try:
            checkouts = {f"base {args.base}": base, "this checkout": ROOT}
            cpu = compare(checkouts, args.rounds, args.people, args.typed)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=False)
    (base_name, base_runs), (_, this_runs) = cpu.items()
    for name, runs in cpu.items():
        listed = ", ".join(f"{r:.2f}" for r in runs)
        print(f"{name}: µs/person {listed}; median {statistics.median(runs):.2f}")
    ratios = [b / t for b, t in zip(base_runs, this_runs, strict=True)]
    print(
        f"{base_name} / this checkout, CPU per person, round by round: "
        f"{', '.join(f'{r:.2f}' for r in ratios)}; median {statistics.median(ratios):.2f}"
    )


def compare(checkouts: dict[str, Path], rounds: int, people: int, typed: bool) -> dict[str, list[float]]:
    cpu: dict[str, list[float]] = {name: [] for name in checkouts}
    with SandboxProcess(
        requests_per_second=10, latency_ms=150, people=people, deliveries=10, export_ready_after_polls=1
    ) as sandbox:
        expected = sandbox.count("customers")
        config = connector_config(sandbox, 10, deliveries_start(), customers_method="exports")
        schemas = {"customers": discovered_schemas(config)["customers"]} if typed else None
        prepare_export_file(sandbox)
        for round_number in range(1, rounds + 1):
            for name, folder in checkouts.items():
                prefix = ["env", "-C", str(folder)]
                with connector_command(config, "customers", prefix, schemas) as command:
                    row = run_reader(
                        sandbox,
                        command,
                        Row(name, "ab", name, "customers", expected=expected, ceiling=10),
                        900,
                    )
                if not row.complete:
                    raise SystemExit(f"{name}: the read was not exact (exit {row.exit_code}): {row.errors}")
                per_person = row.cpu_us_per_record or 0.0
                cpu[name].append(per_person)
                wall = row.wall or 0.0
                print(f"round {round_number}, {name}: {wall:.1f} s, {per_person:.2f} µs/person", flush=True)
    return cpu


if __name__ == "__main__":
    main()
