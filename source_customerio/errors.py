"""Exceptions the connector raises on purpose, each carrying what the user should do."""

from __future__ import annotations

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException


def config_error(message: str) -> AirbyteTracedException:
    """A problem the user fixes in the connection's settings (shown as-is in Airbyte's UI)."""
    return AirbyteTracedException(
        message=message, internal_message=message, failure_type=FailureType.config_error
    )


def transient_error(message: str, stream: str | None = None) -> AirbyteTracedException:
    """A failure that a later retry of the sync may not meet (the API kept failing)."""
    from airbyte_cdk.models import StreamDescriptor

    return AirbyteTracedException(
        message=message,
        internal_message=message,
        failure_type=FailureType.transient_error,
        stream_descriptor=StreamDescriptor(name=stream) if stream else None,
    )


class StreamForbiddenError(Exception):
    """The key may not read this endpoint (403): the stream is skipped, the sync goes on."""

    def __init__(self, endpoint: str, detail: str) -> None:
        super().__init__(f"{endpoint}: {detail}")
        self.endpoint = endpoint
        self.detail = detail


class RequestRefusedError(Exception):
    """A 400 that the stream's error handler passed back (only `customers` does): Customer.io refused
    the request itself, e.g. a search filter it does not support, and the stream may try another."""

    def __init__(self, endpoint: str, detail: str) -> None:
        super().__init__(f"{endpoint}: {detail}")
        self.endpoint = endpoint
        self.detail = detail
