"""Rule files (name and text) to a :class:`~.ruleset.RuleSet`, or every problem found.

The pipeline, per file sorted by name: YAML (ruamel round trip, positions kept),
the JSON Schema (``schemas/rules.schema.json``, passed in by the caller), then the
checks a schema cannot make: named lists defined once across files, rule ids
unique across files, fact names, operands (regexes, networks, phone numbers),
time windows, and each action through its plug-in. A rule or list the schema
rejected is not compiled further, so one typo does not cause a cascade, but every
other rule still is: all problems come back at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from siprec_appliance.policy.actions import Action, ActionContext
from siprec_appliance.policy.context import At, CompileContext, NamedList
from siprec_appliance.policy.errors import ActionError, KeyPath, RuleProblem, RulesError
from siprec_appliance.policy.registry import DEFAULT_REGISTRY, resolve_action
from siprec_appliance.policy.ruleset import ListInfo, Rule, RuleSet
from siprec_appliance.policy.schema_check import schema_issues, validator_for
from siprec_appliance.policy.source import SourceFile, parse_source
from siprec_appliance.policy.when import compile_condition

__all__ = ["compile_rule_set", "rule_set_version", "validate_texts"]

VERSION_LENGTH = 12  # hex digits of the SHA-256 shown as the rule-set version


def compile_rule_set(
    files: Sequence[tuple[str, str]],
    *,
    schema: Mapping[str, Any],
    registry: Mapping[str, str] = DEFAULT_REGISTRY,
    channels: frozenset[str] | None = None,
    default_record: bool = True,
) -> RuleSet:
    """Compile ``(file name, text)`` pairs; raises :class:`RulesError` listing every problem.

    ``schema`` is the parsed ``schemas/rules.schema.json``; ``channels`` the configured
    alert channel names (None: not checked); ``default_record`` applies when no rule
    sets ``record``.
    """
    outcome = _compile(files, schema=schema, registry=registry, channels=channels)
    if outcome.problems:
        raise RulesError(outcome.problems)
    return RuleSet(
        version=rule_set_version(files),
        rules=tuple(outcome.rules),
        lists={name: _list_info(named) for name, named in outcome.lists.items()},
        files=tuple(sorted(name for name, _ in files)),
        default_record=default_record,
    )


def validate_texts(
    file_name: str,
    text: str,
    others: Sequence[tuple[str, str]] = (),
    *,
    schema: Mapping[str, Any],
    registry: Mapping[str, str] = DEFAULT_REGISTRY,
    channels: frozenset[str] | None = None,
) -> list[RuleProblem]:
    """The problems of ``text`` as file ``file_name`` next to the ``others`` (text in, errors out).

    A file of ``others`` with the same name is replaced by ``text``. Only problems in
    ``file_name`` are returned (a duplicate id is reported in both files, so this
    one's copy is among them). An empty list means the file can be saved.
    """
    files = [(name, body) for name, body in others if name != file_name]
    files.append((file_name, text))
    outcome = _compile(files, schema=schema, registry=registry, channels=channels)
    return sorted({problem for problem in outcome.problems if problem.file == file_name})


def rule_set_version(files: Sequence[tuple[str, str]]) -> str:
    """A short SHA-256 over the sorted file names and texts (changes with any edit)."""
    digest = hashlib.sha256()
    for name, text in sorted(files):
        for part in (name, text):
            data = part.encode("utf-8", "surrogatepass")
            digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()[:VERSION_LENGTH]


# --------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Checked:
    """A parsed file after the schema: which rules and lists are fit to compile."""

    source: SourceFile
    usable: bool
    bad_sections: set[str] = field(default_factory=set)
    bad_lists: set[str] = field(default_factory=set)
    bad_paths: set[KeyPath] = field(default_factory=set)

    def rules(self) -> Iterator[tuple[int, Any]]:
        """Every rule that is a mapping; the compiler skips the parts the schema rejected."""
        if not self.usable or "rules" in self.bad_sections:
            return
        for index, rule in enumerate(self.source.data.get("rules") or ()):
            if isinstance(rule, dict):
                yield index, rule

    def lists(self) -> Iterator[tuple[str, Any]]:
        if not self.usable or "lists" in self.bad_sections:
            return
        for name, values in (self.source.data.get("lists") or {}).items():
            if name not in self.bad_lists:
                yield name, values


@dataclass(slots=True)
class _Outcome:
    rules: list[Rule]
    lists: dict[str, NamedList]
    problems: list[RuleProblem]


def _compile(
    files: Sequence[tuple[str, str]],
    *,
    schema: Mapping[str, Any],
    registry: Mapping[str, str],
    channels: frozenset[str] | None,
) -> _Outcome:
    problems: list[RuleProblem] = []
    validator = validator_for(schema)
    checked = [_schema_check(source, validator, problems) for source in _parse_all(files, problems)]
    lists = _collect_lists(checked, problems)
    rejected = {(item.source.name, path) for item in checked for path in item.bad_paths}
    ctx = CompileContext(lists=lists, problems=problems, rejected=frozenset(rejected))
    action_context = ActionContext(channels=channels)
    rules: list[Rule] = []
    for item in checked:
        for index, data in item.rules():
            at = At(item.source, ("rules", index))
            rule = _compile_rule(
                data, at, index, ctx, registry=registry, action_context=action_context
            )
            if rule is not None:
                rules.append(rule)
    _check_unique_ids(checked, problems)
    return _Outcome(rules=rules, lists=lists, problems=problems)


def _parse_all(files: Sequence[tuple[str, str]], problems: list[RuleProblem]) -> list[SourceFile]:
    sources: list[SourceFile] = []
    seen: set[str] = set()
    for name, text in sorted(files, key=lambda pair: pair[0]):
        if name in seen:
            problems.append(RuleProblem(name, 0, 0, "the same file name was given twice"))
            continue
        seen.add(name)
        parsed = parse_source(name, text)
        if isinstance(parsed, RuleProblem):
            problems.append(parsed)
        else:
            sources.append(parsed)
    return sources


def _schema_check(
    source: SourceFile, validator: Draft202012Validator, problems: list[RuleProblem]
) -> _Checked:
    data = {} if source.data is None else source.data
    source = SourceFile(source.name, source.text, source.tree, data)
    checked = _Checked(source, usable=isinstance(data, dict))
    for issue in schema_issues(validator, data):
        problems.append(source.problem(issue.path, issue.message, at_key=issue.at_key))
        _mark_bad(checked, issue.path)
        checked.bad_paths.add(issue.path)
    return checked


def _mark_bad(checked: _Checked, path: KeyPath) -> None:
    """Keep what the schema rejected out of the compiler (its problem is reported)."""
    if not path:
        checked.usable = False
    elif len(path) == 1:
        checked.bad_sections.add(str(path[0]))
    elif path[0] == "lists":
        checked.bad_lists.add(str(path[1]))


def _collect_lists(checked: list[_Checked], problems: list[RuleProblem]) -> dict[str, NamedList]:
    """Every list of every file in one namespace; a name defined twice is an error."""
    found: dict[str, list[NamedList]] = {}
    for item in checked:
        for name, values in item.lists():
            at = At(item.source, ("lists", name))
            found.setdefault(name, []).append(NamedList(name, tuple(values), at))
    for name, definitions in found.items():
        if len(definitions) > 1:
            for definition in definitions:
                others = ", ".join(
                    other.at.where(at_key=True) for other in definitions if other is not definition
                )
                problems.append(
                    definition.at.problem(
                        f"list {name!r} is defined more than once (also at {others})", at_key=True
                    )
                )
    return {name: definitions[0] for name, definitions in found.items()}


def _check_unique_ids(checked: list[_Checked], problems: list[RuleProblem]) -> None:
    """Rule ids are unique across all files; each copy is reported, naming the others."""
    found: dict[str, list[At]] = {}
    for item in checked:
        rules = item.source.data.get("rules") if item.usable else None
        for index, rule in enumerate(rules if isinstance(rules, list) else ()):
            if isinstance(rule, dict) and isinstance(rule.get("id"), str):
                found.setdefault(rule["id"], []).append(At(item.source, ("rules", index, "id")))
    for rule_id, places in found.items():
        for place in places if len(places) > 1 else ():
            others = ", ".join(other.where() for other in places if other is not place)
            problems.append(place.problem(f"duplicate rule id {rule_id!r} (also at {others})"))


def _compile_rule(
    data: Mapping[str, Any],
    at: At,
    index: int,
    ctx: CompileContext,
    *,
    registry: Mapping[str, str],
    action_context: ActionContext,
) -> Rule | None:
    when = compile_condition(data["when"], at.child("when"), ctx) if "when" in data else None
    then = data.get("then")
    actions = [
        None
        if ctx.rejected_below(at.child("then", position))
        else _compile_action(item, at.child("then", position), ctx, registry, action_context)
        for position, item in enumerate(then if isinstance(then, list) else ())
    ]
    if ctx.rejected_below(at) or when is None or any(action is None for action in actions):
        return None
    return Rule(
        id=str(data["id"]),
        file=at.source.name,
        line=at.source.position(at.path)[0],
        position=index,
        priority=int(data["priority"]),
        enabled=bool(data.get("enabled", True)),
        description=str(data.get("description", "")),
        stop=bool(data.get("stop", False)),
        when=when,
        actions=tuple(action for action in actions if action is not None),
        data=data,
    )


def _compile_action(
    item: Mapping[str, Any],
    at: At,
    ctx: CompileContext,
    registry: Mapping[str, str],
    action_context: ActionContext,
) -> tuple[str, Action] | None:
    """``{name: params}`` through the plug-in: its schema, then its own checks."""
    ((name, params),) = item.items()
    plugin = resolve_action(name, registry)
    if isinstance(plugin, str):
        ctx.report(at, plugin)
        return None
    issues = schema_issues(validator_for(plugin.params_schema), params)
    for issue in issues:
        ctx.report(at.child(name, *issue.path), issue.message, at_key=issue.at_key)
    if issues:
        return None
    try:
        return name, plugin.from_params(params, action_context)
    except ActionError as exc:
        for problem in exc.problems:
            ctx.report(at.child(name, *problem.path), problem.message)
    except Exception as exc:  # a plug-in bug refuses the rule, never crashes the loader
        ctx.report(at.child(name), f"the {name} plug-in failed on these parameters: {exc!r}")
    return None


def _list_info(named: NamedList) -> ListInfo:
    line = named.at.source.position(named.at.path, at_key=True)[0]
    return ListInfo(named.name, named.at.source.name, line, named.values)
