"""Alert events: types, severities, de-duplication keys, facts, and the schema's list."""

from __future__ import annotations

import json
from typing import Any

import pytest

from siprec_appliance.alerts.events import (
    EVENT_CLASSES,
    EVENT_TYPES,
    ROUTABLE_EVENT_TYPES,
    ActionFailed,
    AlertEvent,
    CapacityNearLimit,
    DiskCritical,
    DiskLow,
    DiskRecovered,
    RecordingFailed,
    RtpTimeout,
    RuleAlert,
    RulesReloaded,
    RulesReloadFailed,
    SessionEnded,
    SessionStarted,
    Severity,
    SrtpAuthFailures,
    TlsCertificateExpiring,
    format_bytes,
)
from siprec_appliance.alerts.model import Alert
from siprec_appliance.resources import share_path

SAMPLES: list[AlertEvent] = [
    SessionStarted(session_id="s1", call_id="c1", participants=("+1415", "+4420")),
    SessionEnded(session_id="s1", call_id="c1", reason="bye", duration=61.5),
    RecordingFailed(session_id="s1", reason="disk full", stream="0"),
    RtpTimeout(session_id="s1", stream="1", seconds=60.0),
    SrtpAuthFailures(session_id="s1", stream="0", failures=120, threshold=100),
    RulesReloadFailed(source="rules/vip.yaml", error="line 3: unknown action"),
    RulesReloaded(source="rules/", rules=7),
    DiskLow(path="/var", free_bytes=5 * 1024**3, total_bytes=100 * 1024**3),
    DiskCritical(path="/var", free_bytes=1024**3, total_bytes=100 * 1024**3, retry_after=300),
    DiskRecovered(path="/var", free_bytes=50 * 1024**3, total_bytes=100 * 1024**3),
    TlsCertificateExpiring(path="/etc/srs.pem", subject="CN=srs", not_after=1e9, days_left=20),
    CapacityNearLimit(resource="sessions", used=9000, limit=10000),
    ActionFailed(action="export", error="timeout", rule_id="r1", session_id="s1"),
    RuleAlert(rule_id="vip", channel="ops", session_id="s1", call_facts={"caller": "+1415"}),
]


def test_every_event_class_has_a_sample_and_a_unique_type() -> None:
    assert {type(event) for event in SAMPLES} | {
        cls for cls in EVENT_CLASSES if cls.event_type in ("test", "alerts_suppressed")
    } == set(EVENT_CLASSES)
    assert len(EVENT_TYPES) == len(EVENT_CLASSES)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda event: event.event_type)
def test_to_dict_is_json_and_complete(event: AlertEvent) -> None:
    body = event.to_dict()
    assert json.loads(json.dumps(body)) == body
    assert body["type"] == event.event_type
    assert body["severity"] in ("info", "warning", "critical")
    assert body["key"].startswith(event.event_type)
    assert body["title"] and "\n" not in body["title"]
    assert "severity" not in body["facts"]


def test_default_severities_and_override() -> None:
    assert SessionEnded(session_id="s", call_id="c").severity is Severity.INFO
    assert RtpTimeout(session_id="s", stream="0", seconds=1).severity is Severity.WARNING
    assert RecordingFailed(session_id="s", reason="x").severity is Severity.CRITICAL
    raised = RtpTimeout(session_id="s", stream="0", seconds=1, severity=Severity.CRITICAL)
    assert raised.to_dict()["severity"] == "critical"
    assert Severity.INFO.rank < Severity.WARNING.rank < Severity.CRITICAL.rank


def test_keys_separate_what_must_not_be_merged() -> None:
    a = RtpTimeout(session_id="s1", stream="0", seconds=60)
    assert a.key == RtpTimeout(session_id="s1", stream="0", seconds=90).key
    assert a.key != RtpTimeout(session_id="s1", stream="1", seconds=60).key
    assert a.key != RtpTimeout(session_id="s2", stream="0", seconds=60).key
    ended = [SessionEnded(session_id=f"s{n}", call_id="c") for n in range(3)]
    assert len({event.key for event in ended}) == 3


def test_recovery_events_clear_the_condition_they_end() -> None:
    low = DiskLow(path="/var", free_bytes=1, total_bytes=10)
    critical = DiskCritical(path="/var", free_bytes=1, total_bytes=10)
    ok = DiskRecovered(path="/var", free_bytes=9, total_bytes=10)
    assert set(ok.clears) == {low.key, critical.key}
    assert ok.key in low.clears and critical.key in low.clears
    failed = RulesReloadFailed(source="rules/", error="x")
    assert RulesReloaded(source="rules/").clears == (failed.key,)
    assert SessionEnded(session_id="s", call_id="c").clears == ()


def test_disk_facts_are_readable() -> None:
    facts = DiskCritical(path="/var", free_bytes=1024**3, total_bytes=100 * 1024**3).facts()
    assert facts["free"] == "1.0 GiB"
    assert facts["total"] == "100.0 GiB"
    assert facts["free_percent"] == 1.0
    assert format_bytes(512) == "512 B"
    assert format_bytes(1536 * 1024**2) == "1.5 GiB"


def test_tls_expiry_severity_follows_days_left() -> None:
    now = 1_700_000_000.0
    soon = TlsCertificateExpiring.for_certificate(
        path="/c.pem", subject="CN=x", not_after=now + 3 * 86400, now=now
    )
    later = TlsCertificateExpiring.for_certificate(
        path="/c.pem", subject="CN=x", not_after=now + 30 * 86400, now=now
    )
    gone = TlsCertificateExpiring.for_certificate(
        path="/c.pem", subject="CN=x", not_after=now - 60, now=now
    )
    assert (soon.severity, later.severity) == (Severity.CRITICAL, Severity.WARNING)
    assert round(later.days_left) == 30
    assert "has expired" in gone.title()


def test_rule_alert_facts_are_the_call_facts_not_its_template() -> None:
    event = RuleAlert(
        rule_id="vip",
        session_id="s9",
        call_facts={"caller": {"e164": "+1415"}, "tags": ("a", "b")},
        template="secret {{ facts }}",
    )
    facts: dict[str, Any] = event.facts()
    assert facts == {
        "caller": {"e164": "+1415"},
        "tags": ["a", "b"],
        "rule_id": "vip",
        "session_id": "s9",
    }
    alert = Alert.from_event(event, alert_id="a1", now=10.0)
    assert alert.template == "secret {{ facts }}"
    assert alert.to_dict()["facts"] == facts


def test_events_are_frozen() -> None:
    event = SessionEnded(session_id="s", call_id="c")
    with pytest.raises(AttributeError):
        event.session_id = "t"  # type: ignore[misc]


def test_schema_lists_exactly_the_routable_event_types() -> None:
    schema = json.loads(share_path("schemas", "config.schema.json").read_text(encoding="utf-8"))
    enum = schema["$defs"]["route"]["properties"]["events"]["items"]["enum"]
    assert enum == list(ROUTABLE_EVENT_TYPES)
    assert "test" not in enum and "alerts_suppressed" not in enum
