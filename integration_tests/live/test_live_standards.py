"""airbyte-cdk's standard source tests (spec, check, discover, a full read of every stream) against the
real API, with `secrets/config.json` as the config. Streams a workspace has no data in can be named in
LIVE_EMPTY_STREAMS (comma-separated): the standard read requires records from every other stream."""

from __future__ import annotations

import os

from airbyte_cdk.test.models import ConnectorTestScenario
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase

from integration_tests.live.conftest import SECRETS
from source_customerio import SourceCustomerio


class TestLiveStandards(SourceTestSuiteBase):
    connector = SourceCustomerio

    @classmethod
    def get_scenarios(cls) -> list[ConnectorTestScenario]:
        if not SECRETS.exists():
            return []
        empty = [name.strip() for name in os.environ.get("LIVE_EMPTY_STREAMS", "").split(",") if name.strip()]
        scenario = {
            "config_path": str(SECRETS),
            "status": "succeed",
            "sections": ("spec", "connection", "discovery", "basic_read"),
            "test_strictness_level": "high",
            "empty_streams": [{"name": n, "bypass_reason": "LIVE_EMPTY_STREAMS"} for n in empty],
        }
        return [ConnectorTestScenario.model_validate(scenario)]
