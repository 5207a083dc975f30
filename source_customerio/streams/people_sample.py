"""discover's sample of people, for typed attribute columns (attribute_columns.py): one search page of up to
1,000 people, then their attributes, 100 a request (4 side by side under the shared budget): 11 requests,
12 when Customer.io refuses the filter naming `cio_id` (people_filter.py). `check` and `read` never sample.

A sample that fails (403, a refused filter, an API that keeps failing) or finds nobody does not fail
discover: the schema then has no typed columns, and a warning says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_customerio.errors import RequestRefusedError, StreamForbiddenError
from source_customerio.streams.attribute_columns import AttributeColumns
from source_customerio.streams.people_search import HYDRATE_BATCH, cio_ids_of, person_record

SAMPLE_PEOPLE = 1_000
SAMPLE_WORKERS = 4

Search = Callable[[str | None], Any]
Fetch = Callable[[list[str], str], list[Any]]


def sample_people(search: Search, fetch: Fetch) -> list[dict[str, Any]]:
    ids = cio_ids_of(search(None))[:SAMPLE_PEOPLE]
    batches = [ids[i : i + HYDRATE_BATCH] for i in range(0, len(ids), HYDRATE_BATCH)]
    with ThreadPoolExecutor(max_workers=SAMPLE_WORKERS, thread_name_prefix="customers-sample") as pool:
        answers = list(pool.map(lambda batch: fetch(batch, "cio_id"), batches))
    return [person for answer in answers for item in answer if (person := person_record(item))]


def discover_columns(search: Search, fetch: Fetch, logger: logging.Logger) -> AttributeColumns:
    """The typed columns of a sample's attributes; none, with a warning saying why, when it fails."""
    try:
        people = sample_people(search, fetch)
        reason = None if people else "the workspace has no people to sample"
    except StreamForbiddenError as forbidden:
        people, reason = (
            [],
            f"the App API key may not search people ({forbidden.endpoint}: {forbidden.detail})",
        )
    except Exception as error:  # a refused filter, an API that kept failing: the schema stays fixed
        reason, people = f"sampling people failed ({_why(error)})", []
    if reason is not None:
        logger.warning(
            f"Stream 'customers': no typed attribute columns: {reason}. Every attribute is still in "
            "`attributes`; run discover again to add the columns."
        )
        return AttributeColumns()
    columns = AttributeColumns.from_sample(people)
    logger.info(
        f"Stream 'customers': {len(columns)} typed attribute columns from a sample of {len(people):,} people."
    )
    for note in columns.notes:
        logger.warning(f"Stream 'customers': typed attribute columns: {note}; they stay in `attributes`.")
    return columns


def _why(error: Exception) -> str:
    if isinstance(error, RequestRefusedError):
        return f"{error.endpoint} answered {error.status}: {error.detail}"
    message = error.message if isinstance(error, AirbyteTracedException) else None
    return (message or type(error).__name__).removeprefix("Stream 'customers': ").rstrip(".")
