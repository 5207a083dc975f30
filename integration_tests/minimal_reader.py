"""The smallest honest reader of `GET /v1/messages`: the benchmark's baseline for the connector.

A plain `requests` loop, one request at a time: the same 180-day `start_ts`/`end_ts` windows the
connector walks (both bounds inclusive, from `--start-ts` to now), `limit=1000`, following `next`
until it is empty, printing every delivery as an Airbyte RECORD line on stdout. No retries, no rate
limit, no type normalisation, no state: whatever the connector does beyond this is its overhead.

    python -m integration_tests.minimal_reader --base-url http://127.0.0.1:8089/v1 \
        --api-key test-key --start-ts 1700000000 [--json orjson]

`--json stdlib` (the default) decodes and encodes with the standard library, as a plain script
would; `--json orjson` uses orjson both ways, the fastest a Python reader can reasonably be.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import requests

WINDOW_SECONDS = 180 * 86_400
PAGE_SIZE = 1000


def windows(start: int, end: int) -> list[tuple[int, int]]:
    """The connector's tiling: [start, start + 180 days - 1], ... up to `end` (inclusive)."""
    spans = []
    while start <= end:
        spans.append((start, min(start + WINDOW_SECONDS - 1, end)))
        start += WINDOW_SECONDS
    return spans


def codecs(kind: str) -> tuple[Callable[[bytes], Any], Callable[[Any], str]]:
    if kind == "orjson":
        import orjson

        return orjson.loads, lambda value: orjson.dumps(value).decode()
    return json.loads, lambda value: json.dumps(value, separators=(",", ":"))


def read(base_url: str, api_key: str, start_ts: int, end_ts: int, json_kind: str = "stdlib") -> int:
    loads, dumps = codecs(json_kind)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api_key}"
    url = f"{base_url.rstrip('/')}/messages"
    write = sys.stdout.write
    count = 0
    for lo, hi in windows(start_ts, end_ts):
        params: dict[str, Any] = {"start_ts": lo, "end_ts": hi, "limit": PAGE_SIZE}
        while True:
            response = session.get(url, params=params, timeout=(10, 60))
            response.raise_for_status()
            page = loads(response.content)
            records = page.get("messages") or []
            for record in records:
                message = {
                    "type": "RECORD",
                    "record": {"stream": "messages", "data": record, "emitted_at": int(time.time() * 1000)},
                }
                write(dumps(message) + "\n")
            count += len(records)
            following = page.get("next")
            if not following or not records:
                break
            params = {"start_ts": lo, "end_ts": hi, "limit": PAGE_SIZE, "start": following}
    sys.stdout.flush()
    return count


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m integration_tests.minimal_reader", description=__doc__)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--start-ts", type=int, required=True, help="first second of the first window")
    parser.add_argument("--end-ts", type=int, default=None, help="last second (default: now)")
    parser.add_argument("--json", choices=("stdlib", "orjson"), default="stdlib", dest="json_kind")
    args = parser.parse_args(argv)
    end = args.end_ts if args.end_ts is not None else int(time.time())
    count = read(args.base_url, args.api_key, args.start_ts, end, args.json_kind)
    print(f"minimal reader: {count} records", file=sys.stderr)


if __name__ == "__main__":
    main()
