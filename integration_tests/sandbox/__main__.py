"""`python -m integration_tests.sandbox`: serve a sandbox until Ctrl-C (for demos and manual runs)."""

from __future__ import annotations

import argparse
import sys
import threading

from .data import SIZES
from .faults import Faults
from .server import SANDBOX_API_KEY, Sandbox

PROBABILITIES = ("error_500", "error_502", "connection_reset", "truncated_json", "html_error", "slow")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m integration_tests.sandbox", description=__doc__)
    p.add_argument("--port", type=int, default=8089)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--size", choices=sorted(SIZES), default="tiny")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--api-key", default=SANDBOX_API_KEY)
    p.add_argument("--rps", type=float, default=10.0, help="requests per second per key; 0 = unlimited")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--people", type=int, default=None)
    p.add_argument("--deliveries", type=int, default=None)
    p.add_argument("--page-size-cap", type=int, default=None, help="lower every page cap (0 = none)")
    p.add_argument("--forbidden", action="append", default=[], help="path prefix answered with 403")
    for name in PROBABILITIES:
        p.add_argument(f"--{name.replace('_', '-')}", type=float, default=0.0, metavar="P")
    p.add_argument("--slow-seconds", type=float, default=30.0)
    p.add_argument("--burst-429", type=int, default=0)
    p.add_argument("--retry-after-missing", type=float, default=0.0, metavar="P")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    faults = Faults(
        **{name: getattr(args, name) for name in PROBABILITIES},
        slow_seconds=args.slow_seconds,
        burst_429=args.burst_429,
        retry_after_missing=args.retry_after_missing,
    )
    sandbox = Sandbox(
        seed=args.seed,
        size=args.size,
        api_key=args.api_key,
        requests_per_second=args.rps,
        latency_ms=args.latency_ms,
        faults=faults,
        people=args.people,
        deliveries=args.deliveries,
        page_size_cap=args.page_size_cap,
        port=args.port,
        host=args.host,
        forbidden_paths=args.forbidden,
    )
    sandbox.start()
    # stdout carries only the base_url, so scripts can read it with one readline().
    print(sandbox.base_url, flush=True)
    print(
        f"api_key={args.api_key} admin={sandbox.url}/_admin/stats (Ctrl-C to stop)",
        file=sys.stderr,
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
