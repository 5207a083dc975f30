"""What each kind of answer from the App API means for the sync, as one table.

The CDK's HttpClient consults this through `get_error_handler()` / `get_backoff_strategy()`, and
its retry loop does the waiting. Two things the CDK's default handler cannot see are added here:
an exception of any `requests` subclass (it matches the exact class only), and a 200 whose body is
not JSON (a proxy's HTML page, a body cut off mid-way), which is retried like a 502.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers import (
    BackoffStrategy,
    ErrorResolution,
    HttpStatusErrorHandler,
    ResponseAction,
)
from airbyte_cdk.sources.streams.http.error_handlers.default_error_mapping import DEFAULT_ERROR_MAPPING
from airbyte_cdk.utils.airbyte_secrets_utils import add_to_secrets

from source_customerio.http.budget import _retry_after_seconds

PAYLOAD_ATTRIBUTE = "_customerio_payload"
MAX_RETRIES = 8
MAX_BACKOFF_SECONDS = 60.0
# A factor in [0, 1] on the exponential waits (never on a server's Retry-After), for tests and
# benchmarks that drive the retry bound in seconds rather than minutes. Unset in production.
BACKOFF_SCALE_ENV = "SOURCE_CUSTOMERIO_BACKOFF_SCALE"
# A zero wait would hand the retry to the CDK's own exponential schedule: keep a small positive one.
MIN_BACKOFF_SECONDS = 0.01

# GET /v1/exports/{id}/download answers {"url": <signed link>}.
SIGNED_LINK_ENDPOINT = re.compile(r"/exports/[^/]+/download/?$")

UNAUTHORIZED = (
    "Customer.io rejected the API key (401). Check that it is an App API key (Account Settings > API "
    "Credentials > App API Keys), not a Track API key, and that the region matches the workspace "
    "(US: api.customer.io, EU: api-eu.customer.io; region 'auto' tries both)."
)


def _retry(message: str) -> ErrorResolution:
    return ErrorResolution(ResponseAction.RETRY, FailureType.transient_error, message)


# Passed back to the stream (`CustomerioStream.request`), which knows what the answer means there: a 403
# skips the stream, a 404 may be a deleted parent, a 400 to a saved page cursor means it expired.
PASSED_BACK = ErrorResolution(ResponseAction.IGNORE, None, None)

ERROR_TABLE: Mapping[Any, ErrorResolution] = {
    **DEFAULT_ERROR_MAPPING,
    401: ErrorResolution(ResponseAction.FAIL, FailureType.config_error, UNAUTHORIZED),
    400: PASSED_BACK,
    403: PASSED_BACK,
    404: PASSED_BACK,
    405: PASSED_BACK,
    409: PASSED_BACK,
    410: PASSED_BACK,
    422: PASSED_BACK,
    408: _retry("Customer.io timed out (408)."),
    429: ErrorResolution(
        ResponseAction.RATE_LIMITED, FailureType.transient_error, "Customer.io rate limit reached (429)."
    ),
    500: _retry("Customer.io answered 500."),
    502: _retry("Customer.io answered 502 (bad gateway)."),
    503: _retry("Customer.io answered 503 (unavailable)."),
    504: _retry("Customer.io answered 504 (gateway timeout)."),
}


def endpoint_of(url: str | None) -> str:
    """The path of a request URL, which carries no secret (the key travels in a header)."""
    return urlsplit(url or "").path or "?"


class CustomerioErrorHandler(HttpStatusErrorHandler):
    def __init__(self, logger: logging.Logger, max_retries: int = MAX_RETRIES) -> None:
        super().__init__(logger=logger, error_mapping=ERROR_TABLE, max_retries=max_retries)

    def interpret_response(
        self, response_or_exception: requests.Response | Exception | None = None
    ) -> ErrorResolution:
        if isinstance(response_or_exception, requests.RequestException) and not isinstance(
            response_or_exception, (requests.exceptions.InvalidSchema, requests.exceptions.InvalidURL)
        ):
            request = response_or_exception.request
            kind = type(response_or_exception).__name__
            return _retry(f"{kind} on {endpoint_of(getattr(request, 'url', None))}; retrying.")
        if isinstance(response_or_exception, requests.Response):
            response = response_or_exception
            if 500 <= response.status_code < 600 and response.status_code not in ERROR_TABLE:
                return _retry(f"Customer.io answered {response.status_code}.")
            if 400 <= response.status_code < 500 and response.status_code not in ERROR_TABLE:
                return PASSED_BACK
            if response.ok and not _decode_payload(response):
                return _retry(
                    f"Customer.io answered {endpoint_of(response.request.url)} with a body that is not "
                    f"JSON ({response.headers.get('Content-Type', 'no content type')}, "
                    f"{len(response.content)} bytes): a proxy error page or a cut-off answer."
                )
        return super().interpret_response(response_or_exception)


def _decode_payload(response: requests.Response) -> bool:
    """Parse the body once, here, and keep it on the response for the stream to use."""
    try:
        payload = orjson.loads(response.content)
    except (orjson.JSONDecodeError, requests.RequestException):
        return False
    setattr(response, PAYLOAD_ATTRIBUTE, payload)
    _hide_signed_link(response, payload)
    return True


def _hide_signed_link(response: requests.Response, payload: Any) -> None:
    """A customer export's download link is signed: whoever holds it can read every person in the
    workspace for 15 minutes. Hand it to the CDK's secret filter before anything can log it (the
    CDK logs response bodies in debug mode, after consulting this handler)."""
    request_url = getattr(response.request, "url", None) or response.url
    if not SIGNED_LINK_ENDPOINT.search(urlsplit(request_url or "").path) or not isinstance(payload, dict):
        return
    link = payload.get("url")
    if not isinstance(link, str) or not link:
        return
    parts = urlsplit(link)
    for secret in (link, parts.query, parts.path if len(parts.path) > 1 else ""):
        if secret:
            add_to_secrets(secret)


def payload_of(response: requests.Response) -> Any:
    if not hasattr(response, PAYLOAD_ATTRIBUTE):
        _decode_payload(response)
    return getattr(response, PAYLOAD_ATTRIBUTE, None)


class RetryAfterBackoff(BackoffStrategy):
    """Wait what a 429 asks (Retry-After); otherwise back off exponentially, capped.

    The CDK adds one second to whatever this returns. Each retry is logged with its reason and
    endpoint (the CDK's own line calls every retry a rate limit).
    """

    def __init__(
        self,
        base_seconds: float = 1.0,
        cap_seconds: float = MAX_BACKOFF_SECONDS,
        logger: logging.Logger | None = None,
    ) -> None:
        self.base_seconds = base_seconds
        self.cap_seconds = cap_seconds
        self.scale = backoff_scale()
        self.logger = logger or logging.getLogger("airbyte")

    def backoff_time(
        self,
        response_or_exception: requests.Response | requests.RequestException | None,
        attempt_count: int,
    ) -> float | None:
        wait = self._wait(response_or_exception, attempt_count)
        where, reason = _endpoint_of_attempt(response_or_exception), _reason(response_or_exception)
        if attempt_count > MAX_RETRIES:
            # The CDK asks once more after the last attempt, then gives up without waiting.
            self.logger.info(f"Giving up on {where} after {attempt_count} attempts: {reason}.")
        else:
            self.logger.info(
                f"Retrying {where} in {wait + 1:.1f} s (retry {attempt_count} of {MAX_RETRIES}): {reason}."
            )
        return wait

    def _wait(
        self, response_or_exception: requests.Response | requests.RequestException | None, attempt_count: int
    ) -> float:
        if isinstance(response_or_exception, requests.Response):
            retry_after = _retry_after_seconds(response_or_exception)
            if retry_after is not None:
                return min(retry_after, self.cap_seconds * 5)
        wait = min(self.base_seconds * 2 ** max(0, attempt_count - 1), self.cap_seconds) * self.scale
        return max(wait, MIN_BACKOFF_SECONDS)


def _endpoint_of_attempt(response_or_exception: Any) -> str:
    request = getattr(response_or_exception, "request", None)
    method = getattr(request, "method", None) or ""
    return f"{method} {endpoint_of(getattr(request, 'url', None))}".strip()


def _reason(response_or_exception: Any) -> str:
    if isinstance(response_or_exception, requests.Response):
        status = response_or_exception.status_code
        if status == 429:
            retry_after = response_or_exception.headers.get("Retry-After")
            if retry_after is None:
                return "rate limited (429, Retry-After: none; a daily quota may have been reached)"
            return f"rate limited (429, Retry-After: {retry_after})"
        if response_or_exception.ok:
            kind = response_or_exception.headers.get("Content-Type", "no content type")
            return f"the body is not JSON ({kind}, {len(response_or_exception.content)} bytes)"
        return f"HTTP {status}"
    if isinstance(response_or_exception, BaseException):
        return type(response_or_exception).__name__
    return "no answer"


def backoff_scale() -> float:
    """The factor set by SOURCE_CUSTOMERIO_BACKOFF_SCALE, clamped to [0, 1]; 1 when unset or unreadable."""
    raw = os.environ.get(BACKOFF_SCALE_ENV, "").strip()
    try:
        value = float(raw) if raw else 1.0
    except ValueError:
        return 1.0
    return min(max(value, 0.0), 1.0) if value == value else 1.0


def quota_hint(error: BaseException) -> str | None:
    """What to do when retries ran out on 429s that came without Retry-After, else None.

    Customer.io leaves Retry-After out when a daily quota (not the per-second limit) is used up, so
    waiting seconds cannot help there (sandbox: Faults.retry_after_missing).
    """
    last = getattr(error, "_exception", None) or error.__context__
    response = getattr(last, "response", None)
    if not isinstance(response, requests.Response) or response.status_code != 429:
        return None
    if _retry_after_seconds(response) is not None:
        return None
    return (
        "Customer.io kept answering 429 (too many requests) without a Retry-After header, which it "
        "does when a daily request quota is used up: the workspace's quota may have been reached. "
        "Run the sync again once the quota has reset (it resumes from the last state), lower "
        "requests_per_second if other apps share the workspace, or ask Customer.io support about "
        "the workspace's limits"
    )
