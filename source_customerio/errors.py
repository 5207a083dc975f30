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


class RequestRefusedError(AirbyteTracedException):
    """The API refused a request outright (400, 404, 405, 409, 410, 422): retrying it cannot help.

    Uncaught, it fails the stream like any traced error. A caller that knows what such an answer means
    (a saved page cursor the API has forgotten, a filter it does not accept) catches it and reads
    `status` and `detail`.
    """

    def __init__(
        self, message: str, status: int, detail: str, endpoint: str, failure_type: FailureType, stream: str
    ) -> None:
        from airbyte_cdk.models import StreamDescriptor

        super().__init__(
            message=message,
            internal_message=message,
            failure_type=failure_type,
            stream_descriptor=StreamDescriptor(name=stream),
        )
        self.status = status
        self.detail = detail
        self.endpoint = endpoint
