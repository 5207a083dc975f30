"""The console script `source-customerio` (and `python -m source_customerio`)."""

from __future__ import annotations

import sys

from airbyte_cdk.entrypoint import launch

from source_customerio.source import SourceCustomerio


def run() -> None:
    launch(SourceCustomerio(), sys.argv[1:])
