"""The connector's specification, made from the config model alone (no CDK import: see run.py)."""

from __future__ import annotations

from typing import Any

import orjson

from source_customerio.config import CustomerioConfig

DOCUMENTATION_URL = "https://github.com/source-customerio/source-customerio/blob/main/docs/customer-io.md"


def specification() -> dict[str, Any]:
    """The fields of the protocol's ConnectorSpecification this connector sets."""
    return {
        "documentationUrl": DOCUMENTATION_URL,
        "connectionSpecification": CustomerioConfig.connection_specification(),
    }


def spec_message() -> bytes:
    """The SPEC message line, as the CDK's entrypoint writes it (unit_tests/test_startup.py compares)."""
    # The CDK's serializer writes these two protocol fields with their defaults.
    spec = {**specification(), "supportsNormalization": False, "supportsDBT": False}
    return orjson.dumps({"type": "SPEC", "spec": spec}) + b"\n"
