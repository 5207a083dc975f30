"""airbyte-cdk's standard source tests (spec, check, discover, basic read of every stream), driven by
acceptance-test-config.yml, in-process and, with `--connector-image`, against the built image.

The configs point at a sandbox this module serves on a fixed loopback port for the session. The CDK
runs images without host networking, which cannot reach a loopback server: its docker calls are given
`--network host` here. The CDK's spec backward-compatibility test fetches the published spec from
Airbyte's registry on the internet; here it compares with the spec of our last release, kept in
`integration_tests/released_spec.json`, instead (tests never reach the internet).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase, docker_base
from airbyte_cdk.test.standard_tests._spec_compatibility import compare_specs

from integration_tests.sandbox import SANDBOX_API_KEY, Sandbox
from source_customerio import SourceCustomerio

SANDBOX_PORT = 38089
RELEASED_SPEC = Path(__file__).with_name("released_spec.json")


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

    @pytest.mark.image_tests
    def test_docker_image_spec_backward_compatibility(
        self, connector_image_override: str | None, connector_base_image_override: str | None
    ) -> None:
        """The image's spec accepts every config the released version's spec accepted."""
        if not connector_image_override:
            pytest.fail("image tests need --connector-image (make image; CONNECTOR_IMAGE=...)")
        released = json.loads(RELEASED_SPEC.read_text())
        current = docker_base._run_spec_in_image(connector_image_override, "oss")
        comparison = compare_specs(released, current)
        assert comparison.breaking == [], "breaking spec changes since the release: " + "; ".join(
            comparison.breaking
        )
