"""The cio_id join for an export file without a cio_id column: the split searches, the on-disk index, the
keyed file."""

from __future__ import annotations

import csv
import itertools
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.models import FailureType

from source_customerio.errors import RequestRefusedError
from source_customerio.streams.export_file import Layout, read_layout
from source_customerio.streams.people_filter import EVERYONE, partition
from source_customerio.streams.people_join import IdentifierIndex, balanced_attributes, collect, write_keyed
from unit_tests.people_api import matches, people

LOG = logging.getLogger("test")


def test_split_filters_match_each_person_exactly_once():
    everyone = people(60)
    for attributes in ([], ["plan"], ["plan", "cio_subscription_preferences"], ["plan", "nickname"]):
        filters = partition(EVERYONE, attributes)
        assert len(filters) == 2 ** len(attributes)
        for person in everyone:
            assert sum(matches(f, person) for f in filters) == 1, (attributes, person)


def test_split_attributes_are_the_known_ones_nearest_half():
    layout = Layout.of(["id", "email", "plan", "country", "vip", "segment_ids"])
    sample = [
        ["p", "e", "pro" if n % 2 else "", "FR" if n % 10 < 3 else "", "y" if n < 2 else "", "7"]
        for n in range(100)
    ]
    known = {"plan", "country", "vip", "id", "email"}
    assert balanced_attributes(layout, sample, known) == ["plan", "country"]  # vip: 2%, too rare
    assert balanced_attributes(layout, sample, known, limit=1) == ["plan"]
    assert balanced_attributes(layout, sample, {"segment_ids"}) == []  # not an attribute hydration knows
    assert balanced_attributes(layout, [], known) == []


def fake_search(everyone: list[dict[str, Any]], page_size: int, log: list | None = None):
    lock = threading.Lock()

    def search(people_filter: dict[str, Any], start: str | None) -> dict[str, Any]:
        found = [p for p in everyone if matches(people_filter, p)]
        at = int(start or 0)
        page = found[at : at + page_size]
        if log is not None:
            with lock:
                log.append((threading.current_thread().name, at))
        identifiers = [{"cio_id": p["cio_id"], "id": p["id"], "email": p["email"]} for p in page]
        return {
            "identifiers": identifiers,
            "next": str(at + page_size) if at + page_size < len(found) else "",
        }

    return search


def test_split_searches_run_side_by_side_and_fill_the_index(tmp_path):
    everyone, log = people(50), []
    index = IdentifierIndex(tmp_path / "ids.sqlite")
    collect(fake_search(everyone, 4, log), partition(EVERYONE, ["plan"]), index, LOG)
    index.finish()
    assert index.people == 50
    assert len({name for name, _ in log}) == 2, "one thread per search"
    cio_id = index.lookup()
    assert [cio_id(p["id"], None) for p in everyone if p["id"]] == [p["cio_id"] for p in everyone if p["id"]]
    index.close()


def test_an_error_in_one_search_stops_all_and_is_raised(tmp_path):
    index = IdentifierIndex(tmp_path / "ids.sqlite")
    calls = itertools.count()

    def search(people_filter: dict[str, Any], start: str | None) -> dict[str, Any]:
        if next(calls) == 3:
            raise RequestRefusedError(
                "POST /customers was refused (400: not supported).",
                400,
                "not supported",
                "POST /customers",
                FailureType.system_error,
                "customers",
            )
        return {"identifiers": [{"cio_id": str(next(calls))}], "next": f"t{next(calls)}"}

    with pytest.raises(RequestRefusedError, match="not supported"):
        collect(search, partition(EVERYONE, ["a", "b"]), index, LOG)
    index.close()


def test_the_keyed_file_gets_cio_ids_by_id_then_by_a_unique_email(tmp_path):
    index = IdentifierIndex(tmp_path / "ids.sqlite")
    index.add(
        [
            {"cio_id": 1, "id": "p1", "email": "a@x"},
            {"cio_id": "2", "id": None, "email": "b@x"},
            {"cio_id": "3", "id": "p3", "email": "shared@x"},
            {"cio_id": "4", "id": None, "email": "shared@x"},
            {"cio_id": "", "id": "p9"},  # no cio_id: not indexed
        ]
    )
    index.finish()
    source = tmp_path / "export.csv"
    source.write_text("email,id,plan\na@x,p1,pro\nb@x,,free\n\nshared@x,,\nnew@x,p8,\nb@x,p7,\n")
    layout, unkeyed, missing = write_keyed(source, read_layout(source), index, tmp_path / "keyed.csv")
    index.close()
    assert layout.names == ("cio_id", "email", "id", "plan") and layout.cio_id == 0
    with open(tmp_path / "keyed.csv", newline="") as keyed:
        rows = list(csv.reader(keyed))
    assert [row[0] for row in rows] == ["cio_id", "1", "2", "", "", "2"]  # p7 unknown, its email is b@x's
    assert rows[1] == ["1", "a@x", "p1", "pro"]
    assert (unkeyed, missing) == ([(3, None, "shared@x"), (4, "p8", "new@x")], 2)


def test_the_index_lives_in_a_file_not_in_memory(tmp_path: Path):
    index = IdentifierIndex(tmp_path / "ids.sqlite")
    index.add([{"cio_id": str(n), "id": f"p{n}", "email": f"{n}@x"} for n in range(20_000)])
    index.finish()
    index.close()
    assert (tmp_path / "ids.sqlite").stat().st_size > 500_000
