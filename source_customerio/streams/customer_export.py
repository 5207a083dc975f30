"""People through Customer.io's asynchronous customer export.

`POST /v1/exports/customers` starts an export of everyone matching a filter; `GET /v1/exports/{id}`
says when it is done; `GET /v1/exports/{id}/download` gives a signed link (valid 15 minutes) to a
CSV. A million people arrive in a handful of requests instead of 11,000 search-and-hydrate calls.

The link is signed: it is fetched without the API key (the key must never leave for another host)
and never logged in full. The CSV is parsed as it streams in, so memory stays flat; a download cut
off part-way is fetched again with a fresh link, skipping the rows already emitted.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3

from source_customerio.errors import transient_error

# The CSV's identifier columns; every other column is a custom attribute.
IDENTIFIER_COLUMNS = ("cio_id", "id", "email")
DOWNLOAD_ATTEMPTS = 5
POLL_FIRST_WAIT_SECONDS = 1.0
POLL_MAX_WAIT_SECONDS = 30.0


def redact_link(url: str) -> str:
    """Host and path start only: the query string of a signed link is a credential."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"


def row_to_person(header: list[str], row: list[str]) -> dict[str, Any] | None:
    values = dict(zip(header, row, strict=False))
    cio_id = values.get("cio_id") or None
    if not cio_id:
        return None
    identifiers = {name: values.get(name) or None for name in IDENTIFIER_COLUMNS}
    attributes = {name: value for name, value in values.items() if value != ""}
    return {
        "cio_id": cio_id,
        "id": identifiers["id"],
        "email": identifiers["email"],
        "identifiers": identifiers,
        "attributes": attributes,
    }


class CustomerExport:
    """One export, from start to the last CSV row. `request` is the stream's authenticated call."""

    def __init__(
        self,
        request: Callable[..., Any],
        log: Any,
        timeout_seconds: float,
        download_timeout: tuple[float, float],
    ) -> None:
        self.request = request
        self.log = log
        self.timeout_seconds = timeout_seconds
        self.download_timeout = download_timeout
        # A session of its own, without the API key: the download host is not Customer.io's API.
        self.session = requests.Session()

    def start(self, people_filter: dict[str, Any]) -> int:
        payload = self.request("exports/customers", json={"filters": people_filter}, method="POST")
        export = payload.get("export") if isinstance(payload, dict) else None
        if not isinstance(export, dict) or export.get("id") is None:
            raise transient_error("Customer.io did not return an export id for POST /v1/exports/customers.")
        self.log.info(f"Stream 'customers': started customer export {export['id']}.")
        return int(export["id"])

    def wait_until_done(self, export_id: int) -> dict[str, Any] | None:
        """The finished export's record; None when the export no longer exists (start a new one)."""
        started = time.monotonic()
        wait = POLL_FIRST_WAIT_SECONDS
        while True:
            payload = self.request(f"exports/{export_id}", allow_missing=True)
            if payload is None:
                return None
            export = payload.get("export", payload) if isinstance(payload, dict) else {}
            status = export.get("status")
            if status == "done":
                self.log.info(
                    f"Stream 'customers': export {export_id} is ready ({export.get('total')} people)."
                )
                return dict(export)
            if status == "failed" or export.get("failed") is True:
                raise transient_error(
                    f"Customer.io reports customer export {export_id} failed. Run the sync again, or "
                    "set customers_method to 'search'."
                )
            elapsed = time.monotonic() - started
            if elapsed > self.timeout_seconds:
                raise transient_error(
                    f"Customer export {export_id} was not ready after {elapsed / 60:.0f} minutes "
                    "(export_timeout_minutes). Run the sync again to keep waiting for the same export, "
                    "raise export_timeout_minutes, or set customers_method to 'search'."
                )
            self.log.info(
                f"Stream 'customers': export {export_id} is {status or 'pending'} after {elapsed:.0f} s; "
                f"checking again in {wait:.0f} s."
            )
            time.sleep(wait)
            wait = min(wait * 2, POLL_MAX_WAIT_SECONDS)

    def _link(self, export_id: int) -> str:
        payload = self.request(f"exports/{export_id}/download")
        url = payload.get("url") if isinstance(payload, dict) else None
        if not url:
            raise transient_error(f"Customer.io gave no download link for export {export_id}.")
        return str(url)

    def rows(self, export_id: int, skip: int = 0) -> Iterator[dict[str, Any]]:
        """The people of a finished export, from row `skip` on, re-downloading after a cut."""
        emitted = skip
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            link = self._link(export_id)
            try:
                for position, person in enumerate(self._download(link)):
                    if position >= emitted:
                        emitted += 1
                        yield person
                return
            # Reading the raw stream, a cut connection surfaces as urllib3's or the socket's error.
            except (
                requests.RequestException,
                urllib3.exceptions.HTTPError,
                OSError,
                csv.Error,
                UnicodeDecodeError,
            ) as error:
                self.log.warning(
                    f"Stream 'customers': download of export {export_id} from {redact_link(link)} broke "
                    f"after {emitted} rows ({type(error).__name__}); try {attempt} of {DOWNLOAD_ATTEMPTS}."
                )
                time.sleep(min(2**attempt, 30))
        raise transient_error(
            f"Could not download customer export {export_id} after {DOWNLOAD_ATTEMPTS} attempts; "
            "run the sync again to resume after the rows already read."
        )

    def _download(self, link: str) -> Iterator[dict[str, Any]]:
        with self.session.get(link, stream=True, timeout=self.download_timeout) as response:
            if response.status_code != 200:
                raise requests.HTTPError(f"download answered {response.status_code}")
            response.raw.decode_content = True
            text = io.TextIOWrapper(response.raw, encoding="utf-8", newline="")  # type: ignore[type-var]
            reader = csv.reader(text)
            header = next(reader, None)
            if header is None:
                return
            for row in reader:
                person = row_to_person(header, row)
                if person is not None:
                    yield person
