"""The benchmark: `python -m integration_tests.bench [--smoke] [--profile]` (`make bench`, `bench-smoke`).

Prints the machine, then ONE table, and writes the same as markdown to `bench-results/latest.md`.

Scenarios, all measured in one run (sizes are flags; `--smoke` makes them tiny, for CI):

1. Unthrottled: the sandbox admits everything with no added latency; the connector runs with
   `requests_per_second: 100` (the most the config allows).
   - `messages`, N deliveries (`--deliveries`, default 1,000,000), by the connector and by the minimal
     reader (`integration_tests/minimal_reader.py`: a plain `requests` loop over the same 180-day
     windows, `limit=1000`, printing RECORD lines), with the standard library's json and with orjson.
     "vs minimal" = connector records/s / minimal (stdlib json) records/s.
   - `customers` through a customer export (`customers_method: exports`), `--people` (1,000,000).
2. At the ceiling: the sandbox admits 10 requests in any sliding second and answers after 150 ms;
   the connector runs with `requests_per_second: 10`.
   - `customers` by search and hydrate (`--throttled-people`, 20,000: 20 search + 200 hydrate requests),
     then by export on the same people;
   - `messages` (`--throttled-deliveries`, 100,000), and the minimal reader on them for reference;
   - `customers` by export on the `--people` of scenario 1;
   - `campaign_actions`, then `campaign_metrics` + `campaign_action_metrics` in one sync, over
     `--campaigns` campaigns (200): the fan-out over parents (integration_tests/bench/children.py);
   - `customers` by search on `--people` is COMPUTED, not measured (a million people by search is
     11,000 requests, ~19 minutes at 10 req/s): the measured search's request rate and fixed costs,
     applied to the number of requests the connector's paging makes for that many people.

How things are measured:
- Every reader runs as users run it: `python -m source_customerio read ...` in a subprocess (with
  PYTHONUNBUFFERED=1, as in the image), stdout through a pipe that is drained here in 1 MiB reads
  (RECORD lines counted, other messages kept), stderr to a file.
- Wall seconds: from spawn to exit. CPU seconds: user + sys of the reader process and all its threads,
  from the kernel's accounting at exit (wait4 rusage). Peak RSS: the reader's VmHWM (kernel high-water
  mark of resident memory), read from /proc every 50 ms; wait4's ru_maxrss is kept as a cross-check.
- The sandbox runs in its own process (this package with --serve-sandbox), so its CPU is never counted as
  the reader's; its CPU seconds per scenario are shown apart ("sandbox CPU s"). The machine has few
  cores: the sandbox competes with the reader for them, as the Customer.io API would not.
- Requests, 429s: from the sandbox's own statistics, reset before each scenario. Requests/s: API
  requests admitted, over the span from the first to the last admission (the reader's start-up and
  the export download are not part of it); "% of ceiling" divides by the sandbox's limit.
- Records are checked against the sandbox's ground truth; a short read is flagged in the table.

`--profile` also runs the unthrottled `messages` read under py-spy (`pip install py-spy`), sampling the
thread that holds the GIL, and prints where the connector's CPU per record goes.
"""

from integration_tests.bench.cli import main, parse_args, sizes_from
from integration_tests.bench.profiling import categorize
from integration_tests.bench.render import COLUMNS, render
from integration_tests.bench.report import ORDER
from integration_tests.bench.scenarios import run_benchmark
from integration_tests.bench.sizes import Sizes, search_requests

__all__ = [
    "COLUMNS",
    "ORDER",
    "Sizes",
    "categorize",
    "main",
    "parse_args",
    "render",
    "run_benchmark",
    "search_requests",
    "sizes_from",
]
