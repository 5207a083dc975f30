"""airbyte-cdk's standard source tests (spec, check, discover, basic read of all 18 streams), driven by
acceptance-test-config.yml, in-process and, with `--connector-image`, against the built image.

The configs point at a sandbox this module serves on a fixed loopback port for the session. The CDK
runs images without host networking, which cannot reach a loopback server: its docker calls are given
`--network host` here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase, docker_base

from integration_tests.sandbox import SANDBOX_API_KEY, Sandbox
from source_customerio import SourceCustomerio

SANDBOX_PORT = 38089


@pytest.fixture(scope="module", autouse=True)
def standard_sandbox() -> Iterator[Sandbox]:
    with Sandbox(
        seed=11, size="tiny", api_key=SANDBOX_API_KEY, requests_per_second=0, port=SANDBOX_PORT
    ) as sb:
        yield sb


@pytest.fixture(autouse=True)
def docker_on_host_network(monkeypatch: pytest.MonkeyPatch) -> None:
    original = docker_base.run_docker_airbyte_command

    def with_host_network(cmd: list[str], **kwargs: Any) -> Any:
        if cmd[:2] == ["docker", "run"] and "--network" not in cmd:
            cmd = [*cmd[:2], "--network", "host", *cmd[2:]]
        return original(cmd, **kwargs)

    monkeypatch.setattr(docker_base, "run_docker_airbyte_command", with_host_network)


class TestAirbyteStandards(SourceTestSuiteBase):
    connector = SourceCustomerio
