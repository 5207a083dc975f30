"""The suite's rule on skips (integration_tests/skip_policy.py), checked without Docker: under
REQUIRE_IMAGE_TESTS=1 a skip fails the run, and the CDK's standard tests that could only skip
themselves are not collected at all."""

from __future__ import annotations

import subprocess
import sys

from unit_tests.builders import PROJECT_ROOT

COLLECT_ONLY = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
SOME_TESTS = """
import pytest

def test_passes():
    pass

def test_skips_itself():
    pytest.skip("no Docker engine reachable")

@pytest.mark.skipif(True, reason="docker CLI not found in PATH")
def test_marked_skipif():
    pass

@pytest.mark.xfail(reason="a known bug")
def test_expected_to_fail():
    assert False
"""


def run_with_policy(pytester):
    pytester.makepyfile(test_some=SOME_TESTS)
    return pytester.runpytest("-p", "integration_tests.skip_policy", "-p", "no:cacheprovider")


def test_under_require_image_tests_every_skip_fails_naming_its_reason(pytester, monkeypatch):
    monkeypatch.setenv("REQUIRE_IMAGE_TESTS", "1")
    result = run_with_policy(pytester)
    # A skip at setup (a skipif mark) is an error, one during the call a failure: both fail the run.
    result.assert_outcomes(passed=1, failed=1, errors=1, xfailed=1)
    for reason in ("no Docker engine reachable", "docker CLI not found in PATH"):
        result.stdout.fnmatch_lines([f"*REQUIRE_IMAGE_TESTS=1 allows no skip: *{reason}*"])
    assert result.ret != 0


def test_otherwise_a_skip_stays_a_skip(pytester, monkeypatch):
    monkeypatch.delenv("REQUIRE_IMAGE_TESTS", raising=False)
    result = run_with_policy(pytester)
    result.assert_outcomes(passed=1, skipped=2, xfailed=1)
    assert result.ret == 0


def test_standard_tests_are_collected_only_for_the_commands_their_config_runs():
    """acceptance-test-config.yml lists the invalid config under `connection` only: it gets the
    check tests (in-process and image), nothing else; the valid config gets every test."""
    done = subprocess.run(
        [*COLLECT_ONLY, "integration_tests/test_airbyte_standards.py"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # Node ids, not the summary's lines on what was deselected and why (those end with the command).
    collected = [line for line in done.stdout.splitlines() if "::" in line and not line.endswith("`")]
    invalid = sorted(line.split("::")[-1].split("[")[0] for line in collected if "invalid_config" in line)
    assert invalid == ["test_check", "test_docker_image_build_and_check"]
    valid = {line.split("::")[-1].split("[")[0] for line in collected if "'config'" in line}
    assert {"test_check", "test_discover", "test_basic_read", "test_config_matches_spec"} <= valid
    assert "7 deselected" in done.stdout
