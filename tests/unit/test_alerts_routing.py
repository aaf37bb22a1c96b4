"""Routing system events to channels by type and severity."""

from __future__ import annotations

from siprec_appliance.alerts.events import (
    AlertsSuppressed,
    DiskLow,
    RecordingFailed,
    RuleAlert,
    RulesReloadFailed,
    SessionEnded,
    Severity,
    TestAlert,
)
from siprec_appliance.alerts.routing import Router
from siprec_appliance.alerts.settings import RouteConfig

ROUTER = Router.from_config(
    [
        RouteConfig(
            events=("disk_low", "rules_reload_failed"),
            min_severity="warning",
            channels=("ops-slack", "ops-mail"),
        ),
        RouteConfig(min_severity="critical", channels=("pager", "ops-slack")),
        RouteConfig(events=("session_ended", "rule_alert"), channels=("archive",)),
    ]
)


def test_by_type_and_severity() -> None:
    disk = DiskLow(path="/var", free_bytes=1, total_bytes=10)
    assert ROUTER.channels_for(disk) == ("ops-slack", "ops-mail")
    critical_disk = DiskLow(path="/var", free_bytes=1, total_bytes=10, severity=Severity.CRITICAL)
    assert ROUTER.channels_for(critical_disk) == ("ops-slack", "ops-mail", "pager")
    assert ROUTER.channels_for(RecordingFailed(session_id="s", reason="x")) == (
        "pager",
        "ops-slack",
    )
    assert ROUTER.channels_for(SessionEnded(session_id="s", call_id="c")) == ("archive",)


def test_below_min_severity_goes_nowhere() -> None:
    quiet = RulesReloadFailed(source="r", error="e", severity=Severity.INFO)
    assert ROUTER.channels_for(quiet) == ()


def test_rule_alert_with_a_channel_goes_there_only() -> None:
    assert ROUTER.channels_for(RuleAlert(rule_id="r", channel="vip-mail")) == ("vip-mail",)
    assert ROUTER.channels_for(RuleAlert(rule_id="r")) == ("archive",)


def test_tests_and_summaries_go_to_their_channel() -> None:
    assert ROUTER.channels_for(TestAlert(channel="x")) == ("x",)
    assert ROUTER.channels_for(AlertsSuppressed(channel="y", count=3)) == ("y",)


def test_no_routes_no_channels() -> None:
    assert Router([]).channels_for(RecordingFailed(session_id="s", reason="x")) == ()
