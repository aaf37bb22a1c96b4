"""Compiled conditions: ``matches`` is the fast path, ``explain`` runs for matched rules.

Each condition answers ``matches(facts, now)`` with no allocation beyond the
fact look-ups, and, only once a rule has matched, ``explain(...)`` says in words
which tests held (``caller.e164 in list monitored (+31201234567)``).
``describe()`` says what a condition checks without looking at a call (used to
explain ``not``).
"""

from __future__ import annotations

import abc
import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from siprec_appliance.policy.operators import Operator

__all__ = ["All", "Always", "AnyOf", "AnyParticipant", "Condition", "FactTest", "Not"]

Facts = Mapping[str, Any]
_MISS = object()  # "no element matched" (None is a legitimate element)
_SHOWN_CHARS = 80


class Condition(abc.ABC):
    """A compiled ``when`` node."""

    __slots__ = ()

    @abc.abstractmethod
    def matches(self, facts: Facts, now: datetime.datetime) -> bool:
        """True when the condition holds for these facts at ``now``."""

    @abc.abstractmethod
    def explain(self, facts: Facts, now: datetime.datetime, prefix: str = "") -> list[str]:
        """Why the condition holds (call only when :meth:`matches` is True).

        ``prefix`` is put before fact names (``participants[1].``).
        """

    @abc.abstractmethod
    def describe(self) -> str:
        """What the condition checks, in words."""


class Always(Condition):
    """``when: always``."""

    __slots__ = ()

    def matches(self, facts: Facts, now: datetime.datetime) -> bool:
        return True

    def explain(self, facts: Facts, now: datetime.datetime, prefix: str = "") -> list[str]:
        return ["always"]

    def describe(self) -> str:
        return "always"


class FactTest(Condition):
    """``<fact>: {<operator>: <operand>, …}``: every operator holds for the value.

    The value is ``facts[key]``, or ``facts[key][ext]`` for a participant's extension
    values (``key="ext"``). For a list-valued fact (``media.codecs``) one element
    must pass every operator. ``exists`` (True/False/None = not asked) tests
    presence: the fact is there and not null.
    """

    __slots__ = ("exists", "ext", "key", "name", "operators")

    def __init__(
        self,
        name: str,
        key: str,
        operators: Sequence[Operator],
        exists: bool | None,
        ext: str | None = None,
    ) -> None:
        self.name = name
        self.key = key
        self.ext = ext
        self.operators = tuple(operators)
        self.exists = exists

    def value(self, facts: Facts) -> Any:
        """The tested value (None when absent)."""
        value = facts.get(self.key)
        if self.ext is not None:
            return value.get(self.ext) if type(value) is dict else None
        return value

    def matches(self, facts: Facts, now: datetime.datetime) -> bool:
        # The hot path of every evaluation: plain loops, no generators.
        value = facts.get(self.key)
        if self.ext is not None:
            value = value.get(self.ext) if type(value) is dict else None
        if value is None:
            return self.exists is False
        if self.exists is False:
            return False
        if type(value) is not list:
            for op in self.operators:  # noqa: SIM110 (a loop is faster than all(genexpr))
                if not op.test(value):
                    return False
            return True
        return self._passing(value) is not _MISS

    def _passing(self, value: Any) -> Any:
        """The value (or list element) that passes every operator, else ``_MISS``."""
        operators = self.operators
        if not operators:
            return value
        candidates = value if type(value) is list else (value,)
        for candidate in candidates:
            if candidate is not None and all(op.test(candidate) for op in operators):
                return candidate
        return _MISS

    def explain(self, facts: Facts, now: datetime.datetime, prefix: str = "") -> list[str]:
        name = prefix + self.name
        value = self.value(facts)
        if value is None:
            return [f"{name} does not exist"]
        passing = self._passing(value)
        shown = _show(passing)
        reasons = [f"{name} exists ({shown})"] if self.exists else []
        for op in self.operators:
            reasons.append(f"{name} {op.label} ({shown})" if op.echo else f"{name} {op.label}")
        return reasons

    def describe(self) -> str:
        parts = (
            []
            if self.exists is None
            else [f"{self.name} {'exists' if self.exists else 'does not exist'}"]
        )
        parts.extend(f"{self.name} {op.label}" for op in self.operators)
        return " and ".join(parts)


class All(Condition):
    """``all: [...]`` (and a mapping with several tests): every part holds."""

    __slots__ = ("parts",)

    def __init__(self, parts: Sequence[Condition]) -> None:
        self.parts = tuple(parts)

    def matches(self, facts: Facts, now: datetime.datetime) -> bool:
        for part in self.parts:  # noqa: SIM110 (a loop is faster than all(genexpr))
            if not part.matches(facts, now):
                return False
        return True

    def explain(self, facts: Facts, now: datetime.datetime, prefix: str = "") -> list[str]:
        return [reason for part in self.parts for reason in part.explain(facts, now, prefix)]

    def describe(self) -> str:
        return "all of (" + "; ".join(part.describe() for part in self.parts) + ")"


class AnyOf(Condition):
    """``any: [...]``: at least one part holds (the first that does is explained)."""

    __slots__ = ("parts",)

    def __init__(self, parts: Sequence[Condition]) -> None:
        self.parts = tuple(parts)

    def matches(self, facts: Facts, now: datetime.datetime) -> bool:
        for part in self.parts:  # noqa: SIM110 (a loop is faster than any(genexpr))
            if part.matches(facts, now):
                return True
        return False

    def explain(self, facts: Facts, now: datetime.datetime, prefix: str = "") -> list[str]:
        for part in self.parts:
            if part.matches(facts, now):
                return part.explain(facts, now, prefix)
        return []

    def describe(self) -> str:
        return "any of (" + "; ".join(part.describe() for part in self.parts) + ")"


class Not(Condition):
    """``not: <condition>``: the inner condition does not hold."""

    __slots__ = ("inner",)

    def __init__(self, inner: Condition) -> None:
        self.inner = inner

    def matches(self, facts: Facts, now: datetime.datetime) -> bool:
        return not self.inner.matches(facts, now)

    def explain(self, facts: Facts, now: datetime.datetime, prefix: str = "") -> list[str]:
        return [f"not ({self.describe_inner(prefix)})"]

    def describe_inner(self, prefix: str) -> str:
        """The inner condition's description (with the participant prefix, if any)."""
        text = self.inner.describe()
        return f"{prefix.rstrip('.')}: {text}" if prefix else text

    def describe(self) -> str:
        return f"not ({self.inner.describe()})"


class AnyParticipant(Condition):
    """``any_participant: <condition>`` (and ``participants.<field>`` tests).

    True when one participant object of the ``participants`` fact satisfies the
    whole inner condition, whose fact names are participant fields.
    """

    __slots__ = ("inner",)

    def __init__(self, inner: Condition) -> None:
        self.inner = inner

    def matches(self, facts: Facts, now: datetime.datetime) -> bool:
        value = facts.get("participants")
        if type(value) is not list:
            return False
        inner = self.inner
        for participant in value:
            if type(participant) is dict and inner.matches(participant, now):
                return True
        return False

    def explain(self, facts: Facts, now: datetime.datetime, prefix: str = "") -> list[str]:
        for index, participant in enumerate(_participants_with_index(facts)):
            if participant is not None and self.inner.matches(participant, now):
                return self.inner.explain(participant, now, f"{prefix}participants[{index}].")
        return []

    def describe(self) -> str:
        return f"a participant with ({self.inner.describe()})"


def _participants_with_index(facts: Facts) -> list[Mapping[str, Any] | None]:
    value = facts.get("participants")
    if not isinstance(value, list):
        return []
    return [p if type(p) is dict else None for p in value]


def _show(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"
