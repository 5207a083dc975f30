"""docs/customer-io.md cannot drift from the code: its stream table against `discover` and the code's
endpoint tables, its settings against the spec, its troubleshooting against every message the code can
give, its version against metadata.yaml, and its links against the files and headings they name."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from airbyte_cdk.test.entrypoint_wrapper import discover

from source_customerio import SourceCustomerio
from source_customerio.config import CustomerioConfig
from source_customerio.spec import DOCUMENTATION_URL
from source_customerio.streams.catalog import TABLES
from source_customerio.streams.child_stream import CHILDREN
from source_customerio.streams.metrics import SERIES
from unit_tests.builders import ConfigBuilder
from unit_tests.docs_page import (
    PAGE,
    ROOT,
    code_messages,
    code_spans,
    normalized,
    page_text,
    section,
    table_rows,
)

REPOSITORY_URL = "https://github.com/source-customerio/source-customerio"
NO_CURSOR = "\N{EN DASH}"
MODES = {"full refresh": "full_refresh", "incremental": "incremental"}
# The three streams whose endpoints are not a row of a table in the code.
SPECIAL_ENDPOINTS = {
    "messages": "GET /v1/messages",
    "customers": "POST /v1/customers",
    "eps_suppression": "GET /v1/esp/suppression/{type}",
}


@pytest.fixture(scope="module")
def page() -> str:
    return page_text()


@pytest.fixture(scope="module")
def stream_rows(page: str) -> dict[str, list[str]]:
    rows = table_rows(section(page, "Supported streams"))
    names = [code_spans(row[0])[0] for row in rows]
    assert len(names) == len(set(names)), "a stream is listed twice"
    return {name: row for name, row in zip(names, rows, strict=True)}


@pytest.fixture(scope="module")
def catalog():
    # No typed attribute columns: their sample would ask the API for people (no API is served here).
    config = ConfigBuilder().with_(attribute_columns=False).build()
    return discover(SourceCustomerio(), config).catalog.catalog.streams


def test_the_stream_table_lists_every_discovered_stream_in_order(stream_rows, catalog):
    assert list(stream_rows) == [stream.name for stream in catalog]


def test_each_stream_row_has_the_discovered_key_modes_and_cursor(stream_rows, catalog):
    for stream in catalog:
        _, _, key_cell, modes_cell, cursor_cell, _ = stream_rows[stream.name]
        key = [field for path in stream.source_defined_primary_key for field in path]
        assert code_spans(key_cell) == key, stream.name
        modes = {MODES[mode.strip().lower()] for mode in modes_cell.split(",")}
        assert modes == {mode.value for mode in stream.supported_sync_modes}, stream.name
        assert code_spans(cursor_cell) == (stream.default_cursor_field or []), stream.name
        if not stream.default_cursor_field:
            assert cursor_cell == NO_CURSOR, stream.name


def _placeholders_blank(endpoint: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", endpoint)


def test_each_stream_row_names_the_endpoint_the_code_reads(stream_rows):
    expected = dict(SPECIAL_ENDPOINTS)
    for row in (*TABLES, *CHILDREN, *SERIES):
        expected[row.name] = f"GET /v1/{row.path}"
    assert set(expected) == set(stream_rows)
    for name, row in stream_rows.items():
        requests = [span for span in code_spans(row[1]) if span.split(" ")[0] in ("GET", "POST")]
        assert requests, f"{name}: no endpoint in {row[1]!r}"
        assert _placeholders_blank(requests[0]) == _placeholders_blank(expected[name]), name


def test_the_settings_table_lists_every_setting_with_its_default(page):
    rows = table_rows(section(page, "Setup guide").split("### Configuration", 1)[1])
    documented = {code_spans(row[1])[0]: row[2] for row in rows}
    properties = CustomerioConfig.connection_specification()["properties"]
    shown = {name for name, prop in properties.items() if not prop.get("airbyte_hidden")}
    assert set(documented) == shown
    for name, default_cell in documented.items():
        field = CustomerioConfig.model_fields[name]
        spans = code_spans(default_cell)
        if field.is_required():
            assert default_cell.startswith("required"), name
            continue
        default = field.get_default(call_default_factory=True)
        default = getattr(default, "value", default)  # an enum member: its value
        if default is None:
            assert default_cell == "none", name
            continue
        assert spans, f"{name}: the page gives no default, the model's is {default!r}"
        try:
            shown = json.loads(spans[0])
        except json.JSONDecodeError:
            shown = spans[0]
        assert shown == default, name


def _missing(kind: str, page: str) -> list[str]:
    text = normalized(page)
    return [
        f"{message.where}: {fragment!r}"
        for message in code_messages()
        if (message.kind == "config_error") == (kind == "config_error")
        for fragment in message.fragments
        if fragment not in text
    ]


def test_every_config_error_message_is_quoted_on_the_page(page):
    assert _missing("config_error", page) == []


def test_every_other_error_and_warning_is_quoted_on_the_page(page):
    assert _missing("other", page) == []


def test_the_message_finder_finds_the_messages_it_must_check():
    """A finder that found nothing would pass both tests above whatever the page says."""
    messages = code_messages()
    kinds = {message.kind for message in messages}
    assert kinds == {"config_error", "error", "warning"}
    fragments = {fragment for message in messages for fragment in message.fragments}
    # One of each way a message is made: a constant joined to another, an f-string with a constant in
    # it, a local variable, and a function that returns its message.
    assert any(
        f.startswith("Neither the US nor the EU host accepted the key (401). Customer.io") for f in fragments
    )
    assert any("YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ (ISO 8601) or MM/DD/YYYY" in f for f in fragments)
    assert any("empty pages in a row, each with a new `next` cursor" in f for f in fragments)
    assert any(f.startswith("Customer.io kept answering 429") for f in fragments)


def test_the_changelog_starts_with_the_version_metadata_yaml_ships(page):
    version = yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]["dockerImageTag"]
    rows = table_rows(section(page, "Changelog"))
    assert rows[0][0] == version
    assert len({row[0] for row in rows}) == len(rows)
    # The setup guide's image tags are that version too.
    assert set(re.findall(r"source-customerio:(\d+\.\d+\.\d+)", page)) == {version}


def test_documentation_url_is_this_page_in_the_repository():
    metadata = yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]
    assert metadata["documentationUrl"] == DOCUMENTATION_URL
    prefix = f"{REPOSITORY_URL}/blob/main/"
    assert DOCUMENTATION_URL.startswith(prefix)
    assert ROOT / DOCUMENTATION_URL.removeprefix(prefix) == PAGE


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_page_links_only_to_files_and_headings_that_exist(page):
    anchors = {_slug(heading) for heading in re.findall(r"^#+ (.+)$", page, re.M)}
    for target in re.findall(r"\]\(([^)]+)\)", page):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        if path:
            assert (PAGE.parent / path).is_file(), target
        else:
            assert anchor in anchors, target


def test_the_readme_links_to_the_page():
    assert "docs/customer-io.md" in (ROOT / "README.md").read_text()
