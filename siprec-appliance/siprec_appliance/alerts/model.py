"""What is stored in the outbox and delivered: :class:`Alert` and its :class:`Delivery` rows.

An :class:`Alert` is an :class:`~siprec_appliance.alerts.events.AlertEvent` frozen at
the moment it was accepted: an id, its type, severity, key, title and facts, when it
was first and last seen and how often (de-duplication), plus the rendering hints of a
rule's ``alert`` action. Each channel it is routed to has one :class:`Delivery` whose
``state`` is ``pending`` (waiting or retrying), ``delivered``, ``failed`` (gave up;
``last_error`` says why) or ``suppressed`` (held back by the channel's rate limit and
counted in the next message's "N similar alerts suppressed"). No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from siprec_appliance.alerts.events import AlertEvent, RuleAlert, Severity

__all__ = ["Alert", "Delivery", "DeliveryState", "iso_time"]


class DeliveryState(StrEnum):
    """Where one alert stands with one channel."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


def iso_time(timestamp: float | None) -> str | None:
    """Unix seconds as ISO 8601 UTC with milliseconds (``...Z``), None stays None."""
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One accepted event, as stored and rendered."""

    id: str
    event_type: str
    severity: Severity
    key: str
    title: str
    facts: dict[str, Any] = field(default_factory=dict)
    created_at: float
    last_seen: float
    occurrences: int = 1
    template: str | None = None
    template_name: str | None = None
    subject: str | None = None

    @classmethod
    def from_event(cls, event: AlertEvent, *, alert_id: str, now: float) -> Alert:
        """Freeze ``event`` as accepted at ``now`` (Unix seconds)."""
        rule = event if isinstance(event, RuleAlert) else None
        return cls(
            id=alert_id,
            event_type=event.event_type,
            severity=Severity(event.severity),
            key=event.key,
            title=event.title(),
            facts=event.facts(),
            created_at=now,
            last_seen=now,
            template=rule.template if rule else None,
            template_name=rule.template_name if rule else None,
            subject=rule.subject if rule else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.event_type,
            "severity": str(self.severity),
            "key": self.key,
            "title": self.title,
            "facts": self.facts,
            "created_at": iso_time(self.created_at),
            "created_at_unix": self.created_at,
            "last_seen": iso_time(self.last_seen),
            "occurrences": self.occurrences,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One alert towards one channel."""

    alert_id: str
    channel: str
    state: DeliveryState = DeliveryState.PENDING
    attempts: int = 0
    failures: int = 0
    next_attempt_at: float | None = None
    last_attempt_at: float | None = None
    last_error: str | None = None
    delivered_at: float | None = None
    suppressed_before: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "state": str(self.state),
            "attempts": self.attempts,
            "failures": self.failures,
            "next_attempt_at": iso_time(self.next_attempt_at),
            "last_attempt_at": iso_time(self.last_attempt_at),
            "last_error": self.last_error,
            "delivered_at": iso_time(self.delivered_at),
            "suppressed_before": self.suppressed_before,
        }
