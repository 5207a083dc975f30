"""The command line: sizes from the flags, the run, the table on stdout and in markdown.

Also the sandbox's own process (`--serve-sandbox`, see processes.py), which is this command line again.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from integration_tests.bench.processes import serve_sandbox
from integration_tests.bench.render import RESULTS, render
from integration_tests.bench.scenarios import run_benchmark
from integration_tests.bench.sizes import SMOKE, Sizes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    # The package's docstring describes the benchmark; imported here, as the package imports this module.
    from integration_tests import bench

    description = bench.__doc__.split("\n")[0]
    p = argparse.ArgumentParser(prog="python -m integration_tests.bench", description=description)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, under ~30 s (CI)")
    p.add_argument("--deliveries", type=int, help="unthrottled deliveries (default 1,000,000)")
    p.add_argument("--people", type=int, help="people read by export (default 1,000,000)")
    p.add_argument("--throttled-people", type=int, help="people read by search and export at the ceiling")
    p.add_argument("--throttled-deliveries", type=int, help="deliveries read at the ceiling")
    p.add_argument("--campaigns", type=int, help="campaigns whose actions and metrics are read (default 200)")
    p.add_argument(
        "--profile", action="store_true", help="also profile the unthrottled messages read (py-spy)"
    )
    p.add_argument("--out", type=Path, default=RESULTS, help="markdown copy of the results")
    p.add_argument("--serve-sandbox", metavar="JSON", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def sizes_from(args: argparse.Namespace) -> Sizes:
    sizes = SMOKE if args.smoke else Sizes()
    overrides = {
        name: getattr(args, name)
        for name in ("deliveries", "people", "throttled_people", "throttled_deliveries", "campaigns")
        if getattr(args, name) is not None
    }
    return replace(sizes, **overrides)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.serve_sandbox:
        serve_sandbox(json.loads(args.serve_sandbox))
        return
    report = run_benchmark(sizes_from(args), profile=args.profile)
    text = render(report)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"(written to {args.out})", file=sys.stderr)
