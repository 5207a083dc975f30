"""Customer.io's asynchronous customer export, from start to a file on disk.

`POST /v1/exports/customers` starts an export of everyone matching a filter; `GET /v1/exports/{id}`
says when it is done; `GET /v1/exports/{id}/download` gives a signed link (valid 15 minutes) to the file.
A million people arrive in a handful of requests instead of 11,000 search-and-hydrate calls. Each
export also shows up in the workspace's own Exports list (and in the `exports` stream).

The link is signed: it is fetched without the API key (the key must never leave for another host)
and never logged in full. The whole file is downloaded to disk before any of it is used (people_export.py
checks it first); a download cut off part-way is fetched again with a fresh link.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3

from source_customerio.errors import transient_error

DOWNLOAD_ATTEMPTS = 5
POLL_FIRST_WAIT_SECONDS = 1.0
POLL_MAX_WAIT_SECONDS = 30.0
COPY_CHUNK = 1 << 16
# The download answer's key for the link: `url` in the OpenAPI document, `link` in customerio-node's
# comment (🔶; `Quirks.export_link_key`).
LINK_KEYS = ("url", "link")


def redact_link(url: str) -> str:
    """Host and path start only: the query string of a signed link is a credential."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"


class CustomerExport:
    """One export, from its start to its file on disk. `request` is the stream's authenticated call."""

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
        """A new export's id; a filter Customer.io refuses raises RequestRefusedError."""
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
        link = next((payload.get(k) for k in LINK_KEYS if isinstance(payload, dict) and payload.get(k)), None)
        if not isinstance(link, str) or not link:
            keys = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
            raise transient_error(
                f"Customer.io gave no download link for export {export_id} (the answer holds {keys}; "
                f"expected one of {', '.join(LINK_KEYS)})."
            )
        return link

    def download(self, export_id: int, target: Path) -> int:
        """The export's file, as sent (decompressed by Content-Encoding only), into `target`; its size."""
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            link = self._link(export_id)
            try:
                with self.session.get(link, stream=True, timeout=self.download_timeout) as response:
                    if response.status_code != 200:
                        raise requests.HTTPError(f"download answered {response.status_code}")
                    response.raw.decode_content = True
                    with open(target, "wb") as out:
                        shutil.copyfileobj(response.raw, out, COPY_CHUNK)
                return target.stat().st_size
            # Reading the raw stream, a cut connection surfaces as urllib3's or the socket's error.
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
                self.log.warning(
                    f"Stream 'customers': download of export {export_id} from {redact_link(link)} broke "
                    f"({type(error).__name__}); try {attempt} of {DOWNLOAD_ATTEMPTS}."
                )
                time.sleep(min(2**attempt, 30))
        raise transient_error(
            f"Could not download customer export {export_id} after {DOWNLOAD_ATTEMPTS} attempts; "
            "run the sync again to resume after the rows already read."
        )
