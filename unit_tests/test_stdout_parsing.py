"""The tests' reading of the connector's stdout is strict: Airbyte reads every stdout line as a message,
so a line that is not one must fail the test that sees it, quoting the line."""

from __future__ import annotations

import json

import pytest

from integration_tests.connector import ProtocolViolationError, parse_messages
from unit_tests.builders import parse_lines

RECORD = json.dumps({"type": "RECORD", "record": {"stream": "s", "data": {"id": 1}, "emitted_at": 1}})
LOG = json.dumps({"type": "LOG", "log": {"level": "INFO", "message": "hello"}})

NOT_MESSAGES = {
    "a print": "Reading stream campaigns",
    "a traceback": "Traceback (most recent call last):",
    "a blank line": "",
    "half a message": RECORD[: len(RECORD) // 2],
    "a JSON array": "[1, 2]",
    "an object without a type": '{"record": {"stream": "s"}}',
    "an unknown type": '{"type": "HELLO", "hello": {}}',
    "a RECORD without its record": '{"type": "RECORD", "log": {"level": "INFO", "message": "x"}}',
}


def test_airbyte_messages_are_read_in_order():
    assert [m["type"] for m in parse_messages(f"{LOG}\n{RECORD}\n")] == ["LOG", "RECORD"]
    assert [m.record.data for m in parse_lines([RECORD]) if m.record] == [{"id": 1}]


@pytest.mark.parametrize("line", list(NOT_MESSAGES.values()), ids=list(NOT_MESSAGES))
def test_any_other_line_fails_quoting_it(line):
    with pytest.raises(ProtocolViolationError) as raised:
        parse_messages(f"{LOG}\n{line}\n{RECORD}")
    assert repr(line[:500]) in str(raised.value)
    with pytest.raises(ProtocolViolationError):
        parse_lines([LOG, line, RECORD])


def test_the_cdk_debug_lines_pass_only_in_a_debug_run():
    line = json.dumps({"type": "DEBUG", "message": "Debug logs enabled", "data": {}})
    assert [m["type"] for m in parse_messages(f"{line}\n{LOG}", debug=True)] == ["DEBUG", "LOG"]
    with pytest.raises(ProtocolViolationError):
        parse_messages(f"{line}\n{LOG}")
