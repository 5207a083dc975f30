"""Which API root to talk to: the configured base URL, the configured region, or the one that
accepts the key. Customer.io's App API has no region lookup, and the wrong region answers 401
instead of redirecting, so `auto` asks the US host and then the EU host.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import requests

from source_customerio.config import REGION_HOSTS, CustomerioConfig, Region
from source_customerio.errors import config_error, transient_error
from source_customerio.http.error_table import UNAUTHORIZED

PROBE_PATH = "workspaces"
PROBE_ATTEMPTS = 4


def _probe(url_base: str, token: str, timeout: float) -> int:
    """Status of GET {url_base}/workspaces, retrying what may pass (5xx, 429, network errors)."""
    for attempt in range(PROBE_ATTEMPTS):
        try:
            response = requests.get(
                f"{url_base}/{PROBE_PATH}",
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                timeout=timeout,
            )
            status = response.status_code
        except requests.RequestException as error:
            status, reason = 0, type(error).__name__
        else:
            reason = str(status)
        if status and status != 429 and status < 500:
            return status
        if attempt < PROBE_ATTEMPTS - 1:
            time.sleep(min(2**attempt, 8))
    raise transient_error(f"Could not reach Customer.io at {url_base} ({reason}); try again later.")


def resolve(
    config: CustomerioConfig,
    logger: logging.Logger,
    timeout: float = 30.0,
    hosts: Mapping[str, str] = REGION_HOSTS,
) -> tuple[str, str]:
    """(API root, label) for this config; a config_error when no region accepts the key.

    `hosts` (region -> API root) is Customer.io's table, replaced only by tests that answer both
    regions from local servers."""
    if config.base_url:
        return config.base_url, "custom base_url"
    if config.region != Region.AUTO:
        return hosts[config.region.value], config.region.value.upper()
    for region in ("us", "eu"):
        status = _probe(hosts[region], config.access_token, timeout)
        if status != 401:
            logger.info(f"Region auto-detection: the key belongs to the {region.upper()} region.")
            return hosts[region], region.upper()
    raise config_error("Neither the US nor the EU host accepted the key (401). " + UNAUTHORIZED)
