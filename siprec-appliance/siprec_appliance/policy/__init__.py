"""The recording policy engine (pure): YAML rule files in, explained decisions out.

- :func:`compile_rule_set` turns ``(file name, text)`` pairs (the ``*.yaml`` files of
  the rules directory) and the rules JSON Schema into a :class:`RuleSet`, or raises
  :class:`RulesError` listing every problem as ``file:line:col: message``.
- :meth:`RuleSet.evaluate` (facts from :func:`~siprec_appliance.vendors.build_call_facts`,
  an aware ``now``) returns a :class:`Decision` that says what to do and why.
- :func:`validate_texts` checks one file's text against the others (for an editor);
  :func:`upsert_rule` and :func:`remove_rule` edit a file's text in place, keeping
  everything outside the edited rule byte for byte.

The language is described in docs/policy.md. No file, clock or network access here:
the appliance layer reads the files and the schema and passes ``now`` in.
"""

from __future__ import annotations

from siprec_appliance.policy.actions import (
    Action,
    ActionContext,
    AlertAction,
    RecordAction,
    RetainAction,
    TagAction,
)
from siprec_appliance.policy.compiler import compile_rule_set, rule_set_version, validate_texts
from siprec_appliance.policy.decision import (
    AlertDecision,
    Decision,
    DecisionBuilder,
    RecordDecision,
    RetainDecision,
    RuleMatch,
)
from siprec_appliance.policy.editing import remove_rule, upsert_rule
from siprec_appliance.policy.errors import (
    ActionError,
    ActionProblem,
    RuleNotFoundError,
    RuleProblem,
    RulesError,
)
from siprec_appliance.policy.registry import DEFAULT_REGISTRY
from siprec_appliance.policy.ruleset import ListInfo, Rule, RuleSet

__all__ = [
    "DEFAULT_REGISTRY",
    "Action",
    "ActionContext",
    "ActionError",
    "ActionProblem",
    "AlertAction",
    "AlertDecision",
    "Decision",
    "DecisionBuilder",
    "ListInfo",
    "RecordAction",
    "RecordDecision",
    "RetainAction",
    "RetainDecision",
    "Rule",
    "RuleMatch",
    "RuleNotFoundError",
    "RuleProblem",
    "RuleSet",
    "RulesError",
    "TagAction",
    "compile_rule_set",
    "remove_rule",
    "rule_set_version",
    "upsert_rule",
    "validate_texts",
]
