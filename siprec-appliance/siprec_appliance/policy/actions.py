"""Action plug-ins: the base class and the built-in ``record``, ``tag``, ``retain``, ``alert``.

A plug-in is a subclass of :class:`Action` named by an import string in the
registry (:mod:`.registry`). At load time the engine checks the parameters
against the plug-in's ``params_schema`` (JSON Schema, same plain-words errors as
the rule files), then calls :meth:`Action.from_params`, which may raise
:class:`~.errors.ActionError` for what a schema cannot say. At evaluation time
:meth:`Action.contribute` adds to the decision through the builder, which holds
the precedence rules.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from siprec_appliance.policy.decision import AlertDecision, DecisionBuilder, Json
from siprec_appliance.policy.errors import ActionError, ActionProblem

__all__ = [
    "FORMATS",
    "LAYOUTS",
    "SEVERITIES",
    "Action",
    "ActionContext",
    "AlertAction",
    "RecordAction",
    "RetainAction",
    "TagAction",
]

FORMATS = ("wav", "flac", "opus", "mp3")
LAYOUTS = ("per-leg", "combined", "both")
SEVERITIES = ("info", "warning", "critical")
MAX_RETAIN_DAYS = 36500  # 100 years
TAG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:=/+-]{0,63}$"


@dataclass(frozen=True, slots=True)
class ActionContext:
    """What plug-ins may check parameters against: the configured alert channels.

    ``channels`` None means "not checked" (e.g. validating files without a config).
    """

    channels: frozenset[str] | None = None


class Action(abc.ABC):
    """One action of one rule, with its parameters checked and normalised."""

    __slots__ = ()

    params_schema: ClassVar[Mapping[str, Any]] = {}

    @classmethod
    @abc.abstractmethod
    def from_params(cls, params: Any, context: ActionContext) -> Action:
        """Build the action from schema-checked parameters, or raise ActionError."""

    @abc.abstractmethod
    def contribute(self, decision: DecisionBuilder, rule: str) -> None:
        """Add this action's effect to the decision of a call ``rule`` matched."""

    @abc.abstractmethod
    def to_json(self) -> Json:
        """The normalised parameters (shown in decisions and the API)."""


class RecordAction(Action):
    """``record: true|false`` or ``record: {format: flac, layout: both}`` (implies true)."""

    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": ["boolean", "object"],
        "x-expected": "true, false or a mapping with format and layout",
        "additionalProperties": False,
        "properties": {
            "format": {"enum": list(FORMATS)},
            "layout": {"enum": list(LAYOUTS)},
        },
    }

    __slots__ = ("format", "layout", "on")

    def __init__(self, on: bool, fmt: str | None = None, layout: str | None = None) -> None:
        self.on = on
        self.format = fmt
        self.layout = layout

    @classmethod
    def from_params(cls, params: Any, context: ActionContext) -> RecordAction:
        if isinstance(params, bool):
            return cls(params)
        return cls(True, params.get("format"), params.get("layout"))

    def contribute(self, decision: DecisionBuilder, rule: str) -> None:
        decision.set_record(self.on, self.format, self.layout, rule)

    def to_json(self) -> Json:
        if not self.on:
            return False
        return {"format": self.format, "layout": self.layout}


class TagAction(Action):
    """``tag: vip`` or ``tag: [vip, team=sales]``: labels for search (a union)."""

    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": ["string", "array"],
        "x-expected": "a tag or a list of tags",
        "pattern": TAG_PATTERN,
        "minItems": 1,
        "items": {
            "type": "string",
            "pattern": TAG_PATTERN,
            "x-messages": {
                "pattern": "{value} is not a valid tag (letters, digits and _ . : = / + -; "
                "at most 64, starting with a letter or digit)"
            },
        },
        "x-messages": {
            "pattern": "{value} is not a valid tag (letters, digits and _ . : = / + -; "
            "at most 64, starting with a letter or digit)"
        },
    }

    __slots__ = ("tags",)

    def __init__(self, tags: tuple[str, ...]) -> None:
        self.tags = tags

    @classmethod
    def from_params(cls, params: Any, context: ActionContext) -> TagAction:
        tags = (params,) if isinstance(params, str) else tuple(params)
        return cls(tuple(dict.fromkeys(tags)))

    def contribute(self, decision: DecisionBuilder, rule: str) -> None:
        decision.add_tags(self.tags)

    def to_json(self) -> Json:
        return list(self.tags)


class RetainAction(Action):
    """``retain: 3650`` or ``retain: {days: 3650}``: keep at least that long (longest wins)."""

    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": ["integer", "object"],
        "x-expected": "a number of days or a mapping with days",
        "minimum": 1,
        "maximum": MAX_RETAIN_DAYS,
        "required": ["days"],
        "additionalProperties": False,
        "properties": {
            "days": {"type": "integer", "minimum": 1, "maximum": MAX_RETAIN_DAYS},
        },
    }

    __slots__ = ("days",)

    def __init__(self, days: int) -> None:
        self.days = days

    @classmethod
    def from_params(cls, params: Any, context: ActionContext) -> RetainAction:
        return cls(int(params["days"] if isinstance(params, Mapping) else params))

    def contribute(self, decision: DecisionBuilder, rule: str) -> None:
        decision.retain_for(self.days, rule)

    def to_json(self) -> Json:
        return {"days": self.days}


_TEMPLATES = SandboxedEnvironment()


class AlertAction(Action):
    """``alert: {channel, severity, message}``; the message is a Jinja2 template.

    The template is only parsed here (syntax errors are load errors); the alerting
    layer renders it. Every matched rule's alert fires.
    """

    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "x-expected": "a mapping with channel, severity and message",
        "required": ["channel", "message"],
        "additionalProperties": False,
        "properties": {
            "channel": {"type": "string", "minLength": 1},
            "severity": {"enum": list(SEVERITIES)},
            "message": {"type": "string", "minLength": 1, "maxLength": 4000},
        },
    }

    __slots__ = ("channel", "message", "severity")

    def __init__(self, channel: str, severity: str, message: str) -> None:
        self.channel = channel
        self.severity = severity
        self.message = message

    @classmethod
    def from_params(cls, params: Any, context: ActionContext) -> AlertAction:
        channel, message = str(params["channel"]), str(params["message"])
        problems: list[ActionProblem] = []
        if context.channels is not None and channel not in context.channels:
            configured = ", ".join(sorted(context.channels)) or "none"
            problems.append(
                ActionProblem(
                    f"unknown alert channel {channel!r} (configured: {configured})", ("channel",)
                )
            )
        try:
            _TEMPLATES.parse(message)
        except TemplateSyntaxError as exc:
            problems.append(
                ActionProblem(
                    f"not a valid Jinja2 template: {str(exc.message).rstrip('.')} "
                    f"(template line {exc.lineno})",
                    ("message",),
                )
            )
        if problems:
            raise ActionError(*problems)
        return cls(channel, str(params.get("severity", "warning")), message)

    def contribute(self, decision: DecisionBuilder, rule: str) -> None:
        decision.add_alert(AlertDecision(self.channel, self.severity, self.message, rule))

    def to_json(self) -> Json:
        return {"channel": self.channel, "severity": self.severity, "message": self.message}
