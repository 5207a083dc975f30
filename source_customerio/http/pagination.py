"""The App API's three paging styles, each written once.

A paginator is a position in a walk through a list: `first_params()` are the query parameters of the
page it stands at, and `next_params()` moves it on from a decoded page (None at the end). A walk can
be read in one go, or one page at a time by calling `first_params()` again later (paged incremental
lists checkpoint after each page).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

# Empty pages that still carry a new `next` are followed (the documentation does not promise that a
# page is non-empty before the end), but not for ever: a server that keeps doing it is reported.
# (Sandbox: Quirks.empty_pages_with_next, Quirks.last_page_next, Quirks.cursor_loop.)
MAX_EMPTY_PAGES_IN_A_ROW = 200


class EndlessPagingError(AirbyteTracedException):
    """The API kept answering empty pages with new `next` cursors: the walk would never end."""

    def __init__(self, pages: int) -> None:
        message = (
            f"Customer.io answered {pages} empty pages in a row, each with a new `next` cursor; the "
            "connector stopped rather than page for ever. Records and state emitted so far are kept. "
            "Run the sync again; if it happens again, report it to Customer.io support with this message."
        )
        super().__init__(message=message, internal_message=message, failure_type=FailureType.system_error)


class Paginator(ABC):
    def __init__(self, page_size: int | None = None) -> None:
        self.page_size = page_size
        # The parameters of the page after the last one read (None at the end), kept for callers
        # that stop after one page and must say where to resume.
        self.following: dict[str, Any] | None = None
        # Where warnings go (a repeated cursor); the stream reading the walk sets its own.
        self.warn: Callable[[str], None] = logging.getLogger("airbyte").warning
        # Answers of this walk that carried no list under the records key (`{}` for an empty list, or
        # a glitch): a walk with any cannot prove that a record is gone.
        self.answers_without_records = 0

    def first_params(self) -> dict[str, Any]:
        return {"limit": self.page_size} if self.page_size else {}

    @abstractmethod
    def next_params(self, payload: Any, records_on_page: int) -> dict[str, Any] | None:
        """Parameters for the following page, or None when this page was the last."""

    @property
    def saved_start(self) -> str | None:
        """The cursor saved by an earlier sync that the walk stands at, until its page is read."""
        return None

    def restart(self) -> None:  # noqa: B027 (only cursor walks can resume from a saved point)
        """Go back to the list's first page (a saved cursor was refused)."""


class NoPagination(Paginator):
    def first_params(self) -> dict[str, Any]:
        return {}

    def next_params(self, payload: Any, records_on_page: int) -> dict[str, Any] | None:
        return None


class CursorPagination(Paginator):
    """`next` in the answer becomes `start` in the next request.

    The walk follows `next` while it is present and new, through empty pages. It ends on an empty,
    null or missing `next`; on a cursor already followed (a server loop: warned, never followed
    again); and loudly (EndlessPagingError) after MAX_EMPTY_PAGES_IN_A_ROW empty pages with new cursors.
    `start` resumes a walk; `saved=True` says that cursor comes from a saved state, which the API
    may have forgotten since (see `saved_start`).
    """

    def __init__(self, page_size: int | None = None, start: str | None = None, saved: bool = False) -> None:
        super().__init__(page_size)
        self.start = start or None
        self._saved = self.start if saved else None
        self._seen: set[str] = {self.start} if self.start else set()
        self.empty_in_a_row = 0
        self.finished = False

    def first_params(self) -> dict[str, Any]:
        params = super().first_params()
        if self.start:
            params["start"] = self.start
        return params

    @property
    def saved_start(self) -> str | None:
        return self._saved if self._saved is not None and self._saved == self.start else None

    def restart(self) -> None:
        self.start = self._saved = None
        self._seen.clear()
        self.empty_in_a_row = 0
        self.finished = False

    def next_params(self, payload: Any, records_on_page: int) -> dict[str, Any] | None:
        self._saved = None
        token = payload.get("next") if isinstance(payload, dict) else None
        self.empty_in_a_row = self.empty_in_a_row + 1 if records_on_page == 0 else 0
        if token is None or token == "":
            self.finished = True
            return None
        token = str(token)
        if token in self._seen:
            self.warn(
                f"the API answered a `next` cursor it had already given ({_short(token)}), which would "
                "repeat pages for ever; the list ends here (every page up to the repeat was read)."
            )
            self.finished = True
            return None
        if self.empty_in_a_row >= MAX_EMPTY_PAGES_IN_A_ROW:
            raise EndlessPagingError(self.empty_in_a_row)
        self._seen.add(token)
        self.start = token
        return self.first_params()


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
        return {"limit": self.page_size, "offset": self.offset}

    def next_params(self, payload: Any, records_on_page: int) -> dict[str, Any] | None:
        if records_on_page == 0 or records_on_page < self._longest_page:
            return None
        self._longest_page = max(self._longest_page, records_on_page)
        self.offset += records_on_page
        return {"limit": self.page_size, "offset": self.offset}


def _short(token: str) -> str:
    return token if len(token) <= 24 else f"{token[:20]}…"
