"""Read `customers` with PyAirbyte into a local DuckDB cache; print what DuckDB made of it, as JSON.

Runs in PyAirbyte's own virtualenv (`make pyairbyte`: .venv-pyairbyte), never in the connector's: PyAirbyte
brings DuckDB, SQLAlchemy and warehouse drivers the connector does not need. PyAirbyte discovers the schema
through our console script (`local_executable`), makes the DuckDB table from it, then reads.

    .venv-pyairbyte/bin/python integration_tests/pyairbyte/read_customers.py CONFIG EXECUTABLE CACHE_DIR

Prints {"columns": {name: DuckDB type}, "rows": [{column: value}], "plan_pro_ltv_over_100": [cio_id, ...]}.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def main(config_path: str, executable: str, cache_dir: str) -> None:
    import airbyte as ab
    from sqlalchemy import text

    with open(config_path) as file:
        config = json.load(file)
    source = ab.get_source(
        "source-customerio", config=config, local_executable=executable, install_if_missing=False
    )
    source.select_streams(["customers"])
    cache = ab.new_local_cache("customerio", cache_dir=cache_dir)
    source.read(cache=cache)
    table = cache.streams["customers"].to_sql_table()
    with cache.get_sql_engine().connect() as connection:
        columns = {
            str(row[0]): str(row[1])
            for row in connection.execute(
                text(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = :table AND table_schema = :schema"
                ),
                {"table": table.name, "schema": table.schema or "main"},
            )
        }
        name = f'"{table.schema}"."{table.name}"' if table.schema else f'"{table.name}"'
        typed = sorted(c for c in columns if c.startswith("attr_"))
        listed = ", ".join(f'"{c}"' for c in ["cio_id", *typed])
        rows = [
            dict(zip(["cio_id", *typed], row, strict=True))
            for row in connection.execute(text(f"SELECT {listed} FROM {name}"))
        ]
        # What a warehouse user writes, with no cast: the example.
        wanted = connection.execute(
            text(f"SELECT cio_id FROM {name} WHERE attr_plan = 'pro' AND attr_ltv > 100 ORDER BY cio_id")
        )
        pro_ltv = [str(row[0]) for row in wanted]
    print(json.dumps({"columns": columns, "rows": rows, "plan_pro_ltv_over_100": pro_ltv}, default=_plain))


def _plain(value: Any) -> Any:
    """DuckDB's DECIMAL values as JSON numbers; anything else JSON cannot hold as text."""
    from decimal import Decimal

    return float(value) if isinstance(value, Decimal) else str(value)


if __name__ == "__main__":
    main(*sys.argv[1:4])
