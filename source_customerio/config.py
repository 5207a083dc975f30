"""The connector's configuration: one pydantic model, from which the spec's JSON schema is made.

Validation messages name the field and say what to write instead, because they reach the user as a
FAILED check or a `config_error` TRACE.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

REGION_HOSTS = {"us": "https://api.customer.io/v1", "eu": "https://api-eu.customer.io/v1"}
START_DATE_FORMS = "YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ (ISO 8601) or MM/DD/YYYY"
SECRET_FIELDS = ("access_token", "app_api_key")
_MDY = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")


class Region(str, Enum):
    AUTO = "auto"
    US = "us"
    EU = "eu"


class CustomersMethod(str, Enum):
    AUTO = "auto"
    EXPORTS = "exports"
    SEARCH = "search"


def parse_start_date(value: str) -> int:
    """Unix seconds for the accepted `start_date` forms; ValueError quoting the value otherwise."""
    text = value.strip()
    match = _MDY.match(text)
    try:
        if match:
            month, day, year = (int(g) for g in match.groups())
            moment = datetime(year, month, day, tzinfo=timezone.utc)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
    except ValueError:
        raise ValueError(f"'{value}' is not a date; use {START_DATE_FORMS}, e.g. 2024-01-31") from None
    return int(moment.timestamp())


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class CustomerioConfig(BaseModel):
    """Settings of one Customer.io workspace connection."""

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
        title="Customer.io Source Spec",
        json_schema_extra={"additionalProperties": True},
    )

    access_token: str = Field(
        title="App API key",
        description="The workspace's App API key (Account Settings > API Credentials > App API Keys). "
        "Track API keys do not work. `app_api_key` is accepted as the same setting.",
        json_schema_extra={"airbyte_secret": True, "order": 0},
    )
    app_api_key: str | None = Field(
        default=None,
        title="App API key (alias)",
        description="Alias of access_token, the key name Airbyte's own Customer.io connector uses.",
        json_schema_extra={"airbyte_secret": True, "airbyte_hidden": True, "order": 99},
    )
    start_date: str | None = Field(
        default=None,
        title="Start date",
        description=f"Replicate data from this date (UTC). Accepted: {START_DATE_FORMS}. "
        "Empty: everything the API still has.",
        json_schema_extra={"examples": ["2024-01-31", "2024-01-31T00:00:00Z", "01/31/2024"], "order": 1},
    )
    region: Region = Field(
        default=Region.AUTO,
        title="Region",
        description="Data center of the workspace. `auto` tries the US host, then the EU host "
        "(the wrong one answers 401); check reports the region it found.",
        json_schema_extra={"order": 2},
    )
    base_url: str | None = Field(
        default=None,
        title="API base URL (advanced)",
        description="Replaces the API root, e.g. a proxy or the local sandbox. https:// is required "
        "except for loopback hosts, so that the key never crosses a network in clear text.",
        json_schema_extra={"order": 3},
    )
    requests_per_second: float = Field(
        default=10.0,
        gt=0,
        le=100,
        title="Requests per second",
        description="Ceiling for this connector's requests. Customer.io allows 10 per second per "
        "workspace, shared by every app using the key's workspace: lower it to leave room.",
        json_schema_extra={"order": 4},
    )
    lookback_window_minutes: int = Field(
        default=60,
        ge=0,
        title="Lookback window (minutes)",
        description="Incremental reads of list tables start this far behind the saved cursor "
        "(lists are unordered and may change during a sync).",
        json_schema_extra={"order": 5},
    )
    messages_lookback_days: int = Field(
        default=30,
        ge=0,
        le=180,
        title="Deliveries lookback (days)",
        description="Deliveries gain metrics (opens, clicks, conversions) after creation, so "
        "incremental reads of messages re-read this many days.",
        json_schema_extra={"order": 6},
    )
    customers_method: CustomersMethod = Field(
        default=CustomersMethod.AUTO,
        title="How to read customers",
        description="`exports` (one asynchronous customer export, fastest for large workspaces; each "
        "export also appears in the workspace's Exports list and in the `exports` stream; an export "
        "whose file does not check out fails the sync), `search` (search then hydrate 100 people a "
        "request) or `auto` (search when the workspace fits one search page, else an export, read by "
        "search instead when its file does not check out).",
        json_schema_extra={"order": 7},
    )
    export_timeout_minutes: int = Field(
        default=60,
        ge=1,
        title="Customer export timeout (minutes)",
        description="How long to wait for Customer.io to prepare a customer export.",
        json_schema_extra={"order": 8},
    )

    request_timeout_seconds: int = Field(
        default=60,
        ge=1,
        le=600,
        title="Request timeout (seconds)",
        description="An answer slower than this is abandoned and the request retried.",
        json_schema_extra={"order": 9},
    )
    metrics_lookback_days: int = Field(
        default=30,
        ge=0,
        le=365,
        title="Metrics lookback (days)",
        description="Opens, clicks and conversions keep arriving for days after a message is sent, so "
        "incremental reads of the daily metrics streams re-read this many days before the last day read.",
        json_schema_extra={"order": 10},
    )
    esp_suppression_domains: list[str] = Field(
        default_factory=list,
        title="ESP suppression sending domains",
        description="Sending domains whose ESP suppressions to read, one domain at a time, as "
        "Customer.io advises (an address can be suppressed on several domains). Each record then "
        "carries its `domain`, which joins the primary key (suppression_type, domain, email). Empty: "
        "the lists are read without a domain, keyed by suppression_type and email. Changing this "
        "changes the stream's primary key: refresh the stream's data after changing it.",
        json_schema_extra={"examples": [["mail.example.com"]], "order": 11},
    )
    emit_deletions: bool = Field(
        default=True,
        title="Emit deletions",
        description="Incremental reads of broadcasts, campaigns, newsletters, segments, snippets, "
        "collections and transactional messages, and of campaign and broadcast actions, newsletter "
        "variants and transactional contents (per parent), remember the keys listed by the last complete "
        "read, and emit a record with `_ab_cdc_deleted_at` set for each key no longer listed, so that "
        "destinations in Append + Deduped mode delete the row. Off: no such records, and no keys kept "
        "in the state.",
        json_schema_extra={"order": 12},
    )

    attribute_columns: bool = Field(
        default=True,
        title="Typed attribute columns",
        description="`discover` samples up to 1,000 people (about 11 requests) and adds each custom "
        "attribute it finds to the customers schema as a typed top-level column, `attr_<name>` (integer, "
        "number, boolean or string); `read` fills them from `attributes`, which keeps every raw value. "
        "Off: the customers schema stays fixed and discover samples nothing.",
        json_schema_extra={"order": 13},
    )

    @model_validator(mode="before")
    @classmethod
    def _accept_app_api_key(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and not data.get("access_token") and data.get("app_api_key"):
            data = {**data, "access_token": data["app_api_key"]}
        return data

    @field_validator("access_token")
    @classmethod
    def _key_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is empty; paste the workspace's App API key")
        return value.strip()

    @field_validator("start_date")
    @classmethod
    def _start_date_parses(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parse_start_date(value)
        return value

    @field_validator("esp_suppression_domains")
    @classmethod
    def _domains_are_host_names(cls, value: list[str]) -> list[str]:
        domains: list[str] = []
        for raw in value:
            domain = raw.strip().lower().rstrip(".")
            if not domain or any(c.isspace() or c in "/:@?#" for c in domain):
                raise ValueError(f"'{raw}' is not a sending domain; write host names like mail.example.com")
            if domain not in domains:
                domains.append(domain)
        return domains

    @field_validator("base_url")
    @classmethod
    def _base_url_is_safe(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"'{value}' is not an http(s) URL; use e.g. https://api.customer.io/v1")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ValueError(
                f"'{value}' uses http:// to a non-loopback host; use https:// so the key is not sent "
                "in clear text (http:// is allowed only for localhost / 127.0.0.1)"
            )
        return value.strip().rstrip("/")

    @property
    def start_timestamp(self) -> int | None:
        return parse_start_date(self.start_date) if self.start_date else None

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> CustomerioConfig:
        """Validated config, or a `config_error` naming the field (never echoing the key)."""
        from source_customerio.errors import config_error  # imports the CDK, which `spec` does without

        try:
            return cls.model_validate(dict(config))
        except ValidationError as error:
            raise config_error(describe_validation_error(error)) from None

    @classmethod
    def connection_specification(cls) -> dict[str, Any]:
        schema = cls.model_json_schema()
        schema["$schema"] = "http://json-schema.org/draft-07/schema#"
        schema["required"] = ["access_token"]
        schema.pop("$defs", None)
        for name, prop in schema["properties"].items():
            _flatten_optional(prop)
            if name in ("region", "customers_method"):
                prop.pop("$ref", None)
                prop.pop("allOf", None)
                prop["type"] = "string"
                prop["enum"] = [m.value for m in (Region if name == "region" else CustomersMethod)]
                # pydantic drops a title equal to the enum class's name; Airbyte's UI needs it.
                prop["title"] = cls.model_fields[name].title
        return schema


def _flatten_optional(prop: dict[str, Any]) -> None:
    """`str | None` becomes `{"type": "string"}` (an absent key), which Airbyte's UI renders."""
    options = prop.pop("anyOf", None)
    if options:
        non_null = [o for o in options if o.get("type") != "null"]
        if len(non_null) == 1:
            prop.update(non_null[0])
    if prop.get("default", "") is None:
        prop.pop("default")


def describe_validation_error(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "config"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "is required: the workspace's App API key" if field == "access_token" else "is required"
        elif item["type"] == "enum":
            message = f"'{item.get('input')}' is not allowed; {message.lower()}"
        elif field not in SECRET_FIELDS and item["type"] not in ("value_error",):
            message = f"{message} (got {item.get('input')!r})"
        problems.append(f"{field} {message}")
    return "Invalid configuration: " + "; ".join(problems) + "."
