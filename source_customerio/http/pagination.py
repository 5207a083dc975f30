"""The App API's three paging styles, each written once.

A paginator turns one decoded page into the query parameters of the next page, or None at the end.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class Paginator(ABC):
    def __init__(self, page_size: int | None = None) -> None:
        self.page_size = page_size
        # The parameters of the page after the last one read (None at the end), kept for callers
        # that stop after one page and must say where to resume.
        self.following: dict[str, Any] | None = None

    def first_params(self) -> dict[str, Any]:
        return {"limit": self.page_size} if self.page_size else {}

    @abstractmethod
    def next_params(self, payload: Any, records_on_page: int) -> dict[str, Any] | None:
        """Parameters for the following page, or None when this page was the last."""


class NoPagination(Paginator):
    def first_params(self) -> dict[str, Any]:
        return {}

    def next_params(self, payload: Any, records_on_page: int) -> dict[str, Any] | None:
        return None


class CursorPagination(Paginator):
    """`next` in the answer becomes `start` in the next request.

    The end is an empty, null or missing `next`, an empty page (a cursor that would never move), or
    a cursor already followed once (a server loop would otherwise never end).
    """

    def __init__(self, page_size: int | None = None, start: str | None = None) -> None:
        super().__init__(page_size)
        self.start = start
        self._seen: set[str] = set()

    def first_params(self) -> dict[str, Any]:
        params = super().first_params()
        if self.start:
            params["start"] = self.start
        return params

    def next_params(self, payload: Any, records_on_page: int) -> dict[str, Any] | None:
        token = payload.get("next") if isinstance(payload, dict) else None
        if token in (None, "") or records_on_page == 0:
            return None
        token = str(token)
        if token in self._seen:
            return None
        self._seen.add(token)
        params = super().first_params()
        params["start"] = token
        return params


class OffsetPagination(Paginator):
    """`offset` grows by the rows received; no `next` is given (ESP suppressions).

    A server may clamp `limit` below what we ask, so a short page only proves the end when a longer
    page has been seen before; otherwise the next (empty) page says so.
    """

    def __init__(self, page_size: int) -> None:
        super().__init__(page_size)
        self.offset = 0
        self._longest_page = 0

    def first_params(self) -> dict[str, Any]:
        return {"limit": self.page_size, "offset": 0}

    def next_params(self, payload: Any, records_on_page: int) -> dict[str, Any] | None:
        if records_on_page == 0 or records_on_page < self._longest_page:
            return None
        self._longest_page = max(self._longest_page, records_on_page)
        self.offset += records_on_page
        return {"limit": self.page_size, "offset": self.offset}
