"""PyAirbyte (`airbyte` on PyPI) reads `customers` from the sandbox through the console script into DuckDB,
with real typed columns: a warehouse user's `attr_plan = 'pro' AND attr_ltv > 100` works with no cast.

PyAirbyte lives in a virtualenv of its own (`make pyairbyte`: .venv-pyairbyte); this test makes it when it is
missing, and fails (it is not skipped) when it cannot. PyAirbyte runs offline (`AIRBYTE_OFFLINE_MODE`), on
our executable (`local_executable`), with no telemetry.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from integration_tests.sandbox import SANDBOX_API_KEY, Sandbox
from integration_tests.scenarios import coerced_by_hand
from source_customerio.streams.attribute_columns import column_name

ROOT = Path(__file__).resolve().parents[1]
PYAIRBYTE_PYTHON = ROOT / ".venv-pyairbyte" / "bin" / "python"
SCRIPT = ROOT / "integration_tests" / "pyairbyte" / "read_customers.py"
# DuckDB's type for each JSON schema type of a typed column (PyAirbyte's mapping).
DUCKDB_TYPES = {"integer": "BIGINT", "number": "DECIMAL(38,9)", "boolean": "BOOLEAN", "string": "VARCHAR"}
# The sandbox's attributes (integration_tests/sandbox/people.py) and their kinds, by hand (a few of each).
KINDS = {
    "created_at": "integer",
    "age": "integer",
    "9lives": "integer",
    "ltv": "number",
    "vip": "boolean",
    "zip": "string",
    "plan": "string",
    "Signup Source": "string",
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pyairbyte() -> Path:
    if not PYAIRBYTE_PYTHON.exists():
        made = subprocess.run(["make", "pyairbyte"], cwd=ROOT, capture_output=True, text=True, check=False)
        if made.returncode != 0:
            pytest.fail(
                f"`make pyairbyte` failed:\n{made.stdout[-2000:]}\n{made.stderr[-2000:]}", pytrace=False
            )
    return PYAIRBYTE_PYTHON


def connector_executable() -> str:
    found = Path(sys.executable).with_name("source-customerio")
    assert found.exists(), f"no console script at {found}: run `make install`"
    return str(found)


@pytest.fixture(scope="module")
def duckdb(
    pyairbyte: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], dict[str, Any]]:
    """What PyAirbyte made in DuckDB, and the sandbox's people's raw attributes (the truth), by cio_id."""
    folder = tmp_path_factory.mktemp("pyairbyte")
    with Sandbox(seed=23, size="small", api_key=SANDBOX_API_KEY, requests_per_second=0) as sb:
        config = {
            "access_token": SANDBOX_API_KEY,
            "base_url": sb.base_url,
            "requests_per_second": 100,
            "customers_method": "search",
        }
        (folder / "config.json").write_text(json.dumps(config))
        env = {
            **os.environ,
            "AIRBYTE_OFFLINE_MODE": "1",
            "DO_NOT_TRACK": "1",
            "AIRBYTE_LOGGING_ROOT": str(folder / "logs"),
            "HOME": str(folder),
        }
        done = subprocess.run(
            [
                str(pyairbyte),
                str(SCRIPT),
                str(folder / "config.json"),
                connector_executable(),
                str(folder / "cache"),
            ],
            cwd=folder,
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            check=False,
        )
        people = sb.world.people
        truth = {people.cio_id(i): people.custom_attributes(i)[0] for i in people.existing()}
    assert done.returncode == 0, f"PyAirbyte failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1]), truth


def test_duckdb_has_typed_columns(duckdb):
    found, _ = duckdb
    columns = found["columns"]
    for raw, kind in KINDS.items():
        assert columns.get(column_name(raw)) == DUCKDB_TYPES[kind], (raw, columns.get(column_name(raw)))
    assert columns["attributes"] == "JSON"


def test_duckdb_values_are_the_sandbox_values_typed(duckdb):
    found, truth = duckdb
    rows = {row["cio_id"]: row for row in found["rows"]}
    assert set(rows) == set(truth)
    checked = 0
    for cio_id, raw in truth.items():
        for name, kind in KINDS.items():
            want = coerced_by_hand(kind, raw.get(name, ""))
            assert rows[cio_id][column_name(name)] == want, (cio_id, name)
            checked += want is not None
    assert checked > 1_000


def test_a_warehouse_query_needs_no_cast(duckdb):
    found, truth = duckdb
    wanted = sorted(
        c for c, raw in truth.items() if raw.get("plan") == "pro" and float(raw.get("ltv") or 0) > 100
    )
    assert wanted, "the sandbox has nobody to find: the query would prove nothing"
    assert found["plan_pro_ltv_over_100"] == wanted
