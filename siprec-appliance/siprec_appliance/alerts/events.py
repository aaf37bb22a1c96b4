"""Typed alert events: what happened, how bad it is, and the facts needed to act on it.

Every event is a frozen, slotted, keyword-only dataclass with a class-level
``event_type`` (the name used in ``alerts.routes[].events``), a ``severity``
(:class:`Severity`; each type has a default, the emitter may raise or lower it), a
:attr:`~AlertEvent.key` for de-duplication (the same key within
``alerts.dedup_window`` seconds is one alert whose count goes up), a one-line
:meth:`~AlertEvent.title` and :meth:`~AlertEvent.to_dict` (JSON-able).

Types (:data:`EVENT_TYPES`): ``session_started``, ``session_ended``,
``recording_failed``, ``rtp_timeout``, ``srtp_auth_failures``, ``rules_reload_failed``,
``rules_reloaded``, ``disk_low``, ``disk_critical``, ``disk_ok``,
``tls_certificate_expiring``, ``capacity_near_limit``, ``action_failed``,
``rule_alert`` (a policy rule's ``alert`` action); and, not routable, ``test`` and
``alerts_suppressed`` (the rate limiter's summary). This module does no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

__all__ = [
    "EVENT_TYPES",
    "ROUTABLE_EVENT_TYPES",
    "ActionFailed",
    "AlertEvent",
    "AlertsSuppressed",
    "CapacityNearLimit",
    "DiskCritical",
    "DiskLow",
    "DiskRecovered",
    "RecordingFailed",
    "RtpTimeout",
    "RuleAlert",
    "RulesReloadFailed",
    "RulesReloaded",
    "SessionEnded",
    "SessionStarted",
    "Severity",
    "SrtpAuthFailures",
    "TestAlert",
    "TlsCertificateExpiring",
    "format_bytes",
    "json_value",
]


class Severity(StrEnum):
    """How urgent an alert is; routes compare with :attr:`rank`."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


def json_value(value: Any) -> Any:
    """Tuples, mappings and enums to plain JSON values (anything else: ``str``)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(item) for item in value]
    return str(value)


def format_bytes(count: float) -> str:
    """``1.5 GiB`` style sizes for messages."""
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover - the loop always returns


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertEvent:
    """Base of every event: severity, de-duplication key, title, facts."""

    event_type: ClassVar[str] = "event"
    severity: Severity = Severity.INFO

    @property
    def key(self) -> str:
        """De-duplication key: the type plus what identifies the condition."""
        return self.event_type

    @property
    def clears(self) -> tuple[str, ...]:
        """Keys of conditions this event ends: their de-duplication starts over.

        Without it, "failed, recovered, failed again" within the window would hide
        the second failure behind the recovery message.
        """
        return ()

    def title(self) -> str:
        return self.event_type.replace("_", " ")

    def facts(self) -> dict[str, Any]:
        """The event's fields (but severity) as JSON values."""
        return {
            item.name: json_value(getattr(self, item.name))
            for item in dataclasses.fields(self)
            if item.name != "severity"
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.event_type,
            "severity": str(self.severity),
            "key": self.key,
            "title": self.title(),
            "facts": self.facts(),
        }


# ----------------------------------------------------------------------------- sessions


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStarted(AlertEvent):
    """A recording session (RFC 7866) was accepted."""

    event_type: ClassVar[str] = "session_started"
    session_id: str
    call_id: str
    participants: tuple[str, ...] = ()
    vendor: str | None = None
    source: str | None = None

    @property
    def key(self) -> str:
        return f"{self.event_type}:{self.session_id}"

    def title(self) -> str:
        who = " / ".join(self.participants) or self.call_id
        return f"Recording started: {who}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionEnded(AlertEvent):
    """A recording session ended (BYE, CANCEL, shutdown, timer...)."""

    event_type: ClassVar[str] = "session_ended"
    session_id: str
    call_id: str
    reason: str = ""
    duration: float | None = None
    participants: tuple[str, ...] = ()
    directory: str | None = None

    @property
    def key(self) -> str:
        return f"{self.event_type}:{self.session_id}"

    def title(self) -> str:
        who = " / ".join(self.participants) or self.call_id
        length = f" after {self.duration:.0f} s" if self.duration is not None else ""
        return f"Recording ended{length}: {who}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingFailed(AlertEvent):
    """A recording could not be written (disk, encoder...): audio may be lost."""

    event_type: ClassVar[str] = "recording_failed"
    severity: Severity = Severity.CRITICAL
    session_id: str
    call_id: str = ""
    reason: str
    stream: str | None = None

    @property
    def key(self) -> str:
        return f"{self.event_type}:{self.session_id}:{self.stream or ''}"

    def title(self) -> str:
        return f"Recording failed for session {self.session_id}: {self.reason}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RtpTimeout(AlertEvent):
    """A stream received no RTP for ``media.rtp_timeout`` seconds (not on hold)."""

    event_type: ClassVar[str] = "rtp_timeout"
    severity: Severity = Severity.WARNING
    session_id: str
    stream: str
    seconds: float
    call_id: str = ""

    @property
    def key(self) -> str:
        return f"{self.event_type}:{self.session_id}:{self.stream}"

    def title(self) -> str:
        return (
            f"No RTP for {self.seconds:.0f} s on stream {self.stream} of session {self.session_id}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SrtpAuthFailures(AlertEvent):
    """SRTP authentication failures (RFC 3711 §3.4) went over the threshold."""

    event_type: ClassVar[str] = "srtp_auth_failures"
    severity: Severity = Severity.WARNING
    session_id: str
    stream: str
    failures: int
    threshold: int

    @property
    def key(self) -> str:
        return f"{self.event_type}:{self.session_id}:{self.stream}"

    def title(self) -> str:
        return (
            f"{self.failures} SRTP authentication failures on stream {self.stream} "
            f"of session {self.session_id} (threshold {self.threshold})"
        )


# ----------------------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True, kw_only=True)
class RulesReloadFailed(AlertEvent):
    """A rules file change was rejected; the previous rules keep running."""

    event_type: ClassVar[str] = "rules_reload_failed"
    severity: Severity = Severity.WARNING
    source: str
    error: str

    @property
    def key(self) -> str:
        return f"{self.event_type}:{self.source}"

    def title(self) -> str:
        return f"Rules reload failed ({self.source}); the previous rules stay active"


@dataclass(frozen=True, slots=True, kw_only=True)
class RulesReloaded(AlertEvent):
    """New rules were loaded and are now in force."""

    event_type: ClassVar[str] = "rules_reloaded"
    source: str
    rules: int = 0

    @property
    def key(self) -> str:
        return f"{self.event_type}:{self.source}"

    @property
    def clears(self) -> tuple[str, ...]:
        return (f"{RulesReloadFailed.event_type}:{self.source}",)

    def title(self) -> str:
        return f"Rules reloaded from {self.source}: {self.rules} rules active"


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionFailed(AlertEvent):
    """A rule's action (notify, export, tag...) failed for a session."""

    event_type: ClassVar[str] = "action_failed"
    severity: Severity = Severity.WARNING
    action: str
    error: str
    rule_id: str | None = None
    session_id: str | None = None

    @property
    def key(self) -> str:
        return f"{self.event_type}:{self.action}:{self.rule_id or ''}"

    def title(self) -> str:
        rule = f" (rule {self.rule_id})" if self.rule_id else ""
        return f"Action {self.action}{rule} failed: {self.error}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleAlert(AlertEvent):
    """A policy rule's ``alert`` action.

    ``channel`` names the channel (None: ``alerts.routes`` decide, as type
    ``rule_alert``). ``template`` is inline Jinja2 source for the body, or
    ``template_name`` a shipped template (``rule_alert``, ``session_ended``...);
    ``subject`` is inline Jinja2 for the title. Both render in a sandbox over
    ``call_facts`` (available as ``facts``).
    """

    event_type: ClassVar[str] = "rule_alert"
    rule_id: str
    channel: str | None = None
    session_id: str | None = None
    call_facts: Mapping[str, Any] = field(default_factory=dict)
    template: str | None = None
    template_name: str | None = None
    subject: str | None = None

    @property
    def key(self) -> str:
        return f"{self.event_type}:{self.rule_id}:{self.session_id or ''}"

    def title(self) -> str:
        return f"Rule {self.rule_id} matched" + (
            f" for session {self.session_id}" if self.session_id else ""
        )

    def facts(self) -> dict[str, Any]:
        """The call facts, plus ``rule_id`` and ``session_id``."""
        facts: dict[str, Any] = json_value(self.call_facts)
        facts.setdefault("rule_id", self.rule_id)
        facts.setdefault("session_id", self.session_id)
        return facts


# ----------------------------------------------------------------------------- system


@dataclass(frozen=True, slots=True, kw_only=True)
class _DiskEvent(AlertEvent):
    path: str
    free_bytes: int
    total_bytes: int

    @property
    def free_percent(self) -> float:
        return 100.0 * self.free_bytes / self.total_bytes if self.total_bytes else 0.0

    @property
    def key(self) -> str:
        return f"{self.event_type}:{self.path}"

    @property
    def clears(self) -> tuple[str, ...]:
        """Every disk state change is news: it resets the other states' keys."""
        names = ("disk_low", "disk_critical", "disk_ok")
        return tuple(f"{name}:{self.path}" for name in names if name != self.event_type)

    def facts(self) -> dict[str, Any]:
        facts = AlertEvent.facts(self)
        facts["free_percent"] = round(self.free_percent, 2)
        facts["free"] = format_bytes(self.free_bytes)
        facts["total"] = format_bytes(self.total_bytes)
        return facts

    def _where(self) -> str:
        return (
            f"{self.path}: {self.free_percent:.1f}% free "
            f"({format_bytes(self.free_bytes)} of {format_bytes(self.total_bytes)})"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DiskLow(_DiskEvent):
    """Free space fell below the warning threshold."""

    event_type: ClassVar[str] = "disk_low"
    severity: Severity = Severity.WARNING

    def title(self) -> str:
        return f"Disk space low on {self._where()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DiskCritical(_DiskEvent):
    """Free space fell below the critical threshold: new sessions are refused."""

    event_type: ClassVar[str] = "disk_critical"
    severity: Severity = Severity.CRITICAL
    retry_after: int = 0

    def title(self) -> str:
        return f"Disk space critical on {self._where()}; new sessions are refused"


@dataclass(frozen=True, slots=True, kw_only=True)
class DiskRecovered(_DiskEvent):
    """Free space is back above the warning threshold (plus hysteresis)."""

    event_type: ClassVar[str] = "disk_ok"

    def title(self) -> str:
        return f"Disk space recovered on {self._where()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsCertificateExpiring(AlertEvent):
    """A TLS certificate expires soon (or has expired)."""

    event_type: ClassVar[str] = "tls_certificate_expiring"
    severity: Severity = Severity.WARNING
    path: str
    subject: str
    not_after: float  # Unix seconds
    days_left: float

    @classmethod
    def for_certificate(
        cls, *, path: str, subject: str, not_after: float, now: float, critical_days: float = 7
    ) -> TlsCertificateExpiring:
        """The event with severity critical when at most ``critical_days`` are left."""
        days = (not_after - now) / 86400.0
        severity = Severity.CRITICAL if days <= critical_days else Severity.WARNING
        return cls(
            path=path, subject=subject, not_after=not_after, days_left=days, severity=severity
        )

    @property
    def key(self) -> str:
        return f"{self.event_type}:{self.path}"

    def title(self) -> str:
        if self.days_left <= 0:
            return f"TLS certificate {self.subject} ({self.path}) has expired"
        return f"TLS certificate {self.subject} ({self.path}) expires in {self.days_left:.0f} days"


@dataclass(frozen=True, slots=True, kw_only=True)
class CapacityNearLimit(AlertEvent):
    """A resource (sessions, RTP ports...) is near its configured limit."""

    event_type: ClassVar[str] = "capacity_near_limit"
    severity: Severity = Severity.WARNING
    resource: str
    used: int
    limit: int

    @property
    def key(self) -> str:
        return f"{self.event_type}:{self.resource}"

    def title(self) -> str:
        percent = 100.0 * self.used / self.limit if self.limit else 100.0
        return (
            f"Capacity near its limit: {self.resource} at {self.used} of {self.limit} "
            f"({percent:.0f}%)"
        )


# ----------------------------------------------------------------------------- internal


@dataclass(frozen=True, slots=True, kw_only=True)
class TestAlert(AlertEvent):
    """An operator's test of one channel (``siprecctl alerts test``); never de-duplicated."""

    __test__: ClassVar[bool] = False  # not a pytest test class
    event_type: ClassVar[str] = "test"
    channel: str
    requested_by: str | None = None
    nonce: str = ""

    @property
    def key(self) -> str:
        return f"{self.event_type}:{self.channel}:{self.nonce}"

    def title(self) -> str:
        return f"Test alert for channel {self.channel}"


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertsSuppressed(AlertEvent):
    """The per-channel rate limiter's summary of what it held back."""

    event_type: ClassVar[str] = "alerts_suppressed"
    severity: Severity = Severity.WARNING
    channel: str
    count: int
    by_type: Mapping[str, int] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.event_type}:{self.channel}"

    def title(self) -> str:
        return f"{self.count} similar alerts suppressed by the rate limit of {self.channel}"


EVENT_CLASSES: tuple[type[AlertEvent], ...] = (
    SessionStarted,
    SessionEnded,
    RecordingFailed,
    RtpTimeout,
    SrtpAuthFailures,
    RulesReloadFailed,
    RulesReloaded,
    DiskLow,
    DiskCritical,
    DiskRecovered,
    TlsCertificateExpiring,
    CapacityNearLimit,
    ActionFailed,
    RuleAlert,
    TestAlert,
    AlertsSuppressed,
)
EVENT_TYPES: frozenset[str] = frozenset(cls.event_type for cls in EVENT_CLASSES)
ROUTABLE_EVENT_TYPES: tuple[str, ...] = tuple(
    cls.event_type for cls in EVENT_CLASSES if cls not in (TestAlert, AlertsSuppressed)
)
