"""The spec: its JSON schema is the pydantic model's, shaped the way Airbyte's UI renders it."""

from __future__ import annotations

import json
import logging

import pytest
from airbyte_cdk.models import AirbyteMessage, AirbyteMessageSerializer, Type
from airbyte_cdk.test.standard_tests._spec_compatibility import compare_specs
from jsonschema import Draft7Validator

from source_customerio import SourceCustomerio
from source_customerio.config import CustomerioConfig
from unit_tests.builders import KEY, PROJECT_ROOT, ConfigBuilder, parse_lines, run_cli

SPEC = SourceCustomerio().spec(logging.getLogger("test")).connectionSpecification
PROPERTIES = SPEC["properties"]
FIELDS = CustomerioConfig.model_fields
# The spec of the last release: configs saved under it must stay valid.
RELEASED_SPEC = PROJECT_ROOT / "integration_tests" / "released_spec.json"


def test_every_released_setting_is_still_accepted():
    """Configs saved under the last release stay valid: the in-process twin of the image test's
    backward-compatibility check, so that a breaking change fails without Docker too."""
    released = json.loads(RELEASED_SPEC.read_text())
    current = AirbyteMessageSerializer.dump(
        AirbyteMessage(type=Type.SPEC, spec=SourceCustomerio().spec(logging.getLogger("test")))
    )["spec"]
    assert compare_specs(released, current).breaking == []
    released_properties = released["connectionSpecification"]["properties"]
    assert set(released_properties) <= set(PROPERTIES)
    for name, schema in released_properties.items():
        assert PROPERTIES[name]["type"] == schema["type"], name
        assert PROPERTIES[name].get("airbyte_secret") == schema.get("airbyte_secret"), name


def test_spec_is_a_valid_draft7_schema():
    Draft7Validator.check_schema(SPEC)
    assert SPEC["$schema"] == "http://json-schema.org/draft-07/schema#"


def test_only_the_key_is_required():
    assert SPEC["required"] == ["access_token"]


@pytest.mark.parametrize("name", ["access_token", "app_api_key"])
def test_both_key_names_are_secret_strings(name):
    assert PROPERTIES[name]["airbyte_secret"] is True
    assert PROPERTIES[name]["type"] == "string"


def test_the_alias_is_hidden_and_last():
    assert PROPERTIES["app_api_key"]["airbyte_hidden"] is True
    orders = [p["order"] for p in PROPERTIES.values()]
    assert PROPERTIES["app_api_key"]["order"] == max(orders)
    assert len(set(orders)) == len(orders)


@pytest.mark.parametrize("name", list(FIELDS))
def test_title_and_description_come_from_the_model(name):
    field = FIELDS[name]
    assert PROPERTIES[name].get("title") == field.title
    assert PROPERTIES[name]["description"] == field.description


@pytest.mark.parametrize(
    ("name", "values", "default"),
    [("region", ["auto", "us", "eu"], "auto"), ("customers_method", ["auto", "exports", "search"], "auto")],
)
def test_enums_are_plain_string_enums(name, values, default):
    prop = PROPERTIES[name]
    assert prop["type"] == "string"
    assert prop["enum"] == values
    assert prop["default"] == default


def test_no_references_or_unions_are_left_for_the_ui():
    text = json.dumps(SPEC)
    for construct in ('"$ref"', '"allOf"', '"anyOf"', '"$defs"'):
        assert construct not in text


@pytest.mark.parametrize("name", ["start_date", "base_url", "app_api_key"])
def test_optional_strings_are_plain_strings_without_null_default(name):
    assert PROPERTIES[name]["type"] == "string"
    assert "default" not in PROPERTIES[name]


def test_start_date_examples_are_the_accepted_forms():
    examples = PROPERTIES["start_date"]["examples"]
    assert examples == ["2024-01-31", "2024-01-31T00:00:00Z", "01/31/2024"]
    for value in examples:
        assert CustomerioConfig.from_mapping(ConfigBuilder().with_start_date(value).build()).start_timestamp


@pytest.mark.parametrize(
    ("name", "bounds"),
    [
        ("requests_per_second", {"exclusiveMinimum": 0, "maximum": 100, "default": 10.0}),
        ("lookback_window_minutes", {"minimum": 0, "default": 60}),
        ("messages_lookback_days", {"minimum": 0, "maximum": 180, "default": 30}),
        ("request_timeout_seconds", {"minimum": 1, "maximum": 600, "default": 60}),
        ("export_timeout_minutes", {"minimum": 1, "default": 60}),
    ],
)
def test_numeric_bounds_mirror_the_model(name, bounds):
    for key, value in bounds.items():
        assert PROPERTIES[name][key] == value


@pytest.mark.parametrize(
    "config",
    [
        ConfigBuilder().build(),
        ConfigBuilder().with_start_date("01/31/2024").with_region("eu").build(),
        ConfigBuilder().with_base_url("http://127.0.0.1:1234/v1").with_(requests_per_second=2.5).build(),
    ],
)
def test_configs_the_model_accepts_pass_the_spec(config):
    assert list(Draft7Validator(SPEC).iter_errors(config)) == []
    CustomerioConfig.from_mapping(config)


def test_the_spec_rejects_what_the_model_rejects_for_enums_and_bounds():
    validator = Draft7Validator(SPEC)
    assert list(validator.iter_errors(ConfigBuilder().with_region("mars").build()))
    assert list(validator.iter_errors(ConfigBuilder().with_(requests_per_second=0).build()))
    assert list(validator.iter_errors({"region": "us"}))


def test_spec_on_the_console():
    code, lines = run_cli(["spec"])
    specs = [m.spec for m in parse_lines(lines) if m.type == Type.SPEC]
    assert code == 0
    assert len(specs) == 1
    assert specs[0].connectionSpecification == SPEC
    assert specs[0].documentationUrl
    assert KEY not in "\n".join(lines)
