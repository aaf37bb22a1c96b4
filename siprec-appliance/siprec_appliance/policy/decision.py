"""The outcome of evaluating the rules for one call, and how actions build it.

Precedence (docs/policy.md): rules run in order (priority, file name, position);
the first rule that sets ``record`` decides it; tags are a union; ``retain`` keeps
the longest period; every alert fires; ``stop`` ends the evaluation. When no rule
set ``record`` the configured default applies and the decision says so.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AlertDecision",
    "Decision",
    "DecisionBuilder",
    "RecordDecision",
    "RetainDecision",
    "RuleMatch",
]

Json = Any  # a JSON value (str, int, float, bool, None, list, dict)


@dataclass(frozen=True, slots=True)
class RecordDecision:
    """Whether to record, and how; ``rule`` decided it, or ``default`` applied.

    ``format``/``layout`` are None when the deciding rule left them to the
    configuration (``recording.format``, ``recording.combined``/``per_stream``).
    """

    on: bool
    format: str | None = None
    layout: str | None = None
    rule: str | None = None
    default: bool = False

    def to_dict(self) -> dict[str, Json]:
        """JSON form."""
        return {
            "on": self.on,
            "format": self.format,
            "layout": self.layout,
            "rule": self.rule,
            "default": self.default,
        }


@dataclass(frozen=True, slots=True)
class RetainDecision:
    """Keep the recording at least ``days`` days (the longest of all matched rules)."""

    days: int
    rule: str

    def to_dict(self) -> dict[str, Json]:
        """JSON form."""
        return {"days": self.days, "rule": self.rule}


@dataclass(frozen=True, slots=True)
class AlertDecision:
    """An alert to send; ``message`` is the Jinja2 template, rendered by the alerter."""

    channel: str
    severity: str
    message: str
    rule: str

    def to_dict(self) -> dict[str, Json]:
        """JSON form."""
        return {
            "channel": self.channel,
            "severity": self.severity,
            "message": self.message,
            "rule": self.rule,
        }


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """A rule that matched: where it is, why it matched and the actions it has."""

    rule: str
    file: str
    priority: int
    why: tuple[str, ...]
    actions: tuple[Json, ...]
    stop: bool = False

    def to_dict(self) -> dict[str, Json]:
        """JSON form."""
        return {
            "rule": self.rule,
            "file": self.file,
            "priority": self.priority,
            "why": list(self.why),
            "actions": list(self.actions),
            "stop": self.stop,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one call, and why (stored with the recording for auditors)."""

    version: str
    evaluated_at: str
    record: RecordDecision
    tags: tuple[str, ...] = ()
    retain: RetainDecision | None = None
    alerts: tuple[AlertDecision, ...] = ()
    matched: tuple[RuleMatch, ...] = ()
    stopped_by: str | None = None
    extra: Mapping[str, tuple[Json, ...]] = field(default_factory=dict)

    @property
    def matched_rule_ids(self) -> tuple[str, ...]:
        """The ids of the matched rules, in evaluation order."""
        return tuple(match.rule for match in self.matched)

    def to_dict(self) -> dict[str, Json]:
        """JSON form (``json.dumps`` works on it as is); :meth:`from_dict` reads it back."""
        return {
            "version": self.version,
            "evaluated_at": self.evaluated_at,
            "record": self.record.to_dict(),
            "tags": list(self.tags),
            "retain": None if self.retain is None else self.retain.to_dict(),
            "alerts": [alert.to_dict() for alert in self.alerts],
            "matched_rule_ids": list(self.matched_rule_ids),
            "matched": [match.to_dict() for match in self.matched],
            "stopped_by": self.stopped_by,
            "extra": {name: list(values) for name, values in self.extra.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Json]) -> Decision:
        """The decision stored by :meth:`to_dict` (e.g. in ``session.json``)."""
        retain = data.get("retain")
        return cls(
            version=str(data["version"]),
            evaluated_at=str(data["evaluated_at"]),
            record=RecordDecision(**data["record"]),
            tags=tuple(data.get("tags", ())),
            retain=None if retain is None else RetainDecision(**retain),
            alerts=tuple(AlertDecision(**alert) for alert in data.get("alerts", ())),
            matched=tuple(
                RuleMatch(
                    rule=match["rule"],
                    file=match["file"],
                    priority=match["priority"],
                    why=tuple(match["why"]),
                    actions=tuple(match["actions"]),
                    stop=match.get("stop", False),
                )
                for match in data.get("matched", ())
            ),
            stopped_by=data.get("stopped_by"),
            extra={name: tuple(values) for name, values in data.get("extra", {}).items()},
        )


class DecisionBuilder:
    """Collects the contributions of the matched rules' actions, in evaluation order.

    Plug-ins call these methods from ``Action.contribute``; the precedence rules
    live here, in one place.
    """

    __slots__ = ("alerts", "extra", "record", "retain", "tags")

    def __init__(self) -> None:
        self.record: RecordDecision | None = None
        self.tags: set[str] = set()
        self.retain: RetainDecision | None = None
        self.alerts: list[AlertDecision] = []
        self.extra: dict[str, list[Json]] = {}

    def set_record(self, on: bool, fmt: str | None, layout: str | None, rule: str) -> None:
        """The first rule that sets ``record`` decides; later ones are ignored."""
        if self.record is None:
            self.record = RecordDecision(on=on, format=fmt, layout=layout, rule=rule)

    def add_tags(self, tags: tuple[str, ...]) -> None:
        """Tags of every matched rule are kept (a union)."""
        self.tags.update(tags)

    def retain_for(self, days: int, rule: str) -> None:
        """The longest retention wins (on a tie, the earlier rule is named)."""
        if self.retain is None or days > self.retain.days:
            self.retain = RetainDecision(days=days, rule=rule)

    def add_alert(self, alert: AlertDecision) -> None:
        """Every alert of every matched rule fires."""
        self.alerts.append(alert)

    def add_extra(self, action: str, value: Json) -> None:
        """A contribution of a plug-in without a dedicated field (kept in order)."""
        self.extra.setdefault(action, []).append(value)

    def build(
        self,
        *,
        version: str,
        now: datetime.datetime,
        matched: tuple[RuleMatch, ...],
        stopped_by: str | None,
        default_record: bool,
    ) -> Decision:
        """The final decision; the default applies when no rule set ``record``."""
        record = self.record or RecordDecision(on=default_record, default=True)
        return Decision(
            version=version,
            evaluated_at=now.isoformat(),
            record=record,
            tags=tuple(sorted(self.tags)),
            retain=self.retain,
            alerts=tuple(self.alerts),
            matched=matched,
            stopped_by=stopped_by,
            extra={name: tuple(values) for name, values in self.extra.items()},
        )
