"""Fixtures for tests that talk to the Customer.io sandbox over real loopback sockets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from integration_tests.sandbox import SANDBOX_API_KEY, Sandbox


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A started tiny sandbox (seed 1, key "test-key", no rate limit), stopped after the test."""
    sb = Sandbox(seed=1, size="tiny", api_key=SANDBOX_API_KEY, requests_per_second=0)
    sb.start()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., Sandbox]]:
    """Make started sandboxes with any Sandbox(...) kwargs; all of them are stopped at teardown."""
    made: list[Sandbox] = []

    def make(**kwargs: Any) -> Sandbox:
        sb = Sandbox(**kwargs)
        made.append(sb)
        return sb.start()

    try:
        yield make
    finally:
        for sb in made:
            sb.stop()
