"""A loopback look-alike of the Customer.io App API, for end-to-end tests, demos and benchmarks.

    from integration_tests.sandbox import Sandbox, Faults
    with Sandbox(seed=1, size="tiny", requests_per_second=0) as sb:
        sb.base_url            # "http://127.0.0.1:PORT/v1", the connector's base_url
        sb.truth("customers")  # what a complete full-refresh read must return
        sb.stats()             # what the connector asked for

Modules: `server` (sockets, `Sandbox`), `app` (auth, rate limit, faults, latency), `api` (routes, paging),
`admin` (truth, mutate, stats, config), `quirks` (undocumented behaviours, switchable), `data` (sizes,
streams), `tables` / `catalog` / `people` /
`deliveries` / `exports` (lazy deterministic records), `faults`, `ratelimit`, `stats`, `util`.
Run `python -m integration_tests.sandbox --help` to serve one from the command line.
"""

from .faults import Faults
from .quirks import Quirks
from .server import SANDBOX_API_KEY, Sandbox

__all__ = ["SANDBOX_API_KEY", "Faults", "Quirks", "Sandbox"]
