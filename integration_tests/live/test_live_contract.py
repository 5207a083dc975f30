"""What the connector relies on in the App API, checked against the real workspace (see contract.py), and
which sandbox switches the workspace matches. Read-only, except one customer export of a single person."""

from __future__ import annotations

from pathlib import Path

from integration_tests.live.client import Client
from integration_tests.live.contract import run_contract

NOTICE = (
    "The contract test reads the workspace and changes nothing, except that it makes ONE customer "
    "export filtered to a single person (it appears in the workspace's Exports list)."
)
REPORT = Path(__file__).resolve().parents[2] / "secrets" / "live-contract-report.json"


def test_the_api_keeps_the_contract_the_connector_relies_on(live_client: Client) -> None:
    print(NOTICE)
    report = run_contract(live_client)
    print(report.render())
    REPORT.write_text(report.as_json())
    print(f"Report written to {REPORT.relative_to(REPORT.parents[1])}")
    assert report.problems == [], "\n".join(report.problems)
