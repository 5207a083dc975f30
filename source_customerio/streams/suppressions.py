"""ESP suppressions: four lists (`GET /v1/esp/suppression/{type}`) paged by offset, read side by side.

One address can be suppressed under several types, so the type is added to each record and is part
of the key. The lists have no `next` cursor (see OffsetPagination).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams.core import StreamData

from source_customerio.errors import StreamForbiddenError
from source_customerio.http.pagination import OffsetPagination
from source_customerio.streams.base import CustomerioStream
from source_customerio.streams.prefetch import Prefetcher

SUPPRESSION_TYPES = ("bounces", "blocks", "spam_reports", "invalid_emails")
PAGE_SIZE = 1000


class EspSuppressions(CustomerioStream):
    """https://docs.customer.io/integrations/api/app/tag/esp-suppression/"""

    primary_key: ClassVar[list[str]] = ["suppression_type", "email"]  # type: ignore[misc]

    @property
    def name(self) -> str:
        return "eps_suppression"

    def _type_pages(self, suppression_type: str) -> Iterator[tuple[str, list[Any]]]:
        path = f"esp/suppression/{suppression_type}"
        try:
            for records in self.pages(path, OffsetPagination(PAGE_SIZE), "suppressions", allow_missing=True):
                yield suppression_type, records
        except StreamForbiddenError as forbidden:
            # A key may be refused one list and not the others: skip that list only.
            self.logger.warning(
                f"Stream 'eps_suppression': the {suppression_type} list is skipped: the App API key may "
                f"not read {forbidden.endpoint} (403: {forbidden.detail}). The other lists are read."
            )

    def probe(self) -> str | None:
        refused = []
        for suppression_type in SUPPRESSION_TYPES:
            try:
                self.request(f"esp/suppression/{suppression_type}", {"limit": 1}, allow_missing=True)
            except StreamForbiddenError as forbidden:
                refused.append(f"{suppression_type}: {forbidden.detail}")
        return "; ".join(refused) or None

    def read_stream(self, sync_mode: SyncMode, stream_slice: Mapping[str, Any]) -> Iterable[StreamData]:
        prefetcher: Prefetcher[str, tuple[str, list[Any]]] = Prefetcher(
            SUPPRESSION_TYPES, self._type_pages, ahead=len(SUPPRESSION_TYPES)
        )
        normalize = self.normalize
        try:
            for position in range(len(SUPPRESSION_TYPES)):
                for suppression_type, records in prefetcher.items(position):
                    for record in records:
                        if isinstance(record, dict):
                            record["suppression_type"] = suppression_type
                            yield normalize(record)
                    self.progress.add(len(records))
        finally:
            prefetcher.close()
