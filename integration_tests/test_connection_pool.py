"""Many requests of one stream in flight at once keep their connections: none is opened and thrown away
("Connection pool is full"), whether the API root is https:// or a loopback http:// (the sandbox)."""

from __future__ import annotations

import logging
import threading

from integration_tests.scenarios import config_for, new_sandbox
from source_customerio.source import SourceCustomerio

IN_FLIGHT = 24  # more than urllib3's default pool of 10, as many as the connector's widest fan-out


def test_requests_in_flight_beyond_urllib3_s_default_pool_keep_their_connections(caplog):
    with new_sandbox(latency_ms=400) as sandbox:
        [stream] = [s for s in SourceCustomerio().streams(config_for(sandbox)) if s.name == "campaigns"]
        start = threading.Barrier(IN_FLIGHT)

        def ask() -> None:
            start.wait()
            stream.request("campaigns")

        threads = [threading.Thread(target=ask) for _ in range(IN_FLIGHT)]
        with caplog.at_level(logging.WARNING, logger="urllib3"):
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert sandbox.stats()["by_endpoint"]["GET /v1/campaigns"] == IN_FLIGHT
    full = [r.getMessage() for r in caplog.records if "Connection pool is full" in r.getMessage()]
    assert full == []
