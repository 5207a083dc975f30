"""The Customer.io source. `SourceCustomerio` is imported on first use: `spec` needs none of the CDK."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from source_customerio.source import SourceCustomerio

__all__ = ["SourceCustomerio"]


def __getattr__(name: str) -> Any:
    if name == "SourceCustomerio":
        from source_customerio.source import SourceCustomerio

        return SourceCustomerio
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
