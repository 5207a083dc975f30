"""The sandbox's people quirks, as a client sees them: the customer export file under each file quirk, the
search filter refusal, hydration's omissions and deleted people, and export files prepared ahead."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable
from typing import Any

import pytest
import requests

from integration_tests.sandbox import Quirks, Sandbox
from integration_tests.sandbox.exports import EXTRA_COLUMNS
from integration_tests.sandbox.people import FILE_ATTRIBUTE_NAMES
from integration_tests.sandbox_client import ALL_PEOPLE, exists, search, session

IDS = ["cio_id", "id", "email"]
ANYONE = {"or": [exists("id"), exists("email")]}


def new(sandbox_factory: Callable[..., Sandbox], **quirks: Any) -> Sandbox:
    return sandbox_factory(
        seed=4, size="tiny", requests_per_second=0, export_ready_after_polls=1, quirks=Quirks(**quirks)
    )


def export(
    sb: Sandbox, flt: dict[str, Any] = ALL_PEOPLE, **body: Any
) -> tuple[dict[str, Any], requests.Response]:
    """Start an export, poll it to done, fetch its link (under `url` or `link`) and download it."""
    s = session()
    created = s.post(f"{sb.base_url}/exports/customers", json={"filters": flt, **body}).json()["export"]
    for _ in range(50):
        done = s.get(f"{sb.base_url}/exports/{created['id']}").json()["export"]
        if done["status"] == "done":
            break
    link = s.get(f"{sb.base_url}/exports/{created['id']}/download").json()
    return done, requests.get(link.get("url") or link["link"])


def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def test_default_file_has_identifiers_then_every_attribute_and_total_rows(sandbox_factory) -> None:
    sb = new(sandbox_factory)
    done, file = export(sb)
    rows = rows_of(file.content)
    assert rows[0] == [*IDS, *FILE_ATTRIBUTE_NAMES]
    assert len(rows) - 1 == done["total"] == sb.truth("customers")["count"]
    assert sorted(r[0] for r in rows[1:]) == sorted(sb.truth("customers")["keys"])


def test_file_without_cio_id_shuffled_with_extra_columns(sandbox_factory) -> None:
    sb = new(
        sandbox_factory, export_cio_id_column=False, export_column_order="shuffled", export_extra_columns=True
    )
    _, file = export(sb)
    header = rows_of(file.content)[0]
    assert "cio_id" not in header
    assert sorted(header) == sorted(["id", "email", *FILE_ATTRIBUTE_NAMES, *EXTRA_COLUMNS])
    assert header != ["id", "email", *FILE_ATTRIBUTE_NAMES, *EXTRA_COLUMNS]


def test_file_holds_only_the_attributes_asked_for(sandbox_factory) -> None:
    sb = new(sandbox_factory, export_attributes_only_when_asked=True)
    assert rows_of(export(sb)[1].content)[0] == IDS
    assert rows_of(export(sb, attributes=["plan", "nickname"])[1].content)[0] == [*IDS, "plan", "nickname"]


@pytest.mark.parametrize("compression", ["gzip", "gzip_no_header"])
def test_gzip_files_with_and_without_content_encoding(sandbox_factory, compression: str) -> None:
    sb = new(sandbox_factory, export_compression=compression, export_bom=True)
    _, file = export(sb)
    if compression == "gzip":
        assert file.headers["Content-Encoding"] == "gzip"
        body = file.content  # requests decoded it
    else:
        assert "Content-Encoding" not in file.headers
        body = gzip.decompress(file.content)
    assert body.startswith(b"\xef\xbb\xbfcio_id,id,email,")


def test_link_key_and_dropped_rows(sandbox_factory) -> None:
    sb = new(sandbox_factory, export_link_key="link", export_drops_rows=2)
    done, file = export(sb)
    rows = rows_of(file.content)[1:]
    truth = sb.truth("customers")["keys"]
    assert done["total"] == len(truth) and len(rows) == len(truth) - 2
    assert [r[0] for r in rows] == truth[:-2]  # the last people are the ones left out


def test_filters_naming_cio_id_are_refused_by_search_and_export(sandbox_factory) -> None:
    sb = new(sandbox_factory, search_refuses_cio_id=True)
    s = session()
    for path, key in (("customers", "filter"), ("exports/customers", "filters")):
        refused = s.post(f"{sb.base_url}/{path}", json={key: {"or": [ALL_PEOPLE, exists("id")]}})
        assert refused.status_code == 400 and "cio_id" in refused.json()["errors"][0]["detail"]
    assert len(search(sb, ANYONE)) == sb.truth("customers")["count"]


def test_hydration_leaves_people_out_once(sandbox_factory) -> None:
    sb = new(sandbox_factory, hydration_omits_once=2)
    url, s = f"{sb.base_url}/customers/attributes", session()
    ids = sb.truth("customers")["keys"][:5]

    def ask(wanted: list[str]) -> list[str]:
        people = s.post(url, params={"id_type": "cio_id"}, json={"ids": wanted}).json()["customers"]
        return [(p.get("customer") or p)["identifiers"]["cio_id"] for p in people]

    first = ask(ids)
    assert len(first) == 3 and set(first) < set(ids)
    assert sorted(ask([i for i in ids if i not in first])) == sorted(set(ids) - set(first))
    assert sorted(ask(ids)) == sorted(ids)


def test_deleted_people_are_found_by_search_only(sandbox_factory) -> None:
    sb = new(sandbox_factory, hydration_deleted=3)
    everyone = [i["cio_id"] for i in search(sb, ALL_PEOPLE)]
    truth = sb.truth("customers")
    gone = set(everyone) - set(truth["keys"])
    assert len(gone) == 3 and truth["count"] == len(everyone) - 3
    hydrated = session().post(
        f"{sb.base_url}/customers/attributes", params={"id_type": "cio_id"}, json={"ids": everyone}
    )
    assert len(hydrated.json()["customers"]) == len(everyone) - 3
    done, file = export(sb)
    assert done["total"] == truth["count"]
    assert sorted(r[0] for r in rows_of(file.content)[1:]) == sorted(truth["keys"])


def test_a_prepared_file_is_written_once_and_reused(sandbox_factory) -> None:
    sb = new(sandbox_factory)
    first = sb.prepare_export(ALL_PEOPLE)
    again = requests.post(f"{sb.url}/_admin/prepare_export", json={"filters": ALL_PEOPLE}).json()
    assert first["rows"] == again["rows"] == sb.truth("customers")["count"]
    assert again["write_seconds"] == first["write_seconds"]  # the same file, not written again
    done, file = export(sb)
    assert len(rows_of(file.content)) - 1 == done["total"] == first["total"]
    sb.mutate("customers", "insert", 2)
    assert sb.prepare_export(ALL_PEOPLE)["rows"] == first["rows"] + 2  # a new data version, a new file
