"""Errors of the policy engine: rule-file problems located by file, line and column."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from siprec_appliance.errors import SiprecError

__all__ = ["ActionError", "ActionProblem", "RuleNotFoundError", "RuleProblem", "RulesError"]

Key = str | int
KeyPath = tuple[Key, ...]


@dataclass(frozen=True, slots=True, order=True)
class RuleProblem:
    """One problem in one rule file; ``line`` and ``column`` are 1-based (0: unknown)."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"

    def to_dict(self) -> dict[str, str | int]:
        """JSON form for the API: file, line, column, message and the formatted text."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "text": str(self),
        }


class RulesError(SiprecError):
    """The rule files cannot be used; ``errors`` lists every problem found, sorted."""

    def __init__(self, errors: Iterable[RuleProblem]) -> None:
        self.errors: list[RuleProblem] = sorted(set(errors))
        super().__init__("\n".join(str(problem) for problem in self.errors) or "invalid rules")


class RuleNotFoundError(SiprecError, LookupError):
    """An edit named a rule id that the file does not contain."""

    def __init__(self, rule_id: str) -> None:
        super().__init__(f"no rule with id {rule_id!r} in this file")
        self.rule_id = rule_id


@dataclass(frozen=True, slots=True)
class ActionProblem:
    """A problem with an action's parameters; ``path`` is relative to the parameters."""

    message: str
    path: KeyPath = ()


class ActionError(SiprecError):
    """An action plug-in refused its parameters (raised by ``Action.from_params``)."""

    def __init__(self, *problems: ActionProblem) -> None:
        self.problems: tuple[ActionProblem, ...] = problems
        super().__init__("; ".join(problem.message for problem in problems))

    @classmethod
    def at(cls, message: str, *path: Key) -> ActionError:
        """One problem at ``path`` (keys below the action's parameters)."""
        return cls(ActionProblem(message, tuple(path)))
