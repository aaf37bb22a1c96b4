"""Rule-file text to data, keeping where each key and value was written.

ruamel.yaml's round-trip loader records the 0-based line and column of every key
(``CommentedMap.lc.key``), value (``lc.value``) and list item (``lc.item``). A
:class:`SourceFile` keeps that tree next to a plain JSON-like copy of the document,
so that any problem found on the plain data (by the schema or the compiler) can be
reported as ``file:line:col`` (1-based) with the key path it concerns.
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

from siprec_appliance.policy.errors import Key, KeyPath, RuleProblem

__all__ = ["SourceFile", "format_path", "parse_source", "to_plain"]

# A plain scalar as written (for numbers the loader turned into int, e.g. +31201234567).
_PLAIN_TOKEN = re.compile(r"[^\s,\[\]{}#]+")
_UNCLOSED = "found unexpected end of stream"
MAX_VALUES = 100_000  # values in one file, aliases expanded
_DUPLICATE_KEY = re.compile(r'found duplicate key "(.*?)"')


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One parsed rule file: its name, text, ruamel tree and plain data."""

    name: str
    text: str
    tree: Any
    data: Any

    def position(self, path: KeyPath, *, at_key: bool = False) -> tuple[int, int]:
        """1-based (line, column) of the value at ``path`` (or of its key with ``at_key``).

        When ``path`` leads somewhere the document does not reach (a missing key), the
        deepest existing node is given.
        """
        node = self.tree
        found = (0, 0)
        for index, key in enumerate(path):
            want_value = index == len(path) - 1 and not at_key
            where = _lc_position(node, key, value=want_value)
            if where is None:
                break
            found = where
            node = _child(node, key)
            if node is None:
                break
        return found[0] + 1, found[1] + 1

    def problem(self, path: KeyPath, message: str, *, at_key: bool = False) -> RuleProblem:
        """A problem at ``path``; the message is prefixed with the dotted path."""
        line, column = self.position(path, at_key=at_key)
        where = format_path(path)
        return RuleProblem(self.name, line, column, f"{where}: {message}" if where else message)

    def raw_scalar(self, path: KeyPath) -> str | None:
        """The plain scalar written at ``path``, as text (``+31201234567``, not an int)."""
        line, column = self.position(path)
        lines = _lines(self.text)
        if not 0 < line <= len(lines):
            return None
        match = _PLAIN_TOKEN.match(lines[line - 1], column - 1)
        return match.group(0) if match else None


@functools.lru_cache(maxsize=16)
def _lines(text: str) -> tuple[str, ...]:
    """The text's lines (YAML line breaks, not ``str.splitlines()``'s).

    Split once per text, not once per unquoted number: a file of thousands of
    numbers made loading quadratic. The key is the text itself (its hash is cached
    by ``str``), so an edited file is split anew.
    """
    return tuple(text.split("\n"))


def parse_source(name: str, text: str) -> SourceFile | RuleProblem:
    """Parse one rule file; a YAML syntax error becomes a located :class:`RuleProblem`."""
    yaml = YAML(typ="rt")
    try:
        tree = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if str(exc.problem).startswith(_UNCLOSED) and exc.context_mark is not None:
            mark = exc.context_mark  # where the unclosed quote starts, not the file's end
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        return RuleProblem(name, line, column, f"invalid YAML: {_yaml_problem(exc)}")
    except YAMLError as exc:  # e.g. a reader error: a control character in the text
        line, column = _position_of(text, getattr(exc, "position", None))
        return RuleProblem(name, line, column, f"invalid YAML: {str(exc).splitlines()[0]}")
    try:
        data = to_plain(tree)
    except (_TooLargeError, RecursionError):
        return RuleProblem(
            name, 1, 1, f"more than {MAX_VALUES} values (after expanding aliases); split the file"
        )
    return SourceFile(name=name, text=text, tree=tree, data=data)


def _position_of(text: str, index: Any) -> tuple[int, int]:
    """1-based line and column of a character index (0, 0 when unknown)."""
    if not isinstance(index, int) or not 0 <= index <= len(text):
        return 0, 0
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


def _yaml_problem(exc: MarkedYAMLError) -> str:
    problem = str(exc.problem or exc.context or "syntax error")
    duplicate = _DUPLICATE_KEY.match(problem)
    if duplicate:
        return f"duplicate key {duplicate.group(1)!r}"
    for start, words in _PLAIN_WORDS:
        if problem.startswith(start):
            return words
    return problem


# ruamel's parser vocabulary, reworded (the start of its message -> what to say).
_PLAIN_WORDS: tuple[tuple[str, str], ...] = (
    ("expected a single document", "more than one YAML document (remove the extra '---')"),
    ("but found another document", "more than one YAML document (remove the extra '---')"),
    ("expected ',' or ']'", "a [...] list is not closed, or a ',' is missing"),
    ("expected ',' or '}'", "a {...} mapping is not closed, or a ',' is missing"),
    ("expected <block end>", "bad indentation: this line does not line up with the lines above"),
    ("mapping values are not allowed here", "unexpected ':' (quote text that contains ': ')"),
    ("found character '\\t'", "tab character (indent with spaces)"),
    ("could not find expected ':'", "expected 'key: value' here"),
    (_UNCLOSED, "a quoted text is not closed (missing quote?)"),
    ("expected the node content", "a value is missing here (an unclosed [ or {?)"),
)


class _TooLargeError(Exception):
    """More values than :data:`MAX_VALUES` (aliases can multiply a small text)."""


def to_plain(node: Any, *, limit: int = MAX_VALUES) -> Any:
    """ruamel's round-trip types to plain JSON values (mapping keys become str).

    Raises ``_TooLargeError`` past ``limit`` values: YAML aliases share nodes that a plain
    copy expands ("billion laughs").
    """
    budget = [limit]
    return _plain(node, budget)


def _plain(node: Any, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLargeError
    if isinstance(node, Mapping):
        return {str(key): _plain(value, budget) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return [_plain(item, budget) for item in node]
    if isinstance(node, bool | ScalarBoolean):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if node is None:
        return None
    if isinstance(node, datetime.date):  # YAML timestamps: keep them as text
        return node.isoformat()
    return str(node)


def _lc_position(node: Any, key: Key, *, value: bool) -> tuple[int, int] | None:
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    try:
        if isinstance(node, Sequence) and isinstance(key, int):
            line, column = lc.item(key)
        elif isinstance(node, Mapping) and (original := _original_key(node, key)) is not _MISSING:
            line, column = lc.value(original) if value else lc.key(original)
        else:
            return None
    except (KeyError, IndexError, TypeError):
        return None
    return int(line), int(column)


_MISSING = object()


def _original_key(node: Mapping[Any, Any], key: Key) -> Any:
    """The document's own key for ``key`` (plain data made every key a str)."""
    if key in node:
        return key
    return next((original for original in node if str(original) == str(key)), _MISSING)


def _child(node: Any, key: Key) -> Any:
    if isinstance(node, Sequence) and not isinstance(node, str) and isinstance(key, int):
        return node[key] if 0 <= key < len(node) else None
    if isinstance(node, Mapping):
        original = _original_key(node, key)
        return None if original is _MISSING else node[original]
    return None


def format_path(path: KeyPath) -> str:
    """``("rules", 2, "then", 0)`` -> ``rules[2].then[0]``."""
    text = ""
    for key in path:
        if isinstance(key, int):
            text += f"[{key}]"
        else:
            text += f".{key}" if text else key
    return text
