"""JSON Schema (Draft 2020-12) problems rewritten in words an operator understands.

jsonschema's own messages (``'x' is not valid under any of the given schemas``) name
Python reprs and schema internals. Each error is turned into a :class:`SchemaIssue`:
the key path it concerns and a plain sentence. A schema node can carry its own
wording, which wins over the generic one:

- ``"x-expected": "a value or a mapping of operators"`` replaces the list of types
  in ``expected …, got …``;
- ``"x-messages": {"<keyword>": "text with {value}"}`` replaces the whole message
  for that keyword (``{value}`` is the offending value, ``{key}`` a property name);
- ``"x-key-noun": "operator"`` names what an unknown key is (``unknown operator 'eq'``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from siprec_appliance.policy.errors import KeyPath

__all__ = ["SchemaIssue", "describe", "schema_issues", "validator_for"]

_TYPE_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "nothing",
}


@dataclass(frozen=True, slots=True)
class SchemaIssue:
    """One schema problem: where (key path; ``at_key`` points at the key) and what."""

    path: KeyPath
    message: str
    at_key: bool = False


def validator_for(schema: Mapping[str, Any]) -> Draft202012Validator:
    """A (cached) validator for ``schema``; the schema itself is checked first."""
    return _validator(json.dumps(schema, sort_keys=True))


@functools.lru_cache(maxsize=32)
def _validator(schema_json: str) -> Draft202012Validator:
    schema = json.loads(schema_json)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_issues(validator: Draft202012Validator, data: Any) -> list[SchemaIssue]:
    """Every problem of ``data`` against the validator's schema, in plain words."""
    issues: list[SchemaIssue] = []
    for error in validator.iter_errors(data):
        issues.extend(_translate(error))
    return issues


def describe(value: Any) -> str:
    """A value as an operator wrote it: ``'text'``, ``12``, ``true``, ``a mapping``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value) if isinstance(value, str) else str(value)


def _translate(error: ValidationError) -> list[SchemaIssue]:
    path: KeyPath = tuple(error.absolute_path)
    keyword = str(error.validator)
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    if "propertyNames" in error.absolute_schema_path:  # the instance is a key name
        key = str(error.instance)
        text = _custom(schema, keyword, error.instance) or f"{key!r} is not an allowed name"
        return [SchemaIssue((*path, key), text, at_key=True)]
    custom = _custom(schema, keyword, error.instance)
    if custom is not None:
        return [SchemaIssue(path, custom)]
    if keyword == "additionalProperties":
        return _unknown_keys(path, schema, error.instance)
    if keyword == "required":
        return _missing_keys(path, error.validator_value, error.instance)
    if keyword == "type":
        return [SchemaIssue(path, _type_problem(schema, error.instance, error.validator_value))]
    formatter = _FORMATTERS.get(keyword)
    text = formatter(error.instance, error.validator_value) if formatter else error.message
    return [SchemaIssue(path, text)]


def _custom(schema: Mapping[str, Any], keyword: str, value: Any) -> str | None:
    messages = schema.get("x-messages")
    if not isinstance(messages, Mapping) or keyword not in messages:
        return None
    return str(messages[keyword]).format(value=describe(value), key=str(value))


def _unknown_keys(path: KeyPath, schema: Mapping[str, Any], instance: Any) -> list[SchemaIssue]:
    known = list(schema.get("properties", {}))
    mapping: Mapping[str, Any] = instance if isinstance(instance, Mapping) else {}
    allowed = ", ".join(known) if known else "none"
    noun = str(schema.get("x-key-noun", "key"))
    return [
        SchemaIssue((*path, key), f"unknown {noun} {key!r} (allowed: {allowed})", at_key=True)
        for key in mapping
        if key not in known
    ]


def _missing_keys(path: KeyPath, required: Any, instance: Any) -> list[SchemaIssue]:
    mapping: Mapping[str, Any] = instance if isinstance(instance, Mapping) else {}
    return [SchemaIssue(path, f"missing key {key!r}") for key in required if key not in mapping]


def _type_problem(schema: Mapping[str, Any], value: Any, expected: Any) -> str:
    words = schema.get("x-expected")
    if not isinstance(words, str):
        names = [expected] if isinstance(expected, str) else list(expected)
        words = " or ".join(_TYPE_WORDS.get(name, name) for name in names)
    return f"expected {words}, got {describe(value)}"


def _count(noun: str, least: bool) -> Callable[[Any, Any], str]:
    def problem(value: Any, limit: Any) -> str:
        if least and limit == 1:
            return "must not be empty"
        bound = "at least" if least else "at most"
        plural = noun if limit == 1 else noun + "s"
        return f"must have {bound} {limit} {plural}"

    return problem


def _bound(words: str) -> Callable[[Any, Any], str]:
    def problem(value: Any, limit: Any) -> str:
        return f"{describe(value)} {words} {limit}"

    return problem


def _enum(value: Any, allowed: Any) -> str:
    return f"{describe(value)} is not one of: {', '.join(str(choice) for choice in allowed)}"


def _const(value: Any, expected: Any) -> str:
    return f"expected {describe(expected)}, got {describe(value)}"


def _pattern(value: Any, pattern: Any) -> str:
    return f"{describe(value)} does not have the expected form ({pattern})"


def _unique(value: Any, unique: Any) -> str:
    return "lists the same item more than once"


_FORMATTERS: dict[str, Callable[[Any, Any], str]] = {
    "enum": _enum,
    "const": _const,
    "pattern": _pattern,
    "uniqueItems": _unique,
    "minItems": _count("item", least=True),
    "maxItems": _count("item", least=False),
    "minProperties": _count("key", least=True),
    "maxProperties": _count("key", least=False),
    "minLength": _count("character", least=True),
    "maxLength": _count("character", least=False),
    "minimum": _bound("is less than the minimum of"),
    "maximum": _bound("is greater than the maximum of"),
    "exclusiveMinimum": _bound("must be greater than"),
    "exclusiveMaximum": _bound("must be less than"),
}
