"""Start-up: import only the parts of the CDK a command uses, and skip work the CDK does at import
that cannot change its results.

Two costs dominate `import airbyte_cdk.<anything>` (measured with `python -X importtime`, ~1.7 s):

- `airbyte_cdk/__init__.py` imports the whole CDK (the declarative framework's pydantic v1 component
  schema, jinja, destinations, file-based sources...), none of which this connector uses. The package
  is registered here without running its `__init__`; the submodules the connector imports load as
  usual, and anything read from the top-level package (`from airbyte_cdk import X`) runs the real
  `__init__` then, on first use.
- serpyco_rs builds each CDK message serializer from the protocol dataclasses, and for each class asks
  `attributes_doc.get_attributes_doc`, which re-reads and re-parses the whole protocol module's source
  once per class (Python 3.11's `inspect.getsource` for classes), to collect attribute docstrings for
  the JSON schema's descriptions. The protocol module has no attribute docstrings at all: a file
  parsed once here that has none answers {} for each of its classes, exactly what the full parse
  answers; any other file goes through the original function.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
import types
from collections.abc import Callable
from functools import cache, lru_cache
from typing import Any

CDK = "airbyte_cdk"


def install() -> None:
    """Call before the first CDK import of the process (no effect if the CDK is already imported)."""
    if CDK in sys.modules:
        return
    _lazy_cdk_package()
    _shortcut_attribute_docs()


def _lazy_cdk_package() -> None:
    spec = importlib.util.find_spec(CDK)
    if spec is None or spec.loader is None or not spec.submodule_search_locations:
        return
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader
    loaded = False

    def load_whole_package(name: str) -> Any:
        # PEP 562: called only for names the package does not have yet.
        nonlocal loaded
        submodule = sys.modules.get(f"{CDK}.{name}")
        if submodule is not None:  # `import airbyte_cdk.a.b as c` while airbyte_cdk.a is being imported
            return submodule
        if name.startswith("__") or loaded:
            raise AttributeError(f"module {CDK!r} has no attribute {name!r}")
        loaded = True
        del package.__dict__["__getattr__"]
        loader.exec_module(package)
        return getattr(package, name)

    package.__getattr__ = load_whole_package  # type: ignore[method-assign]
    sys.modules[CDK] = package


def _shortcut_attribute_docs() -> None:
    try:
        import serpyco_rs._describe as describe
        import serpyco_rs._json_schema._convert as convert
        import serpyco_rs._utils as utils
    except ImportError:  # another serpyco_rs layout: keep its own behaviour
        return
    original = utils.get_attributes_doc
    if getattr(original, "_customerio_shortcut", False):
        return
    fast = lru_cache(maxsize=None)(attributes_doc_without_reparsing(original))
    fast._customerio_shortcut = True  # type: ignore[attr-defined]
    for module in (utils, describe, convert):
        if getattr(module, "get_attributes_doc", None) is original:
            module.get_attributes_doc = fast  # type: ignore[attr-defined]


def attributes_doc_without_reparsing(
    original: Callable[[type], dict[str, str]],
) -> Callable[[type], dict[str, str]]:
    """`original(cls)`, answered {} without parsing when no class of any file in cls's MRO has an
    attribute docstring (or an f-string where one would be, on which the original raises)."""

    def get_attributes_doc(cls: type) -> dict[str, str]:
        for parent in cls.mro():
            if parent is object:
                continue
            try:
                path = inspect.getsourcefile(parent)
            except TypeError:  # built-in: the original skips it too
                continue
            if path is None or _file_may_have_attribute_docs(path):
                return original(cls)
        return {}

    return get_attributes_doc


@cache
def _file_may_have_attribute_docs(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as source:
            tree = ast.parse(source.read())
    except (OSError, SyntaxError, ValueError):
        return True
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        for first, second in zip(node.body, node.body[1:], strict=False):
            if (
                isinstance(first, (ast.Assign, ast.AnnAssign))
                and isinstance(second, ast.Expr)
                and isinstance(second.value, (ast.Constant, ast.JoinedStr))
            ):
                return True
    return False


def cdk_fully_imported() -> bool:
    """Whether the CDK's top-level package has run its `__init__` (tests)."""
    package = sys.modules.get(CDK)
    return isinstance(package, types.ModuleType) and "__getattr__" not in package.__dict__
