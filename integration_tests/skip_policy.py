"""The suite's rule on skips: a skipped test proves nothing, so none may pass for a success.

- The CDK's standard tests are generated for every config of acceptance-test-config.yml, and then skip
  themselves where the config's sections do not run their command (the invalid config runs `check`
  only). Those items are deselected here, with the reason printed, so they are neither counted as
  passes nor reported as skips.
- Under REQUIRE_IMAGE_TESTS=1 (CI), any test that skips all the same (no Docker engine, no image, the
  CDK's own `skipif`) fails the run instead, naming the reason.

Loaded for the whole suite by the root conftest.py (pytest_plugins).
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

REQUIRE_ENV = "REQUIRE_IMAGE_TESTS"
# The command each of the CDK's scenario-parametrised standard tests runs (it skips when the
# scenario's config does not run that command).
STANDARD_TEST_COMMANDS = {
    "test_check": "check",
    "test_discover": "discover",
    "test_basic_read": "read",
    "test_fail_read_with_bad_catalog": "read",
    "test_config_matches_spec": "spec",
    "test_docker_image_build_and_check": "check",
    "test_docker_image_build_and_discover": "discover",
    "test_docker_image_build_and_read": "read",
    "test_docker_image_build_and_config_matches_spec": "spec",
}
_NOT_RUN = pytest.StashKey[list[str]]()


def skips_fail() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


def command_not_run(item: pytest.Item) -> str | None:
    """Why a standard-test item would only skip itself: the command its scenario does not run."""
    callspec = getattr(item, "callspec", None)
    scenario = callspec.params.get("scenario") if callspec is not None else None
    command = STANDARD_TEST_COMMANDS.get(getattr(item, "originalname", ""))
    if scenario is None or command is None or not hasattr(scenario, "runs") or scenario.runs(command):
        return None
    return f"{item.nodeid}: config '{scenario.id}' does not run `{command}`"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept, dropped = [], []
    for item in items:
        (dropped if command_not_run(item) else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
        config.stash[_NOT_RUN] = [str(command_not_run(item)) for item in dropped]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    reasons = config.stash.get(_NOT_RUN, [])
    if reasons:
        terminalreporter.write_sep("-", f"{len(reasons)} standard test(s) deselected: never run by design")
        for reason in reasons:
            terminalreporter.write_line(reason)


def skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and skips_fail():
        report.outcome = "failed"
        report.longrepr = f"skipped, and {REQUIRE_ENV}=1 allows no skip: {skip_reason(report)}"
