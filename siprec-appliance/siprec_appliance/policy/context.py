"""Compile-time bookkeeping: where a node is, the problems found, the named lists."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from siprec_appliance.policy.errors import Key, KeyPath, RuleProblem
from siprec_appliance.policy.source import SourceFile

__all__ = ["At", "CompileContext", "Item", "NamedList"]


@dataclass(frozen=True, slots=True)
class At:
    """A node of a rule file: the file and the key path to the node."""

    source: SourceFile
    path: KeyPath

    def child(self, *keys: Key) -> At:
        """The node below this one."""
        return At(self.source, (*self.path, *keys))

    def problem(self, message: str, *, at_key: bool = False) -> RuleProblem:
        """A problem located at this node."""
        return self.source.problem(self.path, message, at_key=at_key)

    def where(self, *, at_key: bool = False) -> str:
        """``file:line:col`` of this node, for messages that point elsewhere."""
        line, column = self.source.position(self.path, at_key=at_key)
        return f"{self.source.name}:{line}:{column}"

    def written(self, value: Any) -> Any:
        """The value as written: an unquoted ``+31201234567`` comes back as that text."""
        if isinstance(value, int) and not isinstance(value, bool):
            raw = self.source.raw_scalar(self.path)
            if raw is not None:
                return raw
        return value


@dataclass(frozen=True, slots=True)
class Item:
    """One operand value and where it was written (in the rule or in a named list)."""

    value: Any
    at: At


@dataclass(frozen=True, slots=True)
class NamedList:
    """A ``lists:`` entry: its name, values and where it is defined."""

    name: str
    values: tuple[Any, ...]
    at: At

    def items(self) -> list[Item]:
        """The values with their own locations (``lists.<name>[i]``)."""
        return [Item(value, self.at.child(index)) for index, value in enumerate(self.values)]


@dataclass(slots=True)
class CompileContext:
    """What the compiler shares while it walks the files."""

    lists: Mapping[str, NamedList]
    problems: list[RuleProblem] = field(default_factory=list)
    rejected: frozenset[tuple[str, KeyPath]] = frozenset()  # (file, path) the schema refused
    cache: dict[tuple[str, str], Any] = field(default_factory=dict)

    def rejected_at(self, at: At) -> bool:
        """The schema refused this very node (its problem is already reported)."""
        return (at.source.name, at.path) in self.rejected

    def rejected_below(self, at: At) -> bool:
        """The schema refused this node or something inside it."""
        size = len(at.path)
        return any(
            name == at.source.name and path[:size] == at.path for name, path in self.rejected
        )

    def report(self, at: At, message: str, *, at_key: bool = False) -> None:
        """Record a problem at ``at``."""
        self.problems.append(at.problem(message, at_key=at_key))
