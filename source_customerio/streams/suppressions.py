"""ESP suppressions: four lists (`GET /v1/esp/suppression/{type}`) paged by offset, read side by side.

One address can be suppressed under several types, so the type is added to each record and is part
of the key. The lists have no `next` cursor (see OffsetPagination).

An address can also be suppressed on several sending domains, and Customer.io advises reading each
domain apart (`domain` parameter). With `esp_suppression_domains` set, every list is read once per
domain, each record carries its `domain`, and the key is (suppression_type, domain, email). Without
it, the lists are read without a domain as before: no `domain` field, key (suppression_type, email).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams.core import StreamData

from source_customerio.errors import RequestRefusedError, StreamForbiddenError, config_error
from source_customerio.http.pagination import OffsetPagination
from source_customerio.streams.base import CustomerioStream
from source_customerio.streams.prefetch import Prefetcher

SUPPRESSION_TYPES = ("bounces", "blocks", "spam_reports", "invalid_emails")
PAGE_SIZE = 1000

# (suppression type, sending domain or None)
Unit = tuple[str, "str | None"]


class EspSuppressions(CustomerioStream):
    """https://docs.customer.io/integrations/api/app/tag/esp-suppression/"""

    @property
    def name(self) -> str:
        return "eps_suppression"

    @property
    def domains(self) -> list[str]:
        return list(self.context.config.esp_suppression_domains)

    @property
    def primary_key(self) -> list[str]:  # type: ignore[override]
        return ["suppression_type", "domain", "email"] if self.domains else ["suppression_type", "email"]

    def units(self) -> list[Unit]:
        domains: list[str | None] = [*self.domains] or [None]
        return [(kind, domain) for domain in domains for kind in SUPPRESSION_TYPES]

    def _unit_pages(self, unit: Unit) -> Iterator[tuple[Unit, list[Any]]]:
        kind, domain = unit
        path = f"esp/suppression/{kind}"
        which = f"the {kind} list" + (f" of {domain}" if domain else "")
        params = {"domain": domain} if domain else {}
        try:
            # Without a domain, a list that does not exist (404) is read as empty. How a domain the
            # workspace does not send from is answered is not documented: an empty list, a 404 (read as
            # empty, with a warning) or a 400/422 (a config error) (sandbox: Quirks.unknown_domain_status).
            pages = self.pages(
                path, OffsetPagination(PAGE_SIZE), "suppressions", params, allow_missing=not domain
            )
            for records in pages:
                yield unit, records
        except StreamForbiddenError as forbidden:
            # A key may be refused one list and not the others: skip that list only.
            self.logger.warning(
                f"Stream 'eps_suppression': {which} is skipped: the App API key may not read "
                f"{forbidden.endpoint} (403: {forbidden.detail}). The other lists are read."
            )
        except RequestRefusedError as refused:
            if not domain or refused.status not in (400, 404, 422):
                raise
            if refused.status == 404:
                self.logger.warning(
                    f"Stream 'eps_suppression': {which} was not found (404: {refused.detail}); it is read "
                    f"as empty. Check that {domain} is one of the workspace's sending domains "
                    "(esp_suppression_domains)."
                )
                return
            raise config_error(
                f"Stream 'eps_suppression': Customer.io refused the sending domain '{domain}' "
                f"({refused.status}: {refused.detail}). Check esp_suppression_domains."
            ) from None

    def probe(self) -> str | None:
        refused = []
        for suppression_type in SUPPRESSION_TYPES:
            try:
                self.request(f"esp/suppression/{suppression_type}", {"limit": 1}, allow_missing=True)
            except StreamForbiddenError as forbidden:
                refused.append(f"{suppression_type}: {forbidden.detail}")
        return "; ".join(refused) or None

    def read_stream(self, sync_mode: SyncMode, stream_slice: Mapping[str, Any]) -> Iterable[StreamData]:
        units = self.units()
        prefetcher: Prefetcher[Unit, tuple[Unit, list[Any]]] = Prefetcher(
            units, self._unit_pages, ahead=len(SUPPRESSION_TYPES)
        )
        normalize = self.normalize
        try:
            for position in range(len(units)):
                for (kind, domain), records in prefetcher.items(position):
                    for record in records:
                        if isinstance(record, dict):
                            record["suppression_type"] = kind
                            if domain:
                                record["domain"] = domain
                            yield normalize(record)
                    self.progress.add(len(records))
        finally:
            prefetcher.close()
