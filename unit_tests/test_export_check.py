"""The checks an export file passes before its first record: counts, and the cross-check with hydration."""

from __future__ import annotations

from typing import Any

import pytest

from source_customerio.streams.export_check import Reconciliation, cross_check, same_value
from source_customerio.streams.export_file import Layout

CREATED = 1_734_000_000
LAYOUT = Layout.of(["cio_id", "id", "email", "plan", "score", "prefs"])
ROWS = [
    ["1", "p1", "a@x", "pro", "7", '{"a": [1, true]}'],
    ["2", "", "b@x", "", "", ""],
]


def person(cio_id: str, stamp: int = CREATED - 10, **attributes: Any) -> dict[str, Any]:
    identifiers = {"cio_id": cio_id, "id": attributes.pop("id", None), "email": attributes.pop("email", None)}
    attrs = {k: v for k, v in identifiers.items() if v} | attributes
    # Shaped as the Hydrator hands people over (people_search.person_record): identifiers on top too.
    return {
        **identifiers,
        "identifiers": identifiers,
        "attributes": attrs,
        "timestamps": dict.fromkeys(attrs, stamp),
    }


MATCHING = [
    person("1", id="p1", email="a@x", plan="pro", score=7, prefs={"a": [1, True]}),
    person("2", email="b@x"),
]


def hydrate_with(people: list[dict[str, Any]], calls: list | None = None):
    def hydrate(ids: list[str], id_type: str) -> list[dict[str, Any]]:
        if calls is not None:
            calls.append((ids, id_type))
        return [p for p in people if str(p["identifiers"].get(id_type)) in ids]

    return hydrate


@pytest.mark.parametrize(
    ("cell", "value", "same"),
    [
        ("pro", "pro", True),
        ("pro", "Pro", False),
        ("7", 7, True),
        ("7.0", 7, True),
        ("seven", 7, False),
        ("true", True, True),
        ("false", True, False),
        ('{"a": [1, true]}', {"a": [1, True]}, True),
        ("[1,2]", [1, 3], False),
        ("None", None, True),
    ],
)
def test_a_cell_against_a_json_value(cell, value, same):
    assert same_value(cell, value) is same


def test_matching_rows_pass_with_one_hydration_by_cio_id():
    calls: list = []
    checked = cross_check(LAYOUT, ROWS, hydrate_with(MATCHING, calls), CREATED)
    assert checked.problems == [] and (checked.sampled, checked.found) == (2, 2)
    assert calls == [(["1", "2"], "cio_id")]
    assert checked.known == {"cio_id", "id", "email", "plan", "score", "prefs"}


def test_attributes_without_a_column_are_named_with_their_count():
    people = [
        person("1", id="p1", email="a@x", plan="pro", score=7, prefs={"a": [1, True]}, tier="gold"),
        MATCHING[1],
    ]
    [problem] = cross_check(LAYOUT, ROWS, hydrate_with(people), CREATED).problems
    assert (
        problem
        == "the file has no column for attributes hydration returns for the same people: tier (1 people)"
    )


def test_values_that_differ_are_a_problem_unless_set_after_the_export():
    changed = person("1", id="p1", email="a@x", plan="free", score=7, prefs={"a": [1, True]})
    [problem] = cross_check(LAYOUT, ROWS, hydrate_with([changed, MATCHING[1]]), CREATED).problems
    assert (
        problem
        == "the file's values differ from hydration's for attributes set before the export: plan (1 people)"
    )
    later = person("1", CREATED + 5, id="p1", email="a@x", plan="free", score=7, prefs={"a": [1, True]})
    assert cross_check(LAYOUT, ROWS, hydrate_with([later, MATCHING[1]]), CREATED).problems == []
    assert cross_check(LAYOUT, ROWS, hydrate_with([later, MATCHING[1]]), None).problems != []


def test_an_empty_cell_for_a_value_hydration_has_is_a_difference():
    filled = person("2", email="b@x", plan="pro")
    [problem] = cross_check(LAYOUT, ROWS, hydrate_with([MATCHING[0], filled]), CREATED).problems
    assert "plan (1 people)" in problem


def test_people_hydration_does_not_find_are_a_problem_beyond_a_few():
    rows = [[str(n), "", f"{n}@x", "", "", ""] for n in range(1, 41)]
    found = [person(str(n), email=f"{n}@x") for n in range(1, 41)]
    assert cross_check(LAYOUT, rows, hydrate_with(found[:38]), CREATED).problems == []  # 2 of 40: deleted
    [problem] = cross_check(LAYOUT, rows, hydrate_with(found[:37]), CREATED).problems
    assert problem == "hydration by cio_id found only 37 of 40 sampled people"


def test_without_a_cio_id_column_people_are_hydrated_by_id_and_cio_id_is_not_missing():
    layout = Layout.of(["email", "id", "plan"])
    rows = [["a@x", "p1", "pro"]]
    calls: list = []
    checked = cross_check(
        layout, rows, hydrate_with([person("1", id="p1", email="a@x", plan="pro")], calls), CREATED
    )
    assert checked.problems == [] and calls == [(["p1"], "id")]


def test_counts_that_do_not_add_up_are_problems_with_their_numbers():
    found = Reconciliation(5, rows=98, total=100, ragged=1, unkeyed=3, sampled=100, sampled_found=99)
    found.check_counts()
    assert found.problems == [
        "the file has 98 data rows but the export's total is 100",
        "1 rows do not have as many cells as the header",
        "3 rows could not be given a cio_id",
    ]
    assert found.numbers() == (
        "export 5: 98 data rows in the file, export total 100, 1 rows with a wrong number of cells, "
        "3 rows without a cio_id, 0 people deleted since the export, "
        "99 of 100 sampled people found by hydration"
    )
    fine = Reconciliation(5, rows=98, total=None)
    fine.check_counts()
    assert fine.problems == [] and "export total none given" in fine.numbers()
