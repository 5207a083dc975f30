"""The live tests run only under `make live-test` (SOURCE_CUSTOMERIO_LIVE=1), against the workspace whose
App API key is in `secrets/config.json` (git-ignored). `make test` never collects them; without the
file they stop with one line."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from integration_tests.live.client import Client
from source_customerio import region
from source_customerio.config import CustomerioConfig

LIVE_ENV = "SOURCE_CUSTOMERIO_LIVE"
SECRETS = Path(__file__).resolve().parents[2] / "secrets" / "config.json"
NO_SECRETS = "live tests skipped: no secrets/config.json (see the README, 'Live contract tests')"


def pytest_configure(config: pytest.Config) -> None:
    # The CDK marks scenarios whose config lives in secrets/ with it.
    config.addinivalue_line("markers", "requires_creds: needs the real API key in secrets/config.json")


def _live() -> bool:
    return os.environ.get(LIVE_ENV) == "1"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    return None if _live() else True


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[Any]) -> None:
    if _live() and not SECRETS.exists():
        pytest.exit(NO_SECRETS, returncode=0)


@pytest.fixture(scope="session")
def live_config() -> dict[str, Any]:
    return dict(json.loads(SECRETS.read_text()))


@pytest.fixture(scope="session")
def live_client(live_config: dict[str, Any]) -> Client:
    settings = CustomerioConfig.from_mapping(live_config)
    url, where = region.resolve(settings, logging.getLogger("airbyte"))
    print(f"Customer.io App API at {url} ({where})")
    # Below Customer.io's 10 requests per second, which other apps of the workspace share.
    return Client(url, settings.access_token, requests_per_second=min(settings.requests_per_second, 5.0))
