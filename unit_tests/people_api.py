"""A small people API on requests_mock, for the customers tests: search, hydration and one customer export,
all serving the same hand-written people, with switches for the behaviours the documentation leaves open
(the same ones as the sandbox's `Quirks`, at unit-test scale)."""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass, field
from typing import Any

from unit_tests.builders import US, query

LINK = "https://files.example.com/exports/5.csv?X-Amz-Signature=0123456789abcdef"
EXPORT_ID = 5
EXPORT_CREATED = 1_734_000_000


def people(count: int, first: int = 1) -> list[dict[str, Any]]:
    """People n = first..: cio_id "n", id "p<n>" (none for every 4th), email "<n>@example.com",
    attributes `plan` (every other person) and a quoted JSON value (every 3rd)."""
    made = []
    for n in range(first, first + count):
        attributes = {"created_at": str(1_700_000_000 + n)}
        if n % 2:
            attributes["plan"] = "pro"
        if n % 3 == 0:
            attributes["cio_subscription_preferences"] = '{"topics":{"topic_1":true}}'
        made.append(
            {
                "cio_id": str(n),
                "id": None if n % 4 == 0 else f"p{n}",
                "email": f"{n}@example.com",
                "attributes": attributes,
            }
        )
    return made


def fields_named(node: Any) -> set[str]:
    """The attribute fields a search or export filter names."""
    if isinstance(node, dict):
        attribute = node.get("attribute")
        own = {attribute["field"]} if isinstance(attribute, dict) else set()
        return own.union(*(fields_named(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(fields_named(v) for v in node))
    return set()


def matches(node: dict[str, Any], person: dict[str, Any]) -> bool:
    """A search filter (and, or, not, attribute exists / eq) evaluated for one person."""
    ((op, arg),) = node.items()
    if op == "and":
        return all(matches(n, person) for n in arg)
    if op == "or":
        return any(matches(n, person) for n in arg)
    if op == "not":
        return not matches(arg, person)
    values = {
        "cio_id": person["cio_id"],
        "id": person["id"],
        "email": person["email"],
        **person["attributes"],
    }
    value = values.get(arg["field"])
    return value not in (None, "") if arg["operator"] == "exists" else value == arg["value"]


@dataclass
class FakePeople:
    everyone: list[dict[str, Any]]
    page_size: int = 1000
    refuse_cio_id: bool = False  # search and export filters naming cio_id are a 400
    omit_once: int = 0  # each hydration leaves out up to N people asked for the first time
    deleted: set[str] = field(default_factory=set)  # cio_ids hydration does not know any more
    statuses: tuple[str, ...] = ("done",)
    total: int | None = None  # the export's total (default: the people in the file)
    cio_id_column: bool = True
    columns: list[str] | None = None  # the file's columns (default: identifiers, then attributes)
    drop_rows: int = 0
    compression: str = "none"  # "gzip" (with Content-Encoding) or "gzip_no_header"
    bom: bool = False
    link_key: str = "url"
    file_people: list[dict[str, Any]] | None = None  # who the file holds (default: everyone)
    changed: dict[str, dict[str, str]] = field(default_factory=dict)  # cio_id -> attributes set after it
    _asked: set[str] = field(default_factory=set)

    # -- wiring ----------------------------------------------------------------------------------
    def mock(self, requests_mock: Any, downloads: list[dict[str, Any]] | None = None) -> FakePeople:
        requests_mock.post(f"{US}/customers", json=self.search)
        requests_mock.post(f"{US}/customers/attributes", json=self.hydrate)
        requests_mock.post(f"{US}/exports/customers", json=self.start_export)
        total = self.total if self.total is not None else len(self.in_file())
        record = {"id": EXPORT_ID, "total": total, "created_at": EXPORT_CREATED}
        requests_mock.get(
            f"{US}/exports/{EXPORT_ID}",
            [{"json": {"export": {**record, "status": s}}} for s in self.statuses],
        )
        requests_mock.get(f"{US}/exports/{EXPORT_ID}/download", json={self.link_key: LINK})
        requests_mock.get(LINK.split("?")[0], downloads or [self.download()])
        return self

    # -- search and hydration --------------------------------------------------------------------
    def _refusal(self, body: Any, context: Any) -> dict[str, Any] | None:
        if self.refuse_cio_id and "cio_id" in fields_named(body):
            context.status_code = 400
            return {"errors": [{"detail": "cio_id is not a filterable attribute", "status": "400"}]}
        return None

    def search(self, request: Any, context: Any) -> dict[str, Any]:
        body = request.json()
        refused = self._refusal(body, context)
        if refused is not None:
            return refused
        found = [p for p in self.everyone if matches(body["filter"], p)]
        start = int(query(request).get("start") or 0)
        page = found[start : start + self.page_size]
        end = start + len(page)
        identifiers = [{"cio_id": p["cio_id"], "id": p["id"], "email": p["email"]} for p in page]
        return {
            "identifiers": identifiers,
            "ids": [p["id"] or "" for p in page],
            "next": str(end) if end < len(found) else "",
        }

    def hydrate(self, request: Any, context: Any) -> dict[str, Any]:
        id_type = query(request)["id_type"]
        omit, out = self.omit_once, []
        for wanted in request.json()["ids"]:
            person = next((p for p in self.everyone if p[id_type] == wanted), None)
            if person is None or person["cio_id"] in self.deleted:
                continue
            first_time = person["cio_id"] not in self._asked
            self._asked.add(person["cio_id"])
            if first_time and omit > 0:
                omit -= 1
                continue
            out.append(self.person(person))
        return {"customers": out}

    def person(self, p: dict[str, Any]) -> dict[str, Any]:
        identifiers = {"cio_id": p["cio_id"], "id": p["id"], "email": p["email"]}
        attributes = {k: v for k, v in identifiers.items() if v}
        attributes.update(p["attributes"])
        stamps = {name: EXPORT_CREATED - 100 for name in attributes}
        for name, value in self.changed.get(p["cio_id"], {}).items():
            attributes[name], stamps[name] = value, EXPORT_CREATED + 60
        body = {"id": p["id"], "identifiers": identifiers, "attributes": attributes, "timestamps": stamps}
        return {"customer": body} if int(p["cio_id"]) % 2 == 0 else body

    # -- the export ------------------------------------------------------------------------------
    def start_export(self, request: Any, context: Any) -> dict[str, Any]:
        refused = self._refusal(request.json(), context)
        return refused if refused is not None else {"export": {"id": EXPORT_ID, "status": "pending"}}

    def in_file(self) -> list[dict[str, Any]]:
        return [p for p in (self.file_people or self.everyone) if p["cio_id"] not in self.deleted]

    def file_columns(self) -> list[str]:
        if self.columns is not None:
            return self.columns
        names = list(dict.fromkeys(a for p in self.everyone for a in p["attributes"]))
        return [*(["cio_id"] if self.cio_id_column else []), "id", "email", *names]

    def csv_bytes(self) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        columns = self.file_columns()
        writer.writerow(columns)
        rows = self.in_file()
        for p in rows[: len(rows) - self.drop_rows]:
            values = {"cio_id": p["cio_id"], "id": p["id"], "email": p["email"], **p["attributes"]}
            writer.writerow([values.get(c) or "" for c in columns])
        data = (b"\xef\xbb\xbf" if self.bom else b"") + out.getvalue().encode()
        return gzip.compress(data) if self.compression != "none" else data

    def download(self) -> dict[str, Any]:
        headers = {"Content-Encoding": "gzip"} if self.compression == "gzip" else {}
        return {"content": self.csv_bytes(), "headers": headers}
