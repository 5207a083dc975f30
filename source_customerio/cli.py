"""The commands that need the CDK (check, discover, read), for run.py.

It runs the CDK's entrypoint with these additions:

- The configuration is validated first, in the connector's own words, naming the field to fix:
  `check` answers a FAILED connection status, `discover` and `read` a `config_error` TRACE and
  exit code 1.
- The API key is handed to the CDK's secret filter as soon as the config file is read, so that no
  log line, trace or error of any path can print it.
- No Python traceback reaches stdout, the Airbyte message stream: TRACE messages lose their
  `stack_trace` and log records their exception text, both written to stderr instead (secrets
  masked). An exception that escapes the CDK ends the process with a TRACE and exit code 1.
- A read's streams yield records in batches (records.py), written here as bytes; the read also
  tunes the garbage collector, the memory allocator and the stdout pipe for a few hundred MB of
  short-lived records.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import logging
import os
import stat
import sys
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jsonschema

try:
    import fcntl
except ImportError:  # not on Windows
    fcntl = None  # type: ignore[assignment]
import orjson
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.logger import PRINT_BUFFER
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteMessageSerializer,
    ConnectorSpecification,
    FailureType,
    Status,
    Type,
)
from airbyte_cdk.sources.connector_state_manager import HashableStreamDescriptor
from airbyte_cdk.utils.airbyte_secrets_utils import add_to_secrets, filter_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_customerio.config import SECRET_FIELDS, CustomerioConfig
from source_customerio.records import RecordBatch
from source_customerio.run import buffer_stdout
from source_customerio.source import SourceCustomerio

CONFIG_COMMANDS = ("check", "discover", "read")
# Container allocations between two young-generation collections during a read (Python's default: 700).
GC_YOUNG_THRESHOLD = 50_000
STDOUT_PIPE_BYTES = 1 << 20
# glibc mallopt(): M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD (malloc.h).
MALLOC_OPTIONS = ((-1, 64 << 20), (-2, 16 << 20), (-3, 16 << 20))
# The CDK ends a read in which streams failed with this summary, always typed config_error.
FAILED_STREAMS_SUMMARY = "During the sync, the following streams did not sync successfully"
_TRACE_PREFIX = '{"type":"TRACE"'


def main(args: list[str]) -> int:
    """Run one command; the exit code."""
    buffer_stdout()
    _route_tracebacks_to_stderr()
    if args[:1] == ["read"]:
        _tune_garbage_collector()
        _tune_memory_allocator()
        _widen_stdout_pipe()
    source = SourceCustomerio()
    entrypoint = _Entrypoint(source, _write_lines)
    parsed = entrypoint.parse_args(args)
    failures: list[str] = []  # failure types of the TRACE errors emitted so far
    with PRINT_BUFFER:
        try:
            problem = _config_problem(source, parsed) or _state_problem(source, parsed)
            if problem is not None:
                return _report_config_problem(parsed.command, problem)
            for message in entrypoint.run(parsed):
                _emit(message, failures)
        except Exception as error:
            traced = (
                error
                if isinstance(error, AirbyteTracedException)
                else AirbyteTracedException.from_exception(error)
            )
            _retype_summary(traced, failures)
            _emit(_serialize(_without_stack_trace(traced.as_sanitized_airbyte_message())))
            return 1
    return 0


class _Entrypoint(AirbyteEntrypoint):
    """The CDK's entrypoint, but a read's RecordBatches (records.py) are written here, as bytes, by
    `write_lines`; the CDK's loop still orders them among the other messages and counts them."""

    def __init__(self, source: SourceCustomerio, write_lines: Callable[[bytes], None]) -> None:
        super().__init__(source)
        self.customerio = source
        self.write_lines = write_lines

    def read(
        self, source_spec: ConnectorSpecification, config: Mapping[str, Any], catalog: Any, state: list[Any]
    ) -> Iterator[AirbyteMessage]:
        # A test read's record limit (`__limit`, the connector builder's) counts messages: no batches.
        self.customerio.batch_records = not any(str(key).startswith("__") for key in config)
        for message in super().read(source_spec, config, catalog, state):
            if isinstance(message, RecordBatch):
                self.write_lines(message.lines())
            else:
                yield message

    @staticmethod
    def handle_record_counts(
        message: AirbyteMessage, stream_message_count: defaultdict[HashableStreamDescriptor, float]
    ) -> AirbyteMessage:
        if isinstance(message, RecordBatch) and message.record is not None:
            # The CDK counts one per RECORD message; the STATE's record count wants the records.
            descriptor = HashableStreamDescriptor(
                name=message.record.stream, namespace=message.record.namespace
            )
            stream_message_count[descriptor] += float(message.count)
            return message
        return AirbyteEntrypoint.handle_record_counts(message, stream_message_count)

    @staticmethod
    def set_up_secret_filter(config: Mapping[str, Any], connection_specification: Mapping[str, Any]) -> None:
        # The CDK registers the key as written in the config (and replaces the list); the key is
        # sent stripped of surrounding blanks, so register that form too.
        AirbyteEntrypoint.set_up_secret_filter(config, connection_specification)
        _register_secrets(config)


# -- configuration ---------------------------------------------------------------------------------


def _config_problem(source: SourceCustomerio, parsed: argparse.Namespace) -> str | None:
    """What is wrong with the config file, in words naming the field; None when it is usable."""
    if parsed.command not in CONFIG_COMMANDS:
        return None
    try:
        config = source.read_config(parsed.config)
    except Exception as error:
        return f"Could not read the config file: {type(error).__name__}: {error}"
    if not isinstance(config, Mapping):
        return "Invalid configuration: the config file must hold a JSON object."
    _register_secrets(config)
    try:
        CustomerioConfig.from_mapping(config)
    except AirbyteTracedException as error:
        return error.message or "Invalid configuration."
    if parsed.command == "check":
        # `check` also validates against the spec's JSON schema (which is stricter about types
        # than the model): say which field it objects to.
        spec = source.spec(logging.getLogger("airbyte")).connectionSpecification
        if not config.get("access_token") and config.get("app_api_key"):
            config = {**config, "access_token": config["app_api_key"]}
        mismatch = jsonschema.exceptions.best_match(jsonschema.Draft7Validator(spec).iter_errors(config))
        if mismatch is not None:
            field = ".".join(str(p) for p in mismatch.absolute_path) or "config"
            detail = (
                f"fails the spec's '{mismatch.validator}' rule"
                if field in SECRET_FIELDS
                else mismatch.message
            )
            return f"Invalid configuration: {field}: {detail}."
    return None


def _state_problem(source: SourceCustomerio, parsed: argparse.Namespace) -> str | None:
    """What is wrong with the state file of a read, if the CDK cannot load it at all.

    State that loads but whose values make no sense (a cursor that is not a timestamp, or in the
    future) is each stream's business: it logs a warning and reads from the start.
    """
    if parsed.command != "read" or not getattr(parsed, "state", None):
        return None
    try:
        source.read_state(parsed.state)
    except Exception as error:
        detail = " ".join(str(error).split()) or type(error).__name__
        return (
            f"Invalid state: the state file cannot be read as Airbyte per-stream state ({detail}). "
            'Expected a list of {"type": "STREAM", "stream": {"stream_descriptor": {"name": ...}, '
            '"stream_state": {...}}}. Reset the connection\'s state, or correct it.'
        )
    return None


def _register_secrets(config: Mapping[str, Any]) -> None:
    for name in SECRET_FIELDS:
        value = config.get(name)
        if isinstance(value, str) and value.strip():
            for form in {value, value.strip()}:
                add_to_secrets(form)


def _report_config_problem(command: str, problem: str) -> int:
    problem = filter_secrets(problem)
    if command == "check":
        status = AirbyteConnectionStatus(status=Status.FAILED, message=problem)
        _emit(_serialize(AirbyteMessage(type=Type.CONNECTION_STATUS, connectionStatus=status)))
        return 0
    error = AirbyteTracedException(
        message=problem, internal_message=problem, failure_type=FailureType.config_error
    )
    _emit(_serialize(_without_stack_trace(error.as_sanitized_airbyte_message(), keep_on_stderr=False)))
    return 1


# -- output ----------------------------------------------------------------------------------------


def _emit(message: str, failures: list[str] | None = None) -> None:
    """Print one message; a TRACE error loses its stack trace and its failure type is noted."""
    if message.startswith(_TRACE_PREFIX):
        message = _trace_without_stack(message, failures)
    print(f"{message}\n", end="")


def _tune_garbage_collector() -> None:
    """A read allocates a few dicts per record, freed by reference counting (records hold no cycles):
    the cyclic collector's passes every 700 allocations find nothing to free, and each one scans
    the young records again. Modules and classes imported so far are set aside for good (freeze)."""
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)


def _tune_memory_allocator() -> None:
    """Each batch of records allocates and frees a few MB; glibc's malloc gives freed memory back to
    the system at once (its heap top, and blocks above 128 KiB, which it maps one by one), and the
    next batch faults it in again, page by page: a quarter of a read's CPU went to the kernel. Kept
    for reuse instead (measured on a million people: peak RSS unchanged). Other C libraries: nothing."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        set_option = libc.mallopt
    except (OSError, AttributeError):
        return
    for option, value in MALLOC_OPTIONS:
        set_option(ctypes.c_int(option), ctypes.c_int(value))


def _widen_stdout_pipe() -> None:
    """A read writes hundreds of MB to stdout, usually a pipe of 64 KiB: each write of a batch of
    records then takes several system calls and context switches. A 1 MiB pipe takes a batch in one
    (Linux; elsewhere, or when stdout is not a pipe, nothing changes)."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if set_size is None:
        return
    try:
        if stat.S_ISFIFO(os.fstat(1).st_mode):
            fcntl.fcntl(1, set_size, STDOUT_PIPE_BYTES)
    except OSError:
        pass  # above /proc/sys/fs/pipe-max-size, or not allowed: keep the pipe as it is


def _write_lines(data: bytes) -> None:
    """Whole message lines as bytes, after everything printed before them (through the CDK's print
    buffer, which stands in for sys.stdout while it runs, or straight to sys.stdout)."""
    if not data:
        return
    if PRINT_BUFFER.buffer.tell():
        PRINT_BUFFER.flush()
    stream = sys.__stdout__ if sys.stdout is PRINT_BUFFER else sys.stdout
    if stream is None:
        return
    binary = getattr(stream, "buffer", None)
    if binary is None:
        stream.write(data.decode())
        return
    stream.flush()  # text written before goes out first
    binary.write(data)


def _retype_summary(traced: AirbyteTracedException, failures: list[str]) -> None:
    """When every stream that failed failed for a transient reason (the API kept failing), the sync
    failed for that reason too: say so, so that the platform retries it rather than asking the user
    to fix a setting."""
    if (
        failures
        and (traced.message or "").startswith(FAILED_STREAMS_SUMMARY)
        and all(kind == FailureType.transient_error.value for kind in failures)
    ):
        traced.failure_type = FailureType.transient_error


def _serialize(message: AirbyteMessage) -> str:
    return orjson.dumps(AirbyteMessageSerializer.dump(message)).decode()


def _without_stack_trace(message: AirbyteMessage, keep_on_stderr: bool = True) -> AirbyteMessage:
    trace_error = message.trace.error if message.trace else None
    if trace_error is not None and trace_error.stack_trace:
        if keep_on_stderr:
            _to_stderr(trace_error.stack_trace)
        trace_error.stack_trace = None
    return message


def _trace_without_stack(message: str, failures: list[str] | None) -> str:
    try:
        data = orjson.loads(message)
    except orjson.JSONDecodeError:
        return message
    error = data.get("trace", {}).get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and failures is not None:
        failures.append(str(error.get("failure_type")))
    if isinstance(error, dict) and error.get("stack_trace"):
        _to_stderr(str(error.pop("stack_trace")))
        return orjson.dumps(data).decode()
    return message


def _to_stderr(text: str) -> None:
    # The CDK's print buffer stands in for sys.stderr while it runs and writes to stdout: go around it.
    stream = sys.__stderr__
    if stream is not None:
        stream.write(filter_secrets(text).rstrip("\n") + "\n")
        stream.flush()


def _route_tracebacks_to_stderr() -> None:
    """Log records keep their message on stdout; their traceback (exc_info, stack_info) goes to stderr."""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "_customerio_tracebacks_to_stderr", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        if record.exc_info or record.stack_info:
            parts = []
            if record.exc_info and record.exc_info[0] is not None:
                parts.append("".join(traceback.format_exception(*record.exc_info)))
            if record.stack_info:
                parts.append(record.stack_info)
            if parts:
                _to_stderr(f"{record.getMessage()}\n" + "".join(parts))
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        return record

    factory._customerio_tracebacks_to_stderr = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
