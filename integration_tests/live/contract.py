"""The contract between the connector and Customer.io's App API, checked against one workspace.

Two kinds of findings:
- problems: a fact the connector relies on does not hold (an envelope key, a cursor field, hydration by
  `cio_id`...). Each breaks a stream; `make live-test` fails on any.
- observations: for each undocumented behaviour the sandbox can switch (`Quirks`), what this workspace
  does, so the sandbox can be set to match it and the connector tested against that.

The probes are read-only except `probe_export` (one customer export of a single person). They run the
same way against the sandbox, which is how CI proves them (integration_tests/test_contract_probes.py).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from integration_tests.live.client import Client, Walk
from integration_tests.live.export_probe import probe_export
from integration_tests.sandbox.quirks import Quirks
from source_customerio.streams.catalog import TABLES, Table

SCHEMAS = Path(__file__).resolve().parents[2] / "source_customerio" / "schemas"
SUPPRESSION_TYPES = ("bounces", "blocks", "spam_reports", "invalid_emails")
# Anyone has an id or an email; `cio_id` is left out here, since whether it is filterable is a switch.
EVERYONE = {"or": [{"attribute": {"field": f, "operator": "exists"}} for f in ("id", "email")]}
DAY = 86_400
JSON_TYPES: dict[str, tuple[type, ...]] = {"integer": (int,), "string": (str,), "number": (int, float)}


@dataclass
class Report:
    observed: dict[str, Any] = field(default_factory=dict)  # Quirks field -> what the workspace does
    evidence: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def see(self, switch: str, value: Any, evidence: str) -> None:
        if value is not None:
            self.observed[switch] = value
        self.evidence[switch] = evidence

    def render(self) -> str:
        defaults = Quirks().as_dict()
        lines = ["Sandbox switches (integration_tests/sandbox/quirks.py) and what this workspace does:"]
        different = {}
        for name in (f.name for f in fields(Quirks)):
            default = defaults[name]
            if name in self.observed:
                value = self.observed[name]
                verdict = "same as the sandbox's default" if value == default else "DIFFERENT"
                if value != default:
                    different[name] = value
                shown = repr(value)
            else:
                verdict, shown = "not determined", "?"
            why = self.evidence.get(name, "not probed")
            lines.append(f"  {name:34} default {default!r:10} workspace {shown:10} {verdict} ({why})")
        if different:
            knobs = ", ".join(f"{k}={v!r}" for k, v in different.items())
            lines.append(f"To test against this workspace's behaviour: Sandbox(quirks=Quirks({knobs}))")
        else:
            lines.append("Every behaviour determined matches the sandbox's defaults.")
        lines += [f"Problem: {p}" for p in self.problems] or ["No contract problem found."]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    def as_json(self) -> str:
        return json.dumps(
            {
                "observed": self.observed,
                "evidence": self.evidence,
                "problems": self.problems,
                "notes": self.notes,
            },
            indent=2,
            default=str,
        )


def run_contract(
    client: Client, export: bool = True, log: Callable[[str], None] = print, max_pages: int = 30
) -> Report:
    report = Report()
    log("checking each endpoint's envelope, id types and cursor fields")
    check_envelopes(client, report)
    log("walking the cursor-paged lists")
    walks = walk_lists(client, max_pages)
    observe_paging(walks, report)
    observe_hidden_senders(walks["sender_identities"], walks["sender_identities hidden"], report)
    log("asking deliveries around one delivery's creation second")
    observe_delivery_bounds(client, walks["messages"], report)
    observe_search_filter(client, report)
    if export:
        log("making one customer export of a single person")
        observed, notes = probe_export(client, log=log)
        for name, value in observed.items():
            report.see(name, value, "one export of one person")
        report.notes += notes
    log(f"{client.requests} requests")
    return report


# -- envelopes, ids, cursors ----------------------------------------------------------------------------


def _schema(stream: str) -> dict[str, Any]:
    return dict(json.loads((SCHEMAS / f"{stream}.json").read_text())["properties"])


def _types(spec: dict[str, Any]) -> tuple[type, ...]:
    kinds = spec.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    return tuple(t for k in kinds for t in JSON_TYPES.get(k, ()))


def check_records(
    stream: str, endpoint: str, records: list[Any], key: str, cursor: str | None, report: Report
) -> None:
    """Each record has its key (of the schema's type, else a note: the connector normalises it) and a
    numeric cursor where the stream is incremental."""
    properties = _schema(stream)
    expected = _types(properties.get(key, {}))
    for record in records[:20]:
        if not isinstance(record, dict) or record.get(key) in (None, ""):
            report.problems.append(f"{endpoint}: a record without `{key}`: {str(record)[:200]}")
            return
        if expected and not isinstance(record[key], expected):
            report.notes.append(
                f"{endpoint}: `{key}` is a {type(record[key]).__name__} (normalised by the connector)"
            )
        if cursor is not None:
            value = record.get(cursor)
            try:
                int(float(value))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                report.problems.append(f"{endpoint}: cursor `{cursor}` is not a unix time: {value!r}")
                return


def _envelope(
    client: Client, method: str, path: str, key: str, report: Report, **kw: Any
) -> list[Any] | None:
    answer = client.call(method, path, **kw)
    endpoint = f"{method} /{path}"
    if answer.status == 403:
        report.notes.append(f"{endpoint}: this key may not read it (403); the stream would be skipped")
        return None
    if answer.status != 200:
        report.problems.append(f"{endpoint} answered {answer.status}: {str(answer.payload)[:200]}")
        return None
    records = answer.payload.get(key) if isinstance(answer.payload, dict) else None
    if not isinstance(records, list):
        keys = sorted(answer.payload) if isinstance(answer.payload, dict) else type(answer.payload).__name__
        report.problems.append(f"{endpoint}: no `{key}` list in the answer (it has {keys})")
        return None
    return records


def check_table(client: Client, table: Table, report: Report) -> None:
    params = {"limit": 1} if table.paging == "cursor" else {}
    records = _envelope(client, "GET", table.path, table.records_key, report, params=params)
    if records is None:
        return
    endpoint = f"GET /{table.path}"
    if table.to_record is not None:  # ip_addresses: bare strings
        if not all(isinstance(r, str) for r in records):
            report.problems.append(f"{endpoint}: items are not strings: {records[:3]}")
        return
    key = table.primary_key if isinstance(table.primary_key, str) else table.primary_key[0]
    check_records(table.name, endpoint, records, key, table.cursor_field, report)


def check_envelopes(client: Client, report: Report) -> None:
    for table in TABLES:
        check_table(client, table, report)
    messages = _envelope(client, "GET", "messages", "messages", report, params={"limit": 1})
    if messages is not None:
        check_records("messages", "GET /messages", messages, "id", "created", report)
    for kind in SUPPRESSION_TYPES:
        rows = _envelope(
            client, "GET", f"esp/suppression/{kind}", "suppressions", report, params={"limit": 1}
        )
        if rows is not None:
            check_records("eps_suppression", f"GET /esp/suppression/{kind}", rows, "email", None, report)
    people = _envelope(
        client, "POST", "customers", "identifiers", report, params={"limit": 5}, json={"filter": EVERYONE}
    )
    if people is None:
        return
    check_records("customers", "POST /customers", people, "cio_id", None, report)
    cio_ids = [str(p["cio_id"]) for p in people if isinstance(p, dict) and p.get("cio_id")]
    if cio_ids:
        hydrated = _envelope(
            client,
            "POST",
            "customers/attributes",
            "customers",
            report,
            params={"id_type": "cio_id"},
            json={"ids": cio_ids},
        )
        if hydrated is not None:
            observe_attribute_values(hydrated, report)
        if hydrated is not None and len(hydrated) < len(cio_ids):
            report.problems.append(
                f"POST /customers/attributes?id_type=cio_id returned {len(hydrated)} of {len(cio_ids)} "
                "people found by search: hydration by cio_id (what the connector does) loses people"
            )


def observe_attribute_values(people: list[Any], report: Report) -> None:
    """Whether hydration sends numbers and booleans as JSON values (`hydration_native_values`): a JSON number
    or boolean says yes; a number written as a string says no; text alone cannot tell."""
    native = stringly = 0
    for item in people:
        person = item.get("customer", item) if isinstance(item, dict) else {}
        attributes = person.get("attributes") if isinstance(person, dict) else None
        for name, value in (attributes if isinstance(attributes, dict) else {}).items():
            if name in ("id", "email", "cio_id"):
                continue
            if isinstance(value, (bool, int, float)):
                native += 1
            elif isinstance(value, str) and value.lstrip("-").replace(".", "", 1).isdigit():
                stringly += 1
    value = True if native else False if stringly else None
    report.see(
        "hydration_native_values",
        value,
        f"{native} JSON numbers or booleans, {stringly} numbers as strings among {len(people)} people",
    )


# -- paging -----------------------------------------------------------------------------------------------


def walk_lists(client: Client, max_pages: int) -> dict[str, Walk]:
    walks = {
        table.name: client.walk(
            "GET", table.path, table.records_key, {"limit": table.page_size}, max_pages=max_pages
        )
        for table in TABLES
        if table.paging == "cursor"
    }
    walks["sender_identities hidden"] = client.walk(
        "GET", "sender_identities", "sender_identities", {"limit": 100, "hidden": "true"}, max_pages=max_pages
    )
    walks["messages"] = client.walk("GET", "messages", "messages", {"limit": 1000}, max_pages=max_pages)
    walks["customers"] = client.walk(
        "POST", "customers", "identifiers", {"limit": 1000}, json={"filter": EVERYONE}, max_pages=max_pages
    )
    return walks


def observe_paging(walks: dict[str, Walk], report: Report) -> None:
    for name, walk in walks.items():
        if walk.status != 200:
            report.notes.append(f"{walk.endpoint} ({name}): answered {walk.status}; not walked")
        elif not walk.ended:
            report.notes.append(
                f"{walk.endpoint} ({name}): not at its end after {walk.pages} pages (a long list)"
            )
    ended = [w for w in walks.values() if w.ended and not w.repeated_cursor]
    forms = Counter(w.last_next for w in ended if w.last_next)
    if forms:
        report.see("last_page_next", forms.most_common(1)[0][0], f"{dict(forms)} over {len(ended)} lists")
        if len(forms) > 1:
            report.notes.append(f"the last page's `next` differs between lists: {dict(forms)}")
    pages = sum(w.pages for w in walks.values())
    empty = sum(w.empty_pages_with_next for w in walks.values())
    report.see("empty_pages_with_next", empty > 0, f"{empty} empty pages with a next in {pages} pages")
    loops = [w.endpoint for w in walks.values() if w.repeated_cursor]
    report.see(
        "cursor_loop", bool(loops), f"a repeated cursor on {loops}" if loops else f"none in {pages} pages"
    )


def observe_hidden_senders(plain: Walk, hidden: Walk, report: Report) -> None:
    if not (plain.ended and hidden.ended and plain.status == hidden.status == 200):
        report.see("hidden_senders_listing", None, "the sender lists were not read to their end")
        return
    visible = {str(r.get("id")) for r in plain.records if isinstance(r, dict)}
    listed = {str(r.get("id")) for r in hidden.records if isinstance(r, dict)}
    if not visible:
        report.see("hidden_senders_listing", None, "no visible sender to tell the readings apart")
    elif visible <= listed:
        report.see(
            "hidden_senders_listing", "all", f"hidden=true lists the {len(visible)} visible senders too"
        )
    elif not visible & listed:
        report.see(
            "hidden_senders_listing", "only", f"hidden=true lists {len(listed)}, none of the visible ones"
        )
    else:
        report.problems.append("hidden=true lists some visible senders but not all: neither reading holds")


# -- deliveries' window bounds -----------------------------------------------------------------------------


def _a_delivery(client: Client, latest: Walk) -> dict[str, Any] | None:
    found = [r for r in latest.records if isinstance(r, dict) and isinstance(r.get("created"), int)]
    now = int(time.time())
    for k in range(1, 30):
        if found:
            break
        answer = client.call(
            "GET",
            "messages",
            {"limit": 1, "start_ts": now - (k + 1) * 180 * DAY, "end_ts": now - k * 180 * DAY},
        )
        page = answer.payload.get("messages") if isinstance(answer.payload, dict) else None
        found = [r for r in page or [] if isinstance(r, dict) and isinstance(r.get("created"), int)]
    return found[0] if found else None


def _holds(client: Client, delivery_id: Any, start_ts: int, end_ts: int) -> bool | None:
    walk = client.walk(
        "GET", "messages", "messages", {"limit": 1000, "start_ts": start_ts, "end_ts": end_ts}, max_pages=20
    )
    if any(isinstance(r, dict) and r.get("id") == delivery_id for r in walk.records):
        return True
    return False if walk.ended else None


def observe_delivery_bounds(client: Client, latest: Walk, report: Report) -> None:
    delivery = _a_delivery(client, latest)
    if delivery is None:
        for name in ("end_ts_exclusive", "start_ts_exclusive"):
            report.see(name, None, "no delivery found in the workspace")
        return
    c, did = delivery["created"], delivery["id"]
    at_end = _holds(client, did, c - 1, c)
    at_start = _holds(client, did, c, c + 1)
    report.see(
        "end_ts_exclusive",
        None if at_end is None else not at_end,
        f"delivery created {c}, asked [{c - 1}, {c}]",
    )
    report.see("start_ts_exclusive", None if at_start is None else not at_start, f"asked [{c}, {c + 1}]")


def observe_search_filter(client: Client, report: Report) -> None:
    flt = {"attribute": {"field": "cio_id", "operator": "exists"}}
    answer = client.call("POST", "customers", {"limit": 1}, {"filter": flt})
    refused = {200: False, 400: True}.get(answer.status)
    report.see("search_refuses_cio_id", refused, f"a search on `cio_id exists` answered {answer.status}")
