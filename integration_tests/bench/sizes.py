"""The sizes the benchmark reads at, and the targets its results are judged against."""

from __future__ import annotations

import math
from dataclasses import dataclass

# The connector's paging of a people search: 1,000 identifiers a search page, 100 people a hydration.
SEARCH_PAGE = 1000
HYDRATE_BATCH = 100
TARGETS = {
    "ratio": 0.80,
    "exports_seconds": 180.0,
    "rss_mb": 250.0,
    "rps": 9.5,
    "speedup": 6.0,
}


@dataclass(frozen=True)
class Sizes:
    deliveries: int = 1_000_000
    people: int = 1_000_000
    throttled_people: int = 20_000
    throttled_deliveries: int = 100_000
    campaigns: int = 200
    # Deliveries of the last 9 months read at the ceiling: two 6-month windows, so that sub-windows
    # must carry the parallelism.
    recent_deliveries: int = 200_000
    recent_days: int = 270
    ceiling_rps: float = 10.0
    ceiling_latency_ms: float = 150.0
    unthrottled_connector_rps: float = 100.0
    timeout_seconds: float = 1800.0


SMOKE = Sizes(
    deliveries=5_000,
    people=5_000,
    throttled_people=1_000,
    throttled_deliveries=3_000,
    campaigns=5,
    recent_deliveries=3_000,
)


def ceiling_label(sizes: Sizes) -> str:
    return f"{sizes.ceiling_rps:g} req/s + {sizes.ceiling_latency_ms:g} ms"


def search_requests(people: int) -> int:
    """Requests the connector's search-and-hydrate makes for `people` people (see streams/customers.py)."""
    return max(1, math.ceil(people / SEARCH_PAGE)) + math.ceil(people / HYDRATE_BATCH)
