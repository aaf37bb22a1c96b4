"""A compiled rule set: the rules in evaluation order and :meth:`RuleSet.evaluate`."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from siprec_appliance.policy.actions import Action
from siprec_appliance.policy.conditions import Condition
from siprec_appliance.policy.decision import Decision, DecisionBuilder, Json, RuleMatch
from siprec_appliance.policy.index import RuleIndex

__all__ = ["ListInfo", "Rule", "RuleSet"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule; ``data`` is the rule as written (plain JSON)."""

    id: str
    file: str
    line: int
    position: int  # index in the file's ``rules`` list
    priority: int
    enabled: bool
    description: str
    stop: bool
    when: Condition = field(repr=False, compare=False)
    actions: tuple[tuple[str, Action], ...] = field(repr=False, compare=False)
    data: Mapping[str, Json] = field(repr=False, compare=False)

    @property
    def order(self) -> tuple[int, str, int]:
        """Evaluation order: priority (low first), then file name, then position."""
        return (self.priority, self.file, self.position)

    def actions_json(self) -> tuple[Json, ...]:
        """The actions as ``{name: normalised parameters}``."""
        return tuple({name: action.to_json()} for name, action in self.actions)

    def to_dict(self) -> dict[str, Json]:
        """The API view: id, file, line, priority, enabled, description, stop, rule."""
        return {
            "id": self.id,
            "file": self.file,
            "line": self.line,
            "priority": self.priority,
            "enabled": self.enabled,
            "description": self.description,
            "stop": self.stop,
            "rule": dict(self.data),
        }


@dataclass(frozen=True, slots=True)
class ListInfo:
    """A named list as defined (values as written) and where."""

    name: str
    file: str
    line: int
    values: tuple[Json, ...]

    def to_dict(self) -> dict[str, Json]:
        """The API view."""
        return {
            "name": self.name,
            "file": self.file,
            "line": self.line,
            "values": list(self.values),
        }


class RuleSet:
    """The rules of all files, compiled, in evaluation order. Immutable once built."""

    __slots__ = (
        "_active",
        "_index",
        "_matches",
        "default_record",
        "files",
        "lists",
        "rules",
        "version",
    )

    def __init__(
        self,
        *,
        version: str,
        rules: tuple[Rule, ...],
        lists: Mapping[str, ListInfo],
        files: tuple[str, ...],
        default_record: bool,
        indexed: bool = True,
    ) -> None:
        """Sort the rules into evaluation order and build the index.

        ``indexed=False`` tests every enabled rule for every call (no :class:`RuleIndex`):
        the same decisions, slower with many rules (kept for tests and comparisons).
        """
        self.version = version
        self.rules = tuple(sorted(rules, key=lambda rule: rule.order))
        self.lists = dict(lists)
        self.files = files
        self.default_record = default_record
        self._active = tuple(rule for rule in self.rules if rule.enabled)
        # What a match records is fixed per rule: build it once, not per call.
        self._matches = {rule.id: rule.actions_json() for rule in self._active}
        self._index = RuleIndex([rule.when for rule in self._active]) if indexed else None

    @property
    def index(self) -> RuleIndex | None:
        """The candidate index over the enabled rules (None: a linear scan)."""
        return self._index

    def linear(self) -> RuleSet:
        """The same rules without the index (tests and benchmarks compare the two)."""
        return RuleSet(
            version=self.version,
            rules=self.rules,
            lists=self.lists,
            files=self.files,
            default_record=self.default_record,
            indexed=False,
        )

    def evaluate(self, facts: Mapping[str, Any], now: datetime.datetime) -> Decision:
        """The decision for one call's facts at ``now`` (an aware datetime). Pure.

        Only the candidates of the index are tested, in evaluation order; a rule that
        is not a candidate cannot match (:mod:`.index`), so the outcome is that of
        testing every enabled rule.
        """
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be a timezone-aware datetime")
        builder = DecisionBuilder()
        matched: list[RuleMatch] = []
        stopped_by: str | None = None
        active = self._active
        index = self._index
        positions = range(len(active)) if index is None else index.candidates(facts)
        for position in positions:
            rule = active[position]
            if not rule.when.matches(facts, now):
                continue
            for _, action in rule.actions:
                action.contribute(builder, rule.id)
            why = tuple(rule.when.explain(facts, now))
            matched.append(
                RuleMatch(rule.id, rule.file, rule.priority, why, self._matches[rule.id], rule.stop)
            )
            if rule.stop:
                stopped_by = rule.id
                break
        return builder.build(
            version=self.version,
            now=now,
            matched=tuple(matched),
            stopped_by=stopped_by,
            default_record=self.default_record,
        )

    def rule(self, rule_id: str) -> Rule | None:
        """The rule with this id, if any."""
        return next((rule for rule in self.rules if rule.id == rule_id), None)

    def to_dict(self) -> dict[str, Json]:
        """The API view: version, files, default, rules in evaluation order, lists."""
        return {
            "version": self.version,
            "files": list(self.files),
            "default_record": self.default_record,
            "rules": [rule.to_dict() for rule in self.rules],
            "lists": {name: info.to_dict() for name, info in sorted(self.lists.items())},
        }
