"""SourceCustomerio: spec, check, discover and read over the Customer.io App API."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from airbyte_cdk.models import (
    AirbyteCatalog,
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    ConnectorSpecification,
    Status,
)
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_customerio import region
from source_customerio.config import REGION_HOSTS, CustomerioConfig
from source_customerio.http.budget import RequestBudget
from source_customerio.spec import specification
from source_customerio.streams.attribute_columns import AttributeColumns
from source_customerio.streams.base import CustomerioStream, StreamContext
from source_customerio.streams.catalog import list_streams
from source_customerio.streams.child_stream import child_streams
from source_customerio.streams.customers import Customers
from source_customerio.streams.messages import Deliveries
from source_customerio.streams.metrics import metrics_streams
from source_customerio.streams.suppressions import EspSuppressions

PROBES_SIDE_BY_SIDE = 8
STREAM_ORDER = (
    "broadcasts", "transactional_messages", "messages", "customers", "campaigns", "newsletters",
    "segments", "exports", "activities", "sender_identities", "reporting_webhooks", "snippets",
    "ip_addresses", "collections", "topics", "workspaces", "types", "eps_suppression",
    # The tables under the tables (streams/children.py, streams/metrics.py).
    "campaign_actions", "broadcast_actions", "newsletter_variants", "transactional_contents",
    "segment_memberships", "campaign_metrics", "campaign_action_metrics", "broadcast_metrics",
    "newsletter_metrics",
)  # fmt: skip


@lru_cache(maxsize=8)
def _api_root(
    access_token: str, region_setting: str, base_url: str | None, hosts: tuple[tuple[str, str], ...]
) -> tuple[str, str]:
    config = CustomerioConfig(access_token=access_token, region=region_setting, base_url=base_url)  # type: ignore[arg-type]
    return region.resolve(config, logging.getLogger("airbyte"), hosts=dict(hosts))


def _probe(stream: CustomerioStream) -> str | None:
    return stream.probe()


class SourceCustomerio(AbstractSource):
    # The config is validated by the pydantic model, whose messages name the field to fix.
    check_config_against_spec = False

    def __init__(self, region_hosts: Mapping[str, str] | None = None) -> None:
        """`region_hosts` replaces Customer.io's region -> API root table (tests only)."""
        super().__init__()
        self.region_hosts = tuple(sorted((region_hosts or REGION_HOSTS).items()))
        # The configured catalog's `customers` schema, while a read runs: its typed attribute columns.
        self._customers_schema: Mapping[str, Any] | None = None
        # Set by cli.py's entrypoint, which writes RecordBatches itself (records.py).
        self.batch_records = False

    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        return ConnectorSpecification(**specification())

    def configure(self, config: Mapping[str, Any], temp_dir: str) -> Mapping[str, Any]:
        # Airbyte's own connector calls the key `app_api_key`: accept it so its users can switch.
        if not config.get("access_token") and config.get("app_api_key"):
            config = {**config, "access_token": config["app_api_key"]}
        return super().configure(config, temp_dir)

    def context(self, config: Mapping[str, Any]) -> StreamContext:
        settings = CustomerioConfig.from_mapping(config)
        url_base, _ = self.api_root(settings)
        return StreamContext(
            config=settings,
            url_base=url_base,
            budget=RequestBudget(settings.requests_per_second),
            request_timeout=(10.0, float(settings.request_timeout_seconds)),
            batch_records=self.batch_records,
        )

    def api_root(self, settings: CustomerioConfig) -> tuple[str, str]:
        return _api_root(settings.access_token, settings.region.value, settings.base_url, self.region_hosts)

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        context = self.context(config)
        streams: list[CustomerioStream] = [
            *list_streams(context),
            Deliveries(context),
            Customers(context, self._read_attribute_columns(context)),
            EspSuppressions(context),
            *child_streams(context),
            *metrics_streams(context),
        ]
        streams.sort(key=lambda s: STREAM_ORDER.index(s.name))
        return list(streams)

    def _read_attribute_columns(self, context: StreamContext) -> AttributeColumns:
        # A read fills the typed columns the user accepted (the configured catalog), never a new sample.
        if not context.config.attribute_columns:
            return AttributeColumns()
        return AttributeColumns.from_schema(self._customers_schema)

    def discover(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteCatalog:
        streams = self.streams(config)
        for stream in streams:
            if isinstance(stream, Customers) and stream.context.config.attribute_columns:
                stream.discover_attribute_columns()
        return AirbyteCatalog(streams=[stream.as_airbyte_stream() for stream in streams])

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: list[AirbyteStateMessage] | None = None,
    ) -> Iterator[AirbyteMessage]:
        configured = [c.stream.json_schema for c in catalog.streams if c.stream.name == "customers"]
        self._customers_schema = configured[0] if configured else None
        try:
            yield from super().read(logger, config, catalog, state)
        finally:
            self._customers_schema = None

    def check_connection(self, logger: logging.Logger, config: Mapping[str, Any]) -> tuple[bool, Any]:
        status = self.check(logger, config)
        return status.status == Status.SUCCEEDED, status.message

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        """Validate the settings, find the region, read the workspace list, and list the streams
        this key may not read (403), which a sync would skip."""
        try:
            context = self.context(config)
            _, where = self.api_root(context.config)
            streams = [s for s in self.streams(config) if isinstance(s, CustomerioStream)]
            # Each probe is one request (a few for some streams): side by side, under the shared budget.
            with ThreadPoolExecutor(max_workers=PROBES_SIDE_BY_SIDE, thread_name_prefix="probe") as pool:
                refusals = dict(zip([s.name for s in streams], pool.map(_probe, streams), strict=True))
            forbidden = [f"{name} ({detail})" for name, detail in refusals.items() if detail is not None]
        except AirbyteTracedException as error:
            return AirbyteConnectionStatus(status=Status.FAILED, message=error.message)
        message = f"Connected to Customer.io ({where})."
        if forbidden:
            message += (
                f" The key may not read {len(forbidden)} stream(s), which a sync skips with a warning: "
                f"{', '.join(forbidden)}. Give the App API key access to them to read them too."
            )
            logger.warning(message)
        else:
            message += f" The key may read all {len(streams)} streams."
            logger.info(message)
        return AirbyteConnectionStatus(status=Status.SUCCEEDED, message=message)
