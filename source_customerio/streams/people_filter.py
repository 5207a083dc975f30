"""The filters that match every person (people search and customer export), and what to do when
Customer.io refuses one.

No document says whether `cio_id` may be named in a filter (🔶; sandbox switch
`Quirks.search_refuses_cio_id`). Every person has a `cio_id`; most also have an `id` or an `email`. So
the filter asks for any of the three; if Customer.io answers 400 to it, the read warns once and goes on
with `id exists or email exists`, for the search and the export alike.
"""

from __future__ import annotations

import itertools
import logging
import threading
from typing import Any

from source_customerio.errors import RequestRefusedError


def exists(field: str) -> dict[str, Any]:
    return {"attribute": {"field": field, "operator": "exists"}}


EVERYONE: dict[str, Any] = {"or": [exists("cio_id"), exists("id"), exists("email")]}
ID_OR_EMAIL: dict[str, Any] = {"or": [exists("id"), exists("email")]}
FILTERS = {"everyone": EVERYONE, "id_or_email": ID_OR_EMAIL}


class PeopleFilter:
    """The match-everyone filter of one read: EVERYONE until Customer.io refuses it, then ID_OR_EMAIL."""

    def __init__(self, logger: logging.Logger, name: str = "everyone") -> None:
        self.logger = logger
        self.name = name if name in FILTERS else "everyone"
        self._lock = threading.Lock()

    @property
    def current(self) -> dict[str, Any]:
        return FILTERS[self.name]

    def refused(self, refusal: RequestRefusedError, filter_sent: dict[str, Any]) -> bool:
        """Whether to try again with the current filter: True when the refused one was EVERYONE.

        Several threads may meet the refusal at once; one warning is logged."""
        if filter_sent is not EVERYONE or refusal.status != 400:
            return False
        with self._lock:
            if self.name == "everyone":
                self.name = "id_or_email"
                self.logger.warning(
                    f"Stream 'customers': Customer.io refused the filter that matches every person "
                    f"({refusal.endpoint}, 400: {refusal.detail}). Going on with 'id exists or email "
                    "exists', for people search and customer export alike: a person with neither an id "
                    "nor an email is not matched by it."
                )
        return True


def partition(base: dict[str, Any], attributes: list[str]) -> list[dict[str, Any]]:
    """Disjoint filters whose union is `base`: one per combination of "has / has not" each attribute.

    Each person matches exactly one of them, whatever the attributes hold, so searches over them can run
    side by side and still find everyone `base` finds, once."""
    if not attributes:
        return [base]
    out = []
    for signs in itertools.product((True, False), repeat=len(attributes)):
        parts = [exists(a) if has else {"not": exists(a)} for a, has in zip(attributes, signs, strict=True)]
        out.append({"and": [base, *parts]})
    return out
