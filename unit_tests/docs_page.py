"""Reading docs/customer-io.md and the messages in the connector's code, for test_docs_page.py.

The messages are found in the source code itself (its syntax tree), not listed by hand, so that a
message added to the code without a word on the page fails the test. A message is what a call that
reports to the user carries (config_error, transient_error, AirbyteTracedException, a warning...);
its fixed text is cut at each value filled in at run time, and each piece long enough to be told
apart must be quoted on the page.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "customer-io.md"
PACKAGE = ROOT / "source_customerio"
# Shorter pieces ("Stream '", "; ") say nothing on their own.
MIN_FRAGMENT = 12

# Calls whose first argument (or `message=`) is shown to the user, and what kind of message it is.
ERROR_CALLS = {
    "config_error": "config_error",
    "transient_error": "error",
    "RequestRefusedError": "error",
    "_retry": "error",  # the error table's reasons, quoted in "kept failing after retries (...)"
}
WARNING_CALLS = {"warning", "_warn", "_warn_once", "warn"}
# Functions that build a whole message and return it (run.py's config and state problems, the
# 429 hint) instead of raising it.
MESSAGE_FUNCTIONS = {
    "_config_problem": "config_error",
    "_state_problem": "config_error",
    "quota_hint": "error",
}
# Each ValueError of the config model becomes part of a config_error (describe_validation_error).
VALUE_ERROR_MODULES = {"config.py"}


@dataclass(frozen=True)
class Message:
    where: str
    kind: str  # "config_error", "error" or "warning"
    fragments: tuple[str, ...]


def normalized(text: str) -> str:
    return " ".join(text.split())


def page_text() -> str:
    return PAGE.read_text(encoding="utf-8")


def section(markdown: str, heading: str) -> str:
    """The text under a `## heading` up to the next heading of the same level."""
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"docs/customer-io.md has no '## {heading}' section"
    return match.group(1)


def table_rows(markdown: str) -> list[list[str]]:
    """The cells of the first Markdown table in `markdown`, header and rule left out."""
    lines = [line.strip() for line in markdown.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def code_spans(cell: str) -> list[str]:
    return [span.strip() for span in re.findall(r"`+([^`]+)`+", cell)]


# -- messages in the code ---------------------------------------------------------------------------


def _module_constants(trees: dict[Path, ast.Module]) -> dict[str, str]:
    """Module-level string constants (UNAUTHORIZED, START_DATE_FORMS...), by name, across the package."""
    found: dict[str, set[str]] = {}
    for tree in trees.values():
        for node in tree.body:
            target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
            value = getattr(node, "value", None)
            if (
                isinstance(target, ast.Name)
                and isinstance(value, ast.Constant)
                and isinstance(value.value, str)
            ):
                found.setdefault(target.id, set()).add(value.value)
    return {name: values.pop() for name, values in found.items() if len(values) == 1}


class _Fragments:
    """The fixed pieces of a message expression; a value known only at run time splits them."""

    def __init__(self, constants: dict[str, str], local: dict[str, ast.expr]) -> None:
        self.constants = constants
        self.local = local

    def __call__(self, node: ast.expr | None) -> list[str]:
        pieces = [""]
        self._walk(node, pieces)
        return [text for text in (normalized(p) for p in pieces) if len(text) >= MIN_FRAGMENT]

    def _walk(self, node: ast.expr | None, pieces: list[str]) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            pieces[-1] += node.value
        elif isinstance(node, ast.JoinedStr):
            for value in node.values:
                self._walk(value.value if isinstance(value, ast.FormattedValue) else value, pieces)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            self._walk(node.left, pieces)
            self._walk(node.right, pieces)
        elif isinstance(node, ast.Name) and node.id in self.constants:
            pieces[-1] += self.constants[node.id]
        elif isinstance(node, ast.Name) and node.id in self.local:
            self._walk(self.local.pop(node.id), pieces)
        else:
            pieces.append("")


def _message_argument(call: ast.Call, position: int = 0) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == "message":
            return keyword.value
    return call.args[position] if len(call.args) > position else None


def _failure_type(call: ast.Call) -> str | None:
    for node in [*call.args, *(k.value for k in call.keywords)]:
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "FailureType"
        ):
            return node.attr
    return None


def _classify(call: ast.Call, module: str) -> tuple[str, ast.expr | None] | None:
    name = call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")
    if name in ERROR_CALLS:
        return ERROR_CALLS[name], _message_argument(call)
    if name == "AirbyteTracedException":
        kind = "config_error" if _failure_type(call) == "config_error" else "error"
        return kind, _message_argument(call)
    if name == "ErrorResolution" and len(call.args) == 3:
        kind = "config_error" if _failure_type(call) == "config_error" else "error"
        return kind, call.args[2]
    if name == "__init__" and any(k.arg == "message" for k in call.keywords):
        # An exception class of ours passing its own text up (EndlessPagingError).
        kind = "config_error" if _failure_type(call) == "config_error" else "error"
        return kind, _message_argument(call)
    if name == "unexpected":
        return "error", _message_argument(call)
    if name in WARNING_CALLS:
        return "warning", _message_argument(call)
    if name == "ValueError" and module in VALUE_ERROR_MODULES:
        return "config_error", _message_argument(call)
    return None


def _local_assignments(function: ast.AST) -> dict[str, ast.expr]:
    return {
        node.targets[0].id: node.value
        for node in ast.walk(function)
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
    }


def code_messages() -> list[Message]:
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(PACKAGE.rglob("*.py"))}
    constants = _module_constants(trees)
    messages = []
    for path, tree in trees.items():
        for scope in [tree, *_functions(tree)]:
            local = _local_assignments(scope) if isinstance(scope, ast.FunctionDef) else {}
            name = scope.name if isinstance(scope, ast.FunctionDef) else ""
            for node in _own_nodes(scope):
                found = None
                if isinstance(node, ast.Call):
                    found = _classify(node, path.name)
                elif isinstance(node, ast.Return) and name in MESSAGE_FUNCTIONS:
                    found = MESSAGE_FUNCTIONS[name], node.value
                if found is None:
                    continue
                kind, expression = found
                fragments = _Fragments(constants, dict(local))(expression)
                if fragments:
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    messages.append(Message(where, kind, tuple(fragments)))
    return messages


def _functions(tree: ast.Module) -> Iterator[ast.FunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            yield node


def _own_nodes(scope: ast.Module | ast.FunctionDef) -> Iterator[ast.AST]:
    """The nodes of a module or function, those of functions in it left to their own turn."""
    stack: list[ast.AST] = list(scope.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            if isinstance(node, ast.Lambda):
                stack.append(node.body)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))
