"""Sender identities: hidden senders are read too (`hidden=true`), each record says whether it is hidden,
and no sender is emitted twice, whether `hidden=true` lists only the hidden senders or all of them."""

from __future__ import annotations

import pytest

from unit_tests.builders import US, ConfigBuilder, page, query, read_stream, records_of, sender_identity

VISIBLE = [sender_identity(1), sender_identity(2), sender_identity(3)]
HIDDEN = [sender_identity(7), sender_identity(8)]
# What `hidden=true` may list: only the hidden senders, or every sender.
READINGS = {"only": HIDDEN, "all": [VISIBLE[2], HIDDEN[0], VISIBLE[0], HIDDEN[1], VISIBLE[1]]}


def paged(records: list[dict], tag: str, size: int = 2):
    """requests_mock answers: `records` in pages of `size`, cursors `{tag}-1`, `{tag}-2`..."""
    chunks = [records[i : i + size] for i in range(0, len(records), size)] or [[]]
    return {
        (None if n == 0 else f"{tag}-{n}"): page(
            "sender_identities", chunk, next=f"{tag}-{n + 1}" if n + 1 < len(chunks) else ""
        )
        for n, chunk in enumerate(chunks)
    }


def serve(requests_mock, hidden_listing: list[dict]) -> None:
    plain, hidden = paged(VISIBLE, "v"), paged(hidden_listing, "h")

    def answer(request, context):
        params = query(request)
        return (hidden if params.get("hidden") == "true" else plain)[params.get("start")]

    requests_mock.get(f"{US}/sender_identities", json=answer)


@pytest.mark.parametrize("reading", READINGS)
def test_every_sender_once_with_its_hidden_flag(reading, requests_mock):
    serve(requests_mock, READINGS[reading])
    records = records_of(read_stream(ConfigBuilder().build(), "sender_identities"))
    assert sorted((r["id"], r["hidden"]) for r in records) == [
        (1, False),
        (2, False),
        (3, False),
        (7, True),
        (8, True),
    ]
    assert records[0] == {**VISIBLE[0], "hidden": False}


def test_the_plain_listing_then_the_hidden_one_each_paged_to_its_end(requests_mock):
    serve(requests_mock, READINGS["all"])
    read_stream(ConfigBuilder().build(), "sender_identities")
    asked = [query(r) for r in requests_mock.request_history]
    assert asked == [
        {"limit": "100"},
        {"limit": "100", "start": "v-1"},
        {"limit": "100", "hidden": "true"},
        {"limit": "100", "hidden": "true", "start": "h-1"},
        {"limit": "100", "hidden": "true", "start": "h-2"},
    ]


def test_no_hidden_senders(requests_mock):
    serve(requests_mock, [])
    records = records_of(read_stream(ConfigBuilder().build(), "sender_identities"))
    assert [(r["id"], r["hidden"]) for r in records] == [(1, False), (2, False), (3, False)]
