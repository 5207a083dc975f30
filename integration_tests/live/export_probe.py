"""The customer export file, as a workspace really makes it: one tiny export filtered to a single person,
its download answer and the file's bytes, compared with that person's attributes (hydration). This is the
only request of the contract that writes anything (the export shows up in the workspace's Exports list).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import time
from collections.abc import Callable
from typing import Any

import requests

from integration_tests.live.client import Client

IDENTIFIERS = ("cio_id", "id", "email")
FIXED_ORDER = list(IDENTIFIERS)


def analyze_export_file(raw: bytes, content_encoding: str = "") -> dict[str, Any]:
    """Compression, byte-order mark, header and data rows of an export file as downloaded (not decoded)."""
    gzipped = raw[:2] == b"\x1f\x8b"
    if gzipped:
        compression = "gzip" if "gzip" in content_encoding.lower() else "gzip_no_header"
        body = gzip.decompress(raw)
    else:
        compression, body = "none", raw
    rows = [row for row in csv.reader(io.StringIO(body.decode("utf-8-sig"))) if row]
    header = rows[0] if rows else []
    return {
        "export_compression": compression,
        "export_bom": body.startswith(codecs.BOM_UTF8),
        "header": header,
        "rows": [dict(zip(header, row, strict=False)) for row in rows[1:]],
    }


def compare_with_person(analysis: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
    """What the file's columns say next to one person's hydrated attributes."""
    header: list[str] = analysis["header"]
    names = {name for name in attributes if name not in IDENTIFIERS}
    row = analysis["rows"][0] if analysis["rows"] else {}
    has_cio_id = "cio_id" in header
    # A column that is neither an identifier nor one of the person's attributes, yet has a value for
    # them, is something else (segment ids, timestamps...). An empty one may be another person's attribute.
    unknown = sorted(c for c in header if c not in IDENTIFIERS and c not in names and row.get(c, "") != "")
    return {
        "export_cio_id_column": has_cio_id,
        "export_column_order": ("fixed" if header[:3] == FIXED_ORDER else "shuffled") if has_cio_id else None,
        "export_extra_columns": bool(unknown),
        "export_attributes_only_when_asked": bool(names - set(header)),
        "missing_attributes": sorted(names - set(header)),
        "unknown_columns": unknown,
    }


def _person(client: Client) -> tuple[str, str] | None:
    """(id_type, value) of one person with an email (or else an id)."""
    for field in ("email", "id"):
        flt = {"attribute": {"field": field, "operator": "exists"}}
        # A few pages at most: a page may be empty and still carry a `next`.
        found = client.walk("POST", "customers", "identifiers", {"limit": 10}, {"filter": flt}, max_pages=5)
        for ident in found.records:
            if isinstance(ident, dict) and ident.get(field):
                return field, str(ident[field])
    return None


def _attributes(client: Client, id_type: str, value: str) -> dict[str, Any]:
    answer = client.call("POST", "customers/attributes", {"id_type": id_type}, {"ids": [value]})
    people = answer.payload.get("customers") if isinstance(answer.payload, dict) else None
    if not people or not isinstance(people[0], dict):
        return {}
    person = people[0].get("customer", people[0])
    attributes = person.get("attributes") if isinstance(person, dict) else None
    return dict(attributes) if isinstance(attributes, dict) else {}


def probe_export(
    client: Client, timeout_seconds: float = 600.0, log: Callable[[str], None] = print
) -> tuple[dict[str, Any], list[str]]:
    """(observed export switches, notes). An empty dict when no export could be made (see notes)."""
    notes: list[str] = []
    person = _person(client)
    if person is None:
        return {}, ["export: no person with an email or id to export"]
    id_type, value = person
    attributes = _attributes(client, id_type, value)
    flt = {"and": [{"attribute": {"field": id_type, "operator": "eq", "value": value}}]}
    created = client.call("POST", "exports/customers", json={"filters": flt})
    started = created.payload.get("export") if isinstance(created.payload, dict) else None
    if created.status != 200 or not isinstance(started, dict):
        return {}, [f"export: POST /exports/customers answered {created.status}: {created.payload}"]
    export: dict[str, Any] = started
    log(f"export {export.get('id')} started (one person); waiting for it to be done")
    deadline, pause = time.monotonic() + timeout_seconds, 1.0
    while export.get("status") not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(pause)
        pause = min(pause * 2, 10.0)
        polled = client.call("GET", f"exports/{export['id']}")
        latest = polled.payload.get("export") if isinstance(polled.payload, dict) else None
        export = latest if isinstance(latest, dict) else export
    if export.get("status") != "done":
        return {}, [
            f"export {export.get('id')}: status {export.get('status')!r} after {timeout_seconds:.0f} s"
        ]
    download = client.call("GET", f"exports/{export['id']}/download")
    body = download.payload if isinstance(download.payload, dict) else {}
    key = "url" if "url" in body else "link" if "link" in body else None
    if key is None:
        return {}, [f"export download answer has neither `url` nor `link`: keys {sorted(body)}"]
    # The signed link is a credential of its own: fetched without the API key, and never printed.
    fetched = requests.get(str(body[key]), stream=True, timeout=client.timeout)
    raw = fetched.raw.read(decode_content=False)
    analysis = analyze_export_file(raw, fetched.headers.get("Content-Encoding", ""))
    observed: dict[str, Any] = {
        "export_link_key": key,
        "export_compression": analysis["export_compression"],
        "export_bom": analysis["export_bom"],
    }
    comparison = compare_with_person(analysis, attributes)
    observed.update({k: v for k, v in comparison.items() if k.startswith("export_") and v is not None})
    total = export.get("total")
    if isinstance(total, int):
        observed["export_drops_rows"] = max(0, total - len(analysis["rows"]))
    notes.append(f"export file header: {analysis['header']}")
    if comparison["missing_attributes"]:
        notes.append(f"export file lacks attributes the person has: {comparison['missing_attributes']}")
    if comparison["unknown_columns"]:
        notes.append(
            f"export file has columns that are not the person's attributes: {comparison['unknown_columns']}"
        )
    return observed, notes
