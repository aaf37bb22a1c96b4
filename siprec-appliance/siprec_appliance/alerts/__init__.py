"""Alerting: typed events, routing to Slack, e-mail and signed webhooks, an outbox in
SQLite that survives restarts, de-duplication, rate limits, retries, and the disk guard.

The appliance creates one :class:`AlertService` and calls :meth:`AlertService.emit`
with events from :mod:`siprec_appliance.alerts.events`; see ``docs/alerts.md``.
"""

from __future__ import annotations

from siprec_appliance.alerts.disk import DiskGuard, DiskReading, DiskState, disk_usage_probe
from siprec_appliance.alerts.errors import (
    AlertsError,
    AlertTemplateError,
    DeliveryError,
    UnknownChannelError,
)
from siprec_appliance.alerts.events import (
    EVENT_TYPES,
    ROUTABLE_EVENT_TYPES,
    ActionFailed,
    AlertEvent,
    AlertsSuppressed,
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
    TestAlert,
    TlsCertificateExpiring,
)
from siprec_appliance.alerts.model import Alert, Delivery, DeliveryState
from siprec_appliance.alerts.render import check_template, shipped_templates
from siprec_appliance.alerts.service import AlertService
from siprec_appliance.alerts.settings import AlertsConfig, DiskConfig
from siprec_appliance.alerts.signature import SIGNATURE_HEADER, verify_signature

__all__ = [
    "EVENT_TYPES",
    "ROUTABLE_EVENT_TYPES",
    "SIGNATURE_HEADER",
    "ActionFailed",
    "Alert",
    "AlertEvent",
    "AlertService",
    "AlertTemplateError",
    "AlertsConfig",
    "AlertsError",
    "AlertsSuppressed",
    "CapacityNearLimit",
    "Delivery",
    "DeliveryError",
    "DeliveryState",
    "DiskConfig",
    "DiskCritical",
    "DiskGuard",
    "DiskLow",
    "DiskReading",
    "DiskRecovered",
    "DiskState",
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
    "UnknownChannelError",
    "check_template",
    "disk_usage_probe",
    "shipped_templates",
    "verify_signature",
]
