"""The tables under the tables at the ceiling (10 requests/s, 150 ms an answer): one request chain per
parent, several parents in flight under the one budget.

- `campaign_actions` over `--campaigns` campaigns (default 200): a campaign list, then one actions list
  per campaign;
- `campaign_metrics` and `campaign_action_metrics` in one sync over the same campaigns: a series per
  campaign, then per campaign its actions list and a series per action (UTC days from the campaign's
  creation to today, one row per day).

Each must sustain the same request rate as the other reads at the ceiling, with no 429. Memory does not
grow with the number of campaigns: compare the peak RSS of `--smoke` (a few campaigns) with the full run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from integration_tests.bench.commands import connector_command, connector_config
from integration_tests.bench.processes import SandboxProcess
from integration_tests.bench.results import Row
from integration_tests.bench.sizes import Sizes, ceiling_label

ORDER = ("actions_ceiling", "metrics_ceiling")
Step = Callable[[SandboxProcess, Sequence[str], Row], Row]
READS = (
    ("actions_ceiling", "campaign_actions"),
    ("metrics_ceiling", "campaign_metrics+campaign_action_metrics"),
)


def run_children(sizes: Sizes, step: Step, start_ts: int) -> None:
    rate, ceiling = sizes.ceiling_rps, ceiling_label(sizes)
    with SandboxProcess(
        requests_per_second=rate,
        latency_ms=sizes.ceiling_latency_ms,
        counts={"campaigns": sizes.campaigns},
    ) as sandbox:
        for key, streams in READS:
            expected = sum(sandbox.count(stream) for stream in streams.split("+"))
            reader = f"connector ({sizes.campaigns:,} campaigns)"
            with connector_command(connector_config(sandbox, rate, start_ts), streams) as command:
                step(sandbox, command, Row(key, ceiling, reader, streams, expected=expected, ceiling=rate))
