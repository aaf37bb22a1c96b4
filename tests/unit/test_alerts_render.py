"""Rendering: shipped templates, the sandbox for rule templates, Slack blocks, e-mail, JSON."""

from __future__ import annotations

import json
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from siprec_appliance.alerts.channels.base import http_error, parse_retry_after
from siprec_appliance.alerts.channels.slack import slack_payload
from siprec_appliance.alerts.channels.smtp import build_email
from siprec_appliance.alerts.channels.webhook import webhook_body
from siprec_appliance.alerts.credentials import REDACTED, Redactor, read_secret
from siprec_appliance.alerts.errors import AlertTemplateError, SecretError
from siprec_appliance.alerts.events import (
    AlertEvent,
    DiskCritical,
    RecordingFailed,
    RuleAlert,
    RulesReloadFailed,
    SessionEnded,
    SrtpAuthFailures,
)
from siprec_appliance.alerts.model import Alert
from siprec_appliance.alerts.render import Message, Renderer, check_template, shipped_templates
from siprec_appliance.alerts.settings import EmailChannelConfig, SecretRef

RENDERER = Renderer("srs-test-1")
NOW = 1_700_000_000.0


def render(event: AlertEvent, *, suppressed: int = 0, occurrences: int = 1) -> Message:
    alert = Alert.from_event(event, alert_id="a1b2", now=NOW)
    if occurrences > 1:
        alert = Alert(**{**_fields(alert), "occurrences": occurrences, "last_seen": NOW + 30})
    return RENDERER.render(alert, suppressed=suppressed)


def _fields(alert: Alert) -> dict[str, object]:
    return {name: getattr(alert, name) for name in alert.__slots__}


def test_shipped_templates_cover_the_common_cases() -> None:
    assert {
        "default",
        "session_ended",
        "recording_failed",
        "rule_alert",
        "disk",
        "rules_reload_failed",
        "test",
        "alerts_suppressed",
    } <= shipped_templates()
    assert "base" not in shipped_templates()


def test_session_ended_text_and_html() -> None:
    message = render(
        SessionEnded(
            session_id="s42",
            call_id="abc@sbc",
            reason="BYE from SRC",
            duration=95.0,
            participants=("+14155550100", "+442071234567"),
            directory="recordings/2024-05-01/s42",
        )
    )
    assert message.subject == "Recording ended after 95 s: +14155550100 / +442071234567"
    assert "Recording session s42 ended (BYE from SRC)." in message.text
    assert "Participants: +14155550100, +442071234567" in message.text
    assert "Files: recordings/2024-05-01/s42" in message.text
    assert "srs-test-1" in message.text
    assert message.summary.startswith("Recording session s42 ended")
    assert "<code>s42</code>" in message.html
    assert message.html.lstrip().startswith("<!DOCTYPE html>")


def test_disk_and_reload_and_recording_failed_templates() -> None:
    disk = render(DiskCritical(path="/var", free_bytes=1024**3, total_bytes=100 * 1024**3))
    assert "Disk space CRITICAL on /var: 1.0 GiB free of 100.0 GiB (1.0%)" in disk.text
    assert "refused" in disk.text
    reload = render(RulesReloadFailed(source="rules/vip.yaml", error="line 3: unknown action"))
    assert "previous rules stay in force" in reload.text
    assert "line 3: unknown action" in reload.html
    failed = render(RecordingFailed(session_id="s1", reason="No space left on device"))
    assert "RECORDING FAILED for session s1" in failed.text
    assert "CRITICAL recording_failed" in failed.text


def test_default_template_lists_facts() -> None:
    message = render(SrtpAuthFailures(session_id="s1", stream="0", failures=150, threshold=100))
    assert "failures: 150" in message.text
    assert "<th" in message.html and "150" in message.html


def test_counts_of_repeats_and_suppressed_messages_are_shown() -> None:
    message = render(RecordingFailed(session_id="s", reason="x"), suppressed=7, occurrences=3)
    assert "7 similar alerts suppressed" in message.text
    assert "Seen 3 times" in message.text
    assert "<strong>7 similar alerts suppressed</strong>" in message.html
    plain = render(RecordingFailed(session_id="s", reason="x"))
    assert "suppressed" not in plain.text and "Seen" not in plain.text


def test_html_is_escaped_text_is_not() -> None:
    message = render(RecordingFailed(session_id="s", reason="<script>alert(1)</script>"))
    assert "<script>" not in message.html
    assert "&lt;script&gt;" in message.html
    assert "<script>alert(1)</script>" in message.text


def test_rule_template_over_call_facts() -> None:
    event = RuleAlert(
        rule_id="vip",
        session_id="s7",
        call_facts={"caller": {"name": "Ada <CEO>", "e164": "+4420"}, "queue": "sales"},
        template="VIP call from {{ facts.caller.name }} ({{ facts.caller.e164 }}) "
        "in {{ facts.queue|upper }}",
        subject="VIP: {{ facts.caller.name }}\nsecond line",
    )
    message = render(event)
    assert message.subject == "VIP: Ada <CEO> second line"  # one line
    assert "VIP call from Ada <CEO> (+4420) in SALES" in message.text
    assert "Ada &lt;CEO&gt;" in message.html and "Ada <CEO>" not in message.html
    assert message.summary == "VIP call from Ada <CEO> (+4420) in SALES"


def test_rule_template_by_name() -> None:
    event = RuleAlert(
        rule_id="r",
        call_facts={"session_id": "s1", "reason": "policy", "participants": ["a"]},
        template_name="session_ended",
    )
    text = render(event).text
    assert "Recording session s1 ended (policy)." in text
    assert "Duration" not in text  # a fact the rule did not give is left out


def test_the_sandbox_blocks_internals_and_a_broken_template_keeps_the_alert() -> None:
    escape = RuleAlert(
        rule_id="evil",
        call_facts={"x": 1},
        template="{{ ''.__class__.__mro__[1].__subclasses__() }}",
    )
    message = render(escape)
    assert "SecurityError" in message.text
    assert "subclasses" not in message.text.replace("__subclasses__", "")
    assert "x: 1" in message.text  # the facts still go out
    broken = render(RuleAlert(rule_id="r", template="{{ 1 / 0 }}"))
    assert "the rule's alert template failed: ZeroDivisionError" in broken.text


def test_check_template_for_the_rules_loader() -> None:
    check_template("{{ facts.caller }} {% if facts.vip %}VIP{% endif %}")
    with pytest.raises(AlertTemplateError, match="invalid alert template"):
        check_template("{% if %}")


def test_slack_blocks() -> None:
    message = render(
        RecordingFailed(session_id="s1", reason="disk <full> & more", stream="0"), suppressed=4
    )
    payload = slack_payload(message)
    assert payload["text"].startswith(":red_circle: [CRITICAL] Recording failed")
    assert payload["text"].endswith("(4 similar alerts suppressed)")
    blocks = payload["blocks"]
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["type"] == "plain_text" and len(blocks[0]["text"]["text"]) <= 150
    section = blocks[1]["text"]["text"]
    assert "disk &lt;full&gt; &amp; more" in section  # mrkdwn control characters
    context = blocks[-1]["elements"][0]["text"]
    assert "4 similar alerts suppressed" in context and "srs-test-1" in context
    assert json.loads(json.dumps(payload)) == payload


def test_email_has_text_and_html_alternatives() -> None:
    config = EmailChannelConfig(
        name="m", host="h", sender="srs@example.com", recipients=("a@example.com", "b@x.org")
    )
    message = render(RecordingFailed(session_id="s1", reason="gone"), suppressed=2)
    mail = build_email(message, config)
    assert mail["Subject"] == (
        "[siprec] [CRITICAL] Recording failed for session s1: gone (+2 suppressed)"
    )
    assert mail["To"] == "a@example.com, b@x.org"
    assert mail["X-Siprec-Alert-Id"] == "a1b2"
    assert mail["Message-ID"].endswith("@example.com>")
    parsed = message_from_bytes(bytes(mail), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content_type() == "multipart/alternative"
    plain, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert plain is not None and "RECORDING FAILED for session s1" in plain.get_content()
    assert html is not None and "<strong>Recording failed</strong>" in html.get_content()


def test_webhook_body_is_the_alert_as_compact_json() -> None:
    body = webhook_body(render(DiskCritical(path="/var", free_bytes=1, total_bytes=100)))
    data = json.loads(body)
    assert data["id"] == "a1b2" and data["type"] == "disk_critical"
    assert data["severity"] == "critical" and data["facts"]["path"] == "/var"
    assert data["appliance"] == "srs-test-1" and "text" in data and "subject" in data
    compact = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    assert body == compact  # the signed bytes are exactly these


def test_http_answers_are_classified() -> None:
    limited = http_error(429, {"Retry-After": "7"}, "x", NOW)
    assert (limited.retry_after, limited.permanent) == (7.0, False)
    assert http_error(429, {}, "x", NOW).retry_after == 30.0
    assert http_error(503, {"retry-after": "2"}, "x", NOW).retry_after == 2.0
    for status in (500, 502, 503, 408):
        error = http_error(status, {}, "x", NOW)
        assert not error.permanent and error.retry_after is None, status
    for status in (301, 400, 403, 404):
        assert http_error(status, {}, "x", NOW).permanent, status
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470.0) == 10.0
    assert parse_retry_after("99999", NOW) == 3600.0
    assert parse_retry_after("soon", NOW) is None


def test_secrets_from_env_or_file_and_redaction(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("xoxb-file-token\n")
    assert read_secret(SecretRef(file=token), {}) == "xoxb-file-token"
    assert read_secret(SecretRef(env="TOKEN"), {"TOKEN": "xoxb-env"}) == "xoxb-env"
    with pytest.raises(SecretError, match="environment variable TOKEN is not set"):
        read_secret(SecretRef(env="TOKEN"), {})
    with pytest.raises(SecretError, match=r"cannot read .*missing"):
        read_secret(SecretRef(file=tmp_path / "missing"), {})
    redact = Redactor()
    redact.add("https://hooks.example/T0/B0/s3cr3t")
    redact.add("ab")  # too short to redact safely
    text = redact(
        "POST https://hooks.example/T0/B0/s3cr3t failed; ab; "
        "https%3A%2F%2Fhooks.example%2FT0%2FB0%2Fs3cr3t"
    )
    assert text == f"POST {REDACTED} failed; ab; {REDACTED}"


def test_a_failing_shipped_template_falls_back_to_default(tmp_path: Path) -> None:
    import shutil

    from siprec_appliance.alerts.render import TEMPLATE_DIR

    shutil.copytree(TEMPLATE_DIR, tmp_path, dirs_exist_ok=True)
    (tmp_path / "broken.txt").write_text(
        '{% extends "base.txt" %}{% block body %}{{ 1/0 }}{% endblock %}'
    )
    (tmp_path / "broken.html").write_text("{{ 1/0 }}")
    renderer = Renderer("srs", template_dir=tmp_path)
    alert = Alert.from_event(
        RuleAlert(rule_id="r", call_facts={"k": "v"}, template_name="broken"), alert_id="x", now=NOW
    )
    assert renderer.template_for(alert) == "broken"
    message = renderer.render(alert)
    assert message.summary == "Rule r matched"
    assert "k: v" in message.text
