"""The stream schemas: they load through the CDK loader, follow the house rules, and fit real records.

Example records are the documented API examples from the reference notes, reshaped the way the
connector emits them (customers unwrapped and flattened, `cio_id` as a string, ...). Where the
reference gives a field table but no example, the record is built from that table.
"""

from __future__ import annotations

import copy
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.models import AirbyteCatalog, AirbyteStream, SyncMode
from airbyte_cdk.sources.utils.schema_helpers import ResourceSchemaLoader
from airbyte_cdk.test.standard_tests._catalog_checks import find_catalog_problems, format_catalog_problems
from jsonschema import Draft7Validator

PACKAGE = "source_customerio"
SCHEMAS_DIR = Path(__file__).resolve().parent.parent / PACKAGE / "schemas"

# stream name -> (primary key fields, cursor field or None)
STREAMS: dict[str, tuple[list[str], str | None]] = {
    "broadcasts": (["id"], "updated"),
    "transactional_messages": (["id"], "updated_at"),
    "messages": (["id"], "created"),
    "customers": (["cio_id"], None),
    "campaigns": (["id"], "updated"),
    "newsletters": (["id"], "updated"),
    "segments": (["id"], "updated_at"),
    "exports": (["id"], "updated_at"),
    "activities": (["id"], "timestamp"),
    "sender_identities": (["id"], None),
    "reporting_webhooks": (["id"], None),
    "snippets": (["name"], "updated_at"),
    "ip_addresses": (["id"], None),
    "collections": (["id"], "updated_at"),
    "topics": (["id"], None),
    "workspaces": (["id"], None),
    "types": (["id"], None),
    "eps_suppression": (["suppression_type", "email"], None),
    "campaign_actions": (["campaign_id", "id"], "updated"),
    "broadcast_actions": (["broadcast_id", "id"], "updated"),
    "newsletter_variants": (["newsletter_id", "id"], "updated"),
    "transactional_contents": (["transactional_message_id", "id"], "updated"),
    "segment_memberships": (["segment_id", "cio_id"], None),
    "campaign_metrics": (["campaign_id", "day"], "day_start"),
    "campaign_action_metrics": (["campaign_id", "action_id", "day"], "day_start"),
    "broadcast_metrics": (["broadcast_id", "day"], "day_start"),
    "newsletter_metrics": (["newsletter_id", "day"], "day_start"),
}

CUSTOMER_IDENTIFIERS = {"id": "1a55", "email": "person@example.com", "cio_id": "3000001"}

EXAMPLES: dict[str, dict[str, Any]] = {
    "broadcasts": {
        "id": 2,
        "deduplicate_id": "2:1520467200",
        "created": 1520467200,
        "type": "triggered_broadcast",
        "updated": 1520467200,
        "name": "basic",
        "active": True,
        "state": "running",
        "actions": [{"id": 3, "type": "email"}],
        "first_started": 1520467200,
        "created_by": "ExamplePerson",
        "tags": None,  # the docs example shows "nil", which the connector turns into null
    },
    # No documented example: built from the field table.
    "transactional_messages": {
        "id": 3,
        "name": "Password reset",
        "description": "Sent when a person asks for a new password",
        "trigger_name": "password_reset",
        "send_to_unsubscribed": True,
        "link_tracking": True,
        "open_tracking": True,
        "hide_message_body": False,
        "queue_drafts": False,
        "created_at": 1609957805,
        "updated_at": 1609957872,
    },
    "messages": {
        "action_id": 196,
        "broadcast_id": 94,
        "campaign_id": None,
        "content_id": None,
        "created": 1609957805,
        "customer_id": "1a55",
        "customer_identifiers": CUSTOMER_IDENTIFIERS,
        "deduplicate_id": "dgOq6QWq6QUBAAF4_CGoeVX7mFkDbRFu7ek=:1609957872",
        "failure_message": None,
        "forgotten": False,
        "id": "dgOq6QWq6QUBAAF4_CGoeVX7mFkDbRFu7ek=",
        "metrics": {"delivered": 1609957872, "sent": 1609957832},
        "msg_template_id": 0,
        "newsletter_id": None,
        "recipient": "person@example.com",
        "subject": "Did you get that thing I sent you?",
        "type": "email",
    },
    "customers": {
        "cio_id": "03000001",
        "id": "1",
        "email": "test@example.com",
        "identifiers": {"id": "1", "email": "test@example.com", "cio_id": "03000001"},
        "attributes": {
            "_last_emailed": "1528932553",
            "created_at": "1489014595",
            "email": "test@example.com",
            "id": "1",
            "cio_id": "03000001",
            "vip": True,
        },
        "timestamps": {"_last_emailed": 1528932553, "created_at": 1489014595, "email": 1489014595},
        "unsubscribed": False,
        "devices": [
            {
                "id": "a1b2c3",
                "last_used": 1528932553,
                "platform": "ios",
                "attributes": {"device_os": "17.1", "app_version": "2.3.0", "push_enabled": "true"},
            }
        ],
    },
    "campaigns": {
        "id": 5,
        "deduplicate_id": "15:1492548073",
        "name": "Welcome series",
        "description": "Sends a welcome series to new signups",
        "created": 1552341937,
        "updated": 1552341937,
        "active": True,
        "state": "running",
        "actions": [{"type": "email", "id": 259}],
        "first_started": 1552341937,
        "tags": ["new", "welcome"],
        "trigger_segment_ids": [90],
        "filter_segment_ids": [21, 42],
    },
    "newsletters": {
        "id": 128275,
        "deduplicate_id": "128275:1484870424",
        "type": "email",
        "content_ids": [45],
        "name": "Weekly Product Update",
        "sent_at": 1481653929,
        "created": 1481653919,
        "updated": 1481653929,
        "recipient_segment_ids": [42, 99],
        "tags": ["Product Updates"],
        "subscription_topic_id": 5,
    },
    "segments": {
        "id": 7,
        "deduplicate_id": "15:1492548073",
        "name": "Manual Segment 1",
        "description": "My first manual segment",
        "state": "events",
        "progress": None,
        "type": "manual",
        "tags": None,
        "created_at": 1552341937,
        "updated_at": 1552341937,
    },
    "exports": {
        "id": 110,
        "user_id": 0,
        "user_email": "person@email.com",
        "total": 1234,
        "deduplicate_id": "110:1530296738",
        "type": "customers",
        "failed": False,
        "status": "done",
        "description": "Customers with segment filters",
        "downloads": 2,
        "created_at": 1530296738,
        "updated_at": 1530296738,
    },
    # No documented example: built from the field table.
    "activities": {
        "id": "01AK4N8V8G8KVA4HN8Y50CCZ59",
        "customer_id": "1a55",
        "customer_identifiers": CUSTOMER_IDENTIFIERS,
        "type": "sent_email",
        "name": None,
        "timestamp": 1609957832,
        "delivery_id": "dgOq6QWq6QUBAAF4_CGoeVX7mFkDbRFu7ek=",
        "delivery_type": "email",
        "data": {"delivery_id": "dgOq6QWq6QUBAAF4_CGoeVX7mFkDbRFu7ek=", "delivered": None, "opened": False},
        "url": None,
    },
    "sender_identities": {
        "id": 4534,
        "deduplicate_id": "4534:1478035647",
        "name": "Cher Ami",
        "email": "test@example.com",
        "address": "Cher Ami <test@example.com>",
        "template_type": "email",
        "auto_generated": False,
    },
    "reporting_webhooks": {
        "name": "my cool webhook",
        "id": 4,
        "endpoint": "http://example.com/webhook",
        "disabled": False,
        "full_resolution": True,
        "with_content": False,
        "events": ["email_sent", "email_opened"],
    },
    "snippets": {"name": "footer", "value": "<p>Sent by {{ company }}</p>", "updated_at": 1552341937},
    "ip_addresses": {"id": "35.188.196.183"},
    "collections": {
        "bytes": 296,
        "created_at": 1552341937,
        "updated_at": 1552341937,
        "id": 1,
        "name": "upcoming events",
        "rows": 2,
        "schema": ["event", "date"],
    },
    # No documented example: built from the field table.
    "topics": {
        "id": 1,
        "identifier": "topic_1",
        "name": "Newsletter",
        "description": "Our weekly newsletter",
        "subscribed_by_default": True,
    },
    "workspaces": {
        "id": "13XXXX",
        "name": "Production",
        "messages_sent": 1200,
        "billable_messages_sent": 1100,
        "people": 5000,
        "object_types": 2,
        "objects": 40,
    },
    "types": {
        "id": "1",
        "name": "Companies",
        "singular_name": "Company",
        "slug": "companies",
        "singular_slug": "company",
        "enabled": True,
        "icon": "building",
    },
    "eps_suppression": {
        "email": "person@example.com",
        "reason": "550 5.1.1 The email account that you tried to reach does not exist",
        "status": "550",
        "created": 1609957805,
        "suppression_type": "bounces",
    },
    # The documented examples of the sub-resources, with the parent id the connector adds.
    "campaign_actions": {
        "id": 96,
        "campaign_id": 3,
        "broadcast_id": 2,
        "deduplicate_id": "15:1492548073",
        "name": "Opening Message",
        "layout": "string",
        "created": 1552341937,
        "updated": 1552341937,
        "body": "string",
        "type": "email",
        "sending_state": "automatic",
        "language": "fr",
        "from": "sentFrom@example.com",
        "from_id": 1,
        "reply_to": "replyto@example.com",
        "reply_to_id": 38,
        "preprocessor": "premailer",
        "recipient": "{{customer.email}}",
        "subject": "Did you get that thing I sent you?",
        "cc": "string",
        "bcc": "string",
        "fake_bcc": True,
        "preheader_text": "string",
        "body_amp": "string",
        "headers": '[{"name":"X-Mailgun-Tag","value":"my-cool-tag"}]',
    },
    "broadcast_actions": {
        "id": 3,
        "broadcast_id": 2,
        "name": "Webhook",
        "created": 1552341937,
        "updated": 1552341937,
        "type": "webhook",
        "url": "https://my.example.com/webhook",
        "method": "post",
        "headers": '[{"name":"X-Custom-Header","value":"custom-value"}]',
        "sending_state": "automatic",
    },
    "newsletter_variants": {
        "bcc": "string",
        "body": "<strong>Hello from the API</strong>",
        "body_amp": "string",
        "cc": "string",
        "deduplicate_id": "15:1492548073",
        "fake_bcc": True,
        "from": "sentFrom@example.com",
        "from_id": 1,
        "headers": '[{"name":"X-Mailgun-Tag","value":"my-cool-tag"}]',
        "id": 1,
        "language": "fr",
        "layout": "<html><body>{{ content }}</body></html>",
        "name": "one-time send variant A",
        "newsletter_id": 10,
        "preheader_text": "string",
        "preprocessor": "premailer",
        "recipient": "{{customer.email}}",
        "reply_to": "replyto@example.com",
        "reply_to_id": 38,
        "subject": "Did you get that thing I sent you?",
    },
    "transactional_contents": {
        "id": 96,
        "transactional_message_id": 1,
        "name": "Receipt",
        "created": 1552341937,
        "updated": 1552341937,
        "body": "string",
        "language": "fr",
        "type": "email",
        "from": "sentFrom@example.com",
        "from_id": 1,
        "reply_to": "replyto@example.com",
        "reply_to_id": 38,
        "preprocessor": "premailer",
        "recipient": "{{customer.email}}",
        "subject": "Did you get that thing I sent you?",
        "cc": "string",
        "bcc": "string",
        "fake_bcc": True,
        "preheader_text": "string",
        "body_amp": "string",
    },
    "segment_memberships": {"segment_id": 7, **CUSTOMER_IDENTIFIERS},
    # Metrics rows: one day of a documented series, reshaped the way the connector emits it.
    "campaign_metrics": {
        "campaign_id": 3,
        "day": "2024-12-12",
        "day_start": 1733961600,
        "timezone": "UTC",
        "sent": 7,
        "delivered": 7,
        "opened": 3,
        "human_opened": 2,
        "clicked": 1,
        "2xx": 0,
    },
    "campaign_action_metrics": {
        "campaign_id": 3,
        "action_id": 96,
        "day": "2024-12-12",
        "day_start": 1733961600,
        "timezone": "UTC",
        "sent": 5,
        "converted": 1,
    },
    "broadcast_metrics": {
        "broadcast_id": 2,
        "day": "2024-12-12",
        "day_start": 1733979600,
        "timezone": "EST",
        "sent": 120,
        "bounced": 2,
    },
    "newsletter_metrics": {
        "newsletter_id": 10,
        "day": "2024-12-12",
        "day_start": 1733979600,
        "timezone": "EST",
        "sent": 1000,
        "unsubscribed": 4,
    },
}

# A field that exists in the schema, set to a value of the wrong type.
WRONG_TYPES: list[tuple[str, tuple[str | int, ...], Any]] = [
    *((name, (cursor,), {"nested": 1}) for name, (_, cursor) in STREAMS.items() if cursor),
    *((name, (pks[0],), {"nested": 1}) for name, (pks, _) in STREAMS.items()),
    ("broadcasts", ("tags",), "nil"),
    ("broadcasts", ("actions", 0, "id"), "3"),
    ("messages", ("customer_identifiers", "cio_id"), 3000001),
    ("messages", ("metrics", "sent"), "1609957832"),
    ("messages", ("campaign_id",), "12"),
    ("activities", ("data",), "free text"),
    ("customers", ("cio_id",), None),
    ("customers", ("devices", 0, "last_used"), "1528932553"),
    ("customers", ("unsubscribed",), "false"),
    ("eps_suppression", ("suppression_type",), "spam"),
    ("workspaces", ("id",), 13),
]


def _load_through_cdk(package: str) -> dict[str, dict[str, Any]]:
    loader = ResourceSchemaLoader(package)
    return {name: loader.get_schema(name) for name in STREAMS}


def _package_has_init() -> bool:
    try:
        module = importlib.import_module(PACKAGE)
    except ImportError:
        return False
    return bool(getattr(module, "__file__", None))


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """Every stream schema as the CDK's ResourceSchemaLoader returns it, refs resolved.

    The loader needs an importable regular package. While the connector package has no
    `__init__.py`, a throwaway package that links to the same schemas folder stands in for it.
    """
    if _package_has_init():
        yield _load_through_cdk(PACKAGE)
        return
    shim_name = "_customerio_schema_shim"
    root = tmp_path_factory.mktemp("schema_shim")
    (root / shim_name).mkdir()
    (root / shim_name / "__init__.py").write_text("")
    (root / shim_name / "schemas").symlink_to(SCHEMAS_DIR, target_is_directory=True)
    sys.path.insert(0, str(root))
    try:
        yield _load_through_cdk(shim_name)
    finally:
        sys.path.remove(str(root))
        sys.modules.pop(shim_name, None)


def _iter_object_nodes(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        types = node.get("type")
        if types == "object" or (isinstance(types, list) and "object" in types):
            yield path, node
        for name, child in node.get("properties", {}).items():
            yield from _iter_object_nodes(child, f"{path}/properties/{name}")
        if isinstance(node.get("items"), dict):
            yield from _iter_object_nodes(node["items"], f"{path}/items")


def _with_value(record: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(record)
    target: Any = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


def test_every_stream_has_a_schema_file_and_an_example() -> None:
    files = {path.stem for path in SCHEMAS_DIR.glob("*.json")}
    assert files == set(STREAMS)
    assert set(EXAMPLES) == set(STREAMS)


def test_every_shared_fragment_is_used() -> None:
    raw = "".join(path.read_text() for path in SCHEMAS_DIR.glob("*.json"))
    for fragment in (SCHEMAS_DIR / "shared").glob("*.json"):
        assert f'"$ref": "{fragment.name}"' in raw, f"{fragment.name} is not referenced"


@pytest.mark.parametrize("name", STREAMS)
def test_schema_loads_with_refs_resolved_and_is_draft7(schemas: dict[str, dict[str, Any]], name: str) -> None:
    schema = schemas[name]
    assert "$ref" not in json.dumps(schema)
    Draft7Validator.check_schema(schema)
    assert schema["type"] == "object"


@pytest.mark.parametrize("name", STREAMS)
def test_primary_key_and_cursor_are_declared(schemas: dict[str, dict[str, Any]], name: str) -> None:
    primary_key, cursor = STREAMS[name]
    properties = schemas[name]["properties"]
    for field in primary_key:
        assert properties[field]["type"] in ("string", "integer"), f"{field} must be a non-null scalar"
    if cursor:
        assert properties[cursor]["type"] == ["null", "integer"], "cursors are unix seconds"


@pytest.mark.parametrize("name", STREAMS)
def test_every_object_is_open_and_every_other_field_is_nullable_and_described(
    schemas: dict[str, dict[str, Any]], name: str
) -> None:
    primary_key, _ = STREAMS[name]
    for path, node in _iter_object_nodes(schemas[name]):
        assert node.get("additionalProperties") is True, f"{path} must allow additional properties"
        for field, subschema in node.get("properties", {}).items():
            assert subschema.get("description"), f"{path}/properties/{field} has no description"
            if path == "#" and field in primary_key:
                continue
            assert "null" in subschema["type"], f"{path}/properties/{field} must be nullable"


def test_catalog_passes_the_cdk_standard_discover_checks(schemas: dict[str, dict[str, Any]]) -> None:
    """The checks `SourceTestSuiteBase.test_discover` runs, all of them enforced (warnings included)."""
    catalog = AirbyteCatalog(
        streams=[
            AirbyteStream(
                name=name,
                json_schema=schemas[name],
                supported_sync_modes=[SyncMode.full_refresh, *([SyncMode.incremental] if cursor else [])],
                source_defined_cursor=bool(cursor) or None,
                default_cursor_field=[cursor] if cursor else None,
                source_defined_primary_key=[[field] for field in primary_key],
            )
            for name, (primary_key, cursor) in STREAMS.items()
        ]
    )
    problems = find_catalog_problems(catalog)
    assert not problems, format_catalog_problems(problems)


@pytest.mark.parametrize("name", STREAMS)
def test_documented_example_validates(schemas: dict[str, dict[str, Any]], name: str) -> None:
    Draft7Validator(schemas[name]).validate(EXAMPLES[name])


@pytest.mark.parametrize(
    ("name", "path", "value"),
    WRONG_TYPES,
    ids=[f"{name}-{'.'.join(map(str, path))}" for name, path, _ in WRONG_TYPES],
)
def test_wrong_type_for_a_known_field_fails(
    schemas: dict[str, dict[str, Any]], name: str, path: tuple[str | int, ...], value: Any
) -> None:
    record = _with_value(EXAMPLES[name], path, value)
    assert not Draft7Validator(schemas[name]).is_valid(record)
