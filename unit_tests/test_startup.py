"""Start-up: `spec` without the CDK, and the CDK imported without the work it does at import that cannot
change its results (source_customerio/fast_import.py). Each fast path is pinned to what it replaces."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import orjson
import pytest
import serpyco_rs._utils
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.models import AirbyteMessage, AirbyteStateMessage, ConfiguredAirbyteCatalog
from airbyte_cdk.models.airbyte_protocol_serializers import custom_type_resolver
from attributes_doc import get_attributes_doc
from serpyco_rs import Serializer

from source_customerio import SourceCustomerio, fast_import
from source_customerio.spec import spec_message


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_fast_spec_is_the_cdk_entrypoints_spec_message():
    entrypoint = AirbyteEntrypoint(SourceCustomerio())
    messages = [orjson.loads(line) for line in entrypoint.run(entrypoint.parse_args(["spec"]))]
    # The entrypoint's only other line is a LOG from its memory monitor.
    assert [m for m in messages if m["type"] != "LOG"] == [orjson.loads(spec_message())]
    assert spec_message().endswith(b"}\n") and spec_message().count(b"\n") == 1


def test_spec_command_imports_no_cdk_and_prints_one_spec_line():
    done = run_python(
        """
        import sys
        from source_customerio.run import main
        code = main(["spec"])
        heavy = ("airbyte_cdk", "requests", "serpyco_rs")
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
        print(code, loaded, file=sys.stderr)
        """
    )
    assert done.stderr.strip() == "0 []"
    [line] = done.stdout.splitlines()
    message = orjson.loads(line)
    assert message["type"] == "SPEC"
    assert message["spec"]["connectionSpecification"]["required"] == ["access_token"]


class Documented:
    size: int = 1
    """How big."""
    name = "x"
    """What it is called."""


class Undocumented:
    size: int = 1


class Child(Undocumented, Documented):
    pass


@pytest.mark.parametrize("cls", [Documented, Undocumented, Child, AirbyteMessage, AirbyteStateMessage])
def test_attribute_docs_shortcut_answers_what_the_full_parse_answers(cls):
    fast = fast_import.attributes_doc_without_reparsing(get_attributes_doc)
    assert fast(cls) == get_attributes_doc(cls)
    assert fast(Documented) == {"size": "How big.", "name": "What it is called."}


def test_cdk_serializers_built_with_the_shortcut_are_the_same(monkeypatch):
    kinds = (AirbyteMessage, ConfiguredAirbyteCatalog)

    def built() -> list[object]:
        return [
            Serializer(kind, omit_none=True, custom_type_resolver=custom_type_resolver)._schema
            for kind in kinds
        ]

    import serpyco_rs._describe as describe
    import serpyco_rs._json_schema._convert as convert

    plain = built()
    fast = fast_import.attributes_doc_without_reparsing(get_attributes_doc)
    for module in (serpyco_rs._utils, describe, convert):
        monkeypatch.setattr(module, "get_attributes_doc", fast)
    assert built() == plain


def test_lazy_cdk_package_loads_submodules_alone_and_the_whole_package_on_first_use():
    done = run_python(
        """
        import sys
        from source_customerio import fast_import
        fast_import.install()
        import airbyte_cdk.entrypoint
        from airbyte_cdk.sources.streams.http import HttpStream
        before = fast_import.cdk_fully_imported(), "airbyte_cdk.sources.declarative.models" in sys.modules
        from airbyte_cdk import AirbyteEntrypoint, __version__
        after = fast_import.cdk_fully_imported()
        print(before, after, AirbyteEntrypoint is airbyte_cdk.entrypoint.AirbyteEntrypoint, bool(__version__))
        """
    )
    assert done.stdout.split() == ["(False,", "False)", "True", "True", "True"]
