"""Editing one rule in a rule file's text, leaving every other byte as it was.

ruamel.yaml's composer gives the exact start and end of each node. The edited
rule's lines (from its ``-`` to the line where its last value ends) are replaced
by the new rule, dumped by ruamel and indented to the same column; comments,
blank lines, quoting and odd indentation elsewhere are untouched. Comments just
above a rule and below its last value are outside it and stay too.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from siprec_appliance.policy.errors import RuleNotFoundError, RuleProblem, RulesError
from siprec_appliance.policy.source import parse_source, to_plain

__all__ = ["RULE_KEY_ORDER", "remove_rule", "upsert_rule"]

# The order keys are written in when a rule is dumped.
RULE_KEY_ORDER = ("id", "description", "enabled", "priority", "when", "then", "stop")
_INDENT = 2


def upsert_rule(text: str, rule: Mapping[str, Any]) -> str:
    """``text`` with the rule of the same ``id`` replaced in place, or appended.

    Raises :class:`RulesError` when ``text`` is not valid YAML or its ``rules`` cannot
    be edited (flow style), ``ValueError`` when ``rule`` has no string ``id``.
    """
    rule_id = rule.get("id")
    if not isinstance(rule_id, str) or not rule_id:
        raise ValueError("the rule needs a string 'id'")
    lines = _lines(text)
    root = _compose(text)
    items = _rules_node(root)
    index = _find(items, rule_id) if items is not None else None
    if items is not None and index is not None:
        first, last, column = _item_span(text, items.value[index])
        edited = [*lines[:first], _dump(rule, column, text), *lines[last + 1 :]]
    else:
        edited = _append(text, lines, root, items, rule)
    result = "".join(edited)
    _check(result, rule_id, to_plain(_ordered(rule)))
    return result


def remove_rule(text: str, rule_id: str) -> str:
    """``text`` without the rule ``rule_id`` (its lines only).

    Raises :class:`RuleNotFoundError` when the file has no such rule.
    """
    root = _compose(text)
    items = _rules_node(root)
    index = _find(items, rule_id) if items is not None else None
    if items is None or index is None:
        raise RuleNotFoundError(rule_id)
    first, last, _ = _item_span(text, items.value[index])
    lines = _lines(text)
    return "".join(lines[:first] + lines[last + 1 :])


# --------------------------------------------------------------------------------------
# Finding the rule in the node tree
# --------------------------------------------------------------------------------------


def _compose(text: str) -> Node | None:
    problem = parse_source("<edited file>", text)
    if isinstance(problem, RuleProblem):
        raise RulesError([problem])
    try:
        root: Node | None = YAML(typ="rt").compose(text)
    except YAMLError as exc:  # parse_source accepted it, so this is not expected
        raise RulesError([RuleProblem("<edited file>", 0, 0, f"invalid YAML: {exc}")]) from exc
    if root is not None and not isinstance(root, MappingNode):
        raise _not_editable("the file is not a mapping with 'rules'")
    if root is not None and root.flow_style:
        raise _not_editable("the file is written in flow style ({...})")
    return root


def _rules_entry(root: Node | None) -> tuple[ScalarNode, Node] | None:
    """The ``rules`` key and its value node, or None when there is no such key."""
    if root is None:
        return None
    for key, value in root.value:
        if isinstance(key, ScalarNode) and key.value == "rules":
            return key, value
    return None


def _rules_node(root: Node | None) -> SequenceNode | None:
    """The ``rules`` block sequence, or None when there is none (no key, null, ``[]``)."""
    entry = _rules_entry(root)
    if entry is None:
        return None
    value = entry[1]
    if isinstance(value, SequenceNode) and not value.flow_style:
        return value
    if _is_empty(value):
        return None
    raise _not_editable("'rules' is not a block list ('- id: ...' items)")


def _is_empty(node: Node) -> bool:
    """A null value or an empty flow list ``[]`` on the key's line."""
    if isinstance(node, ScalarNode):
        return str(node.tag).endswith(":null")
    return (
        isinstance(node, SequenceNode)
        and not node.value
        and node.start_mark.line == node.end_mark.line
    )


def _find(items: SequenceNode, rule_id: str) -> int | None:
    for index, item in enumerate(items.value):
        if not isinstance(item, MappingNode):
            continue
        for key, value in item.value:
            if key.value == "id" and isinstance(value, ScalarNode) and value.value == rule_id:
                return index
    return None


def _item_span(text: str, item: Node) -> tuple[int, int, int]:
    """0-based first and last line of a sequence item (its ``-`` to its last value), and
    the column of the ``-``."""
    dash = item.start_mark.index - 1
    while dash >= 0 and text[dash] in " \t\r\n":
        dash -= 1
    if dash < 0 or text[dash] != "-":
        raise _not_editable("a rule is not a block list item ('- id: ...')")
    line_start = text.rfind("\n", 0, dash) + 1
    if text[line_start:dash].strip():
        raise _not_editable("a rule does not start its own line")
    return text.count("\n", 0, dash), _last_line(_last_leaf(item)), dash - line_start


def _last_leaf(node: Node) -> Node:
    """The node written last inside ``node`` (its end mark is exact, unlike a block's)."""
    while isinstance(node, MappingNode | SequenceNode) and node.value and not node.flow_style:
        last = node.value[-1]
        node = last[1] if isinstance(node, MappingNode) else last
    return node


def _last_line(node: Node) -> int:
    end = node.end_mark
    # A block scalar ends at the start of the following line.
    return (
        int(end.line) - 1 if end.column == 0 and end.line > node.start_mark.line else int(end.line)
    )


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


def _append(
    text: str,
    lines: list[str],
    root: Node | None,
    items: SequenceNode | None,
    rule: Mapping[str, Any],
) -> list[str]:
    """Add the rule after the last rule, or create ``rules:`` (at the end of the file)."""
    if items is not None and items.value:
        _, last, column = _item_span(text, items.value[-1])
        return _insert_after(lines, last, _dump(rule, column, text), text)
    entry = _rules_entry(root)
    if entry is None:
        head = list(lines)
        if head and not head[-1].endswith("\n"):
            head[-1] += _eol(text)
        return [*head, "rules:" + _eol(text), _dump(rule, _INDENT, text)]
    key, value = entry
    line = int(key.start_mark.line)
    start, end = int(value.start_mark.column), int(value.end_mark.column)
    if value.start_mark.line == line and end > start:  # drop "null", "~" or "[]"
        lines = [*lines[:line], _drop_token(lines[line], start, end), *lines[line + 1 :]]
    block = _dump(rule, int(key.start_mark.column) + _INDENT, text)
    return _insert_after(lines, line, block, text)


def _drop_token(line: str, start: int, end: int) -> str:
    """``rules: ~   # c`` -> ``rules: # c``; ``rules: []`` -> ``rules:``."""
    head, rest = line[:start].rstrip(" \t"), line[end:]
    return head + (" " + rest.lstrip(" \t") if rest.strip() else rest)


def _insert_after(lines: list[str], line: int, block: str, text: str) -> list[str]:
    before = lines[: line + 1]
    if before and not before[-1].endswith("\n"):
        before[-1] += _eol(text)
    return [*before, block, *lines[line + 1 :]]


def _ordered(rule: Mapping[str, Any]) -> dict[str, Any]:
    known = {key: rule[key] for key in RULE_KEY_ORDER if key in rule}
    return known | {key: value for key, value in rule.items() if key not in known}


def _dump(rule: Mapping[str, Any], column: int, text: str) -> str:
    """The rule as one block list item whose ``-`` is at ``column``."""
    yaml = YAML(typ="rt")
    yaml.indent(mapping=_INDENT, sequence=_INDENT * 2, offset=_INDENT)
    yaml.width = 4096  # never fold long strings (messages, regexes)
    yaml.default_flow_style = False
    stream = io.StringIO()
    yaml.dump([to_plain(_ordered(rule))], stream)
    block = textwrap.indent(textwrap.dedent(stream.getvalue()), " " * column)
    return block.replace("\n", _eol(text))


def _eol(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _lines(text: str) -> list[str]:
    """Lines with their ends, split where YAML counts lines (``\\n``)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _check(result: str, rule_id: str, expected: Any) -> None:
    """The edited text must parse and hold the rule exactly (a safety net)."""
    parsed = parse_source("<edited file>", result)
    if isinstance(parsed, RuleProblem):
        raise RulesError([parsed])
    rules = parsed.data.get("rules") if isinstance(parsed.data, dict) else None
    found = [r for r in rules or () if isinstance(r, dict) and r.get("id") == rule_id]
    if not found or found[0] != expected:
        raise ValueError(f"editing rule {rule_id!r} would not keep it as given")


def _not_editable(reason: str) -> RulesError:
    return RulesError([RuleProblem("<edited file>", 0, 0, f"cannot edit this file: {reason}")])
