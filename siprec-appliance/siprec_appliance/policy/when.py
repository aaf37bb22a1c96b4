"""Compiling ``when`` conditions (schema-checked data) into :mod:`.conditions` objects.

A condition is ``always`` or a mapping. Each key of the mapping is one test and
all of them must hold: ``all``/``any`` (lists of conditions), ``not``,
``any_participant`` (a condition over one participant's fields), ``time`` (a
window, :mod:`.timewindow`) or a fact name with a value (``equals``) or a mapping
of operators. ``participants.<field>`` is short for ``any_participant: {<field>: …}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from siprec_appliance.policy.conditions import (
    All,
    Always,
    AnyOf,
    AnyParticipant,
    Condition,
    FactTest,
    Not,
)
from siprec_appliance.policy.context import At, CompileContext
from siprec_appliance.policy.facts import (
    PARTICIPANTS_PREFIX,
    fact_name_problem,
    normalise_fact_name,
    participant_field_problem,
)
from siprec_appliance.policy.operators import Operator, compile_operator
from siprec_appliance.policy.timewindow import compile_time_window

__all__ = ["compile_condition"]

_EXT = "ext."


def compile_condition(
    node: Any, at: At, ctx: CompileContext, *, participant: bool = False
) -> Condition | None:
    """Compile one condition; None (with problems in ``ctx``) when it is invalid.

    ``participant``: fact names are fields of one participant (inside ``any_participant``).
    """
    if ctx.rejected_at(at):
        return None
    if node == "always":
        return Always()
    if not isinstance(node, Mapping) or not node:
        ctx.report(at, "expected a condition: 'always' or a mapping of tests")
        return None
    parts: list[Condition | None] = [
        _compile_key(str(key), value, at.child(key), ctx, participant=participant)
        for key, value in node.items()
    ]
    compiled = [part for part in parts if part is not None]
    if len(compiled) != len(parts):
        return None
    return compiled[0] if len(compiled) == 1 else All(compiled)


def _compile_key(
    key: str, value: Any, at: At, ctx: CompileContext, *, participant: bool
) -> Condition | None:
    if key in ("all", "any"):
        if ctx.rejected_at(at):
            return None
        items = [
            compile_condition(item, at.child(index), ctx, participant=participant)
            for index, item in enumerate(value)
        ]
        if any(item is None for item in items):
            return None
        parts = [item for item in items if item is not None]
        return All(parts) if key == "all" else AnyOf(parts)
    if key == "not":
        inner = compile_condition(value, at, ctx, participant=participant)
        return None if inner is None else Not(inner)
    if key == "any_participant":
        if participant:
            ctx.report(at, "any_participant cannot be used inside any_participant", at_key=True)
            return None
        inner = compile_condition(value, at, ctx, participant=True)
        return None if inner is None else AnyParticipant(inner)
    if ctx.rejected_below(at):  # a time window or fact test the schema refused
        return None
    if key == "time":
        return compile_time_window(value, at, ctx)
    return _compile_fact(key, value, at, ctx, participant=participant)


def _compile_fact(
    key: str, value: Any, at: At, ctx: CompileContext, *, participant: bool
) -> Condition | None:
    name = normalise_fact_name(key)
    problem = participant_field_problem(name) if participant else fact_name_problem(name)
    if problem is not None:
        ctx.report(at, problem, at_key=True)
        return None
    if not participant and name.startswith(PARTICIPANTS_PREFIX):
        field = name[len(PARTICIPANTS_PREFIX) :]
        test = _fact_test(field, value, at, ctx, participant=True)
        return None if test is None else AnyParticipant(test)
    return _fact_test(name, value, at, ctx, participant=participant)


def _fact_test(
    name: str, value: Any, at: At, ctx: CompileContext, *, participant: bool
) -> FactTest | None:
    """``<fact>: value`` (equals) or ``<fact>: {op: operand, …}``."""
    tests: Mapping[str, Any] = value if isinstance(value, Mapping) else {"equals": value}
    exists = tests.get("exists")
    if exists is False and len(tests) > 1:
        ctx.report(at, "exists: false cannot be combined with other operators")
        return None
    operators: list[Operator | None] = [
        compile_operator(op, operand, _operand_at(value, at, op), name, ctx)
        for op, operand in tests.items()
        if op != "exists"
    ]
    if any(op is None for op in operators):
        return None
    compiled = [op for op in operators if op is not None]
    if participant and name.startswith(_EXT):  # a participant's own "ext" mapping
        return FactTest(name, "ext", compiled, exists, ext=name[len(_EXT) :])
    return FactTest(name, name, compiled, exists)


def _operand_at(value: Any, at: At, op: str) -> At:
    """Operands of a mapping are located at their operator; a bare value at the fact."""
    return at.child(op) if isinstance(value, Mapping) else at
