"""Configuration of alerting (``alerts:``) and of the disk guard (``disk:``).

``schemas/config.schema.json`` checks the shape, types and defaults; this module holds
the frozen dataclasses, builds them from the validated document
(:func:`build_alerts_config`, :func:`build_disk_config`) and checks what the schema
cannot express (:func:`alerts_problems`, :func:`disk_problems`): a route naming an
unknown channel, a Slack channel with both or neither of webhook and bot token, a
secret given both as a variable and as a file, critical thresholds above warning ones.

Secrets are never configuration values: a channel names an environment variable
(``token_env``) or a file (``token_file``) and the value is read when a message is
sent (:mod:`siprec_appliance.alerts.secrets`), so it never reaches a log or an API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

__all__ = [
    "CHANNEL_TYPES",
    "EMAIL_SECURITY",
    "SEVERITIES",
    "AlertsConfig",
    "ChannelConfig",
    "DiskConfig",
    "EmailChannelConfig",
    "RateLimitConfig",
    "RetryConfig",
    "RouteConfig",
    "SecretRef",
    "SlackChannelConfig",
    "WebhookChannelConfig",
    "alerts_problems",
    "build_alerts_config",
    "build_disk_config",
    "disk_problems",
]

SEVERITIES = ("info", "warning", "critical")
CHANNEL_TYPES = ("slack", "email", "webhook")
EMAIL_SECURITY = ("starttls", "tls", "none")
DEFAULT_SMTP_PORTS = {"starttls": 587, "tls": 465, "none": 25}
SLACK_API_URL = "https://slack.com/api/"

Problem = tuple[tuple[str | int, ...], str]


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretRef:
    """Where a secret is read from: an environment variable or a file, never the value."""

    env: str | None = None
    file: Path | None = None

    @property
    def configured(self) -> bool:
        return self.env is not None or self.file is not None

    def describe(self) -> str:
        """Names the source (for errors and the API), never the value."""
        if self.env is not None:
            return f"environment variable {self.env}"
        if self.file is not None:
            return f"file {self.file}"
        return "nothing"


@dataclass(frozen=True, slots=True, kw_only=True)
class SlackChannelConfig:
    """Slack: an incoming webhook, or a bot token plus ``channel`` (``chat.postMessage``)."""

    kind: ClassVar[str] = "slack"
    name: str
    webhook_url: SecretRef = field(default_factory=SecretRef)
    token: SecretRef = field(default_factory=SecretRef)
    channel: str | None = None
    api_url: str = SLACK_API_URL
    timeout: float = 10.0

    @property
    def uses_webhook(self) -> bool:
        return self.webhook_url.configured


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailChannelConfig:
    """SMTP submission: implicit TLS (``tls``), ``starttls`` or ``none``; optional AUTH."""

    kind: ClassVar[str] = "email"
    name: str
    host: str
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    password: SecretRef = field(default_factory=SecretRef)
    sender: str
    recipients: tuple[str, ...]
    ca_file: Path | None = None
    verify: bool = True
    timeout: float = 30.0
    subject_prefix: str = "[siprec]"


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookChannelConfig:
    """A JSON POST signed with HMAC-SHA256 (:mod:`siprec_appliance.alerts.signature`)."""

    kind: ClassVar[str] = "webhook"
    name: str
    url: str
    secret: SecretRef = field(default_factory=SecretRef)
    ca_file: Path | None = None
    verify: bool = True
    timeout: float = 10.0


ChannelConfig = SlackChannelConfig | EmailChannelConfig | WebhookChannelConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteConfig:
    """System events of ``events`` (empty: every type) at ``min_severity`` or above."""

    events: tuple[str, ...] = ()
    min_severity: str = "info"
    channels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryConfig:
    """Exponential backoff: ``initial_delay * factor**(n-1)``, capped at ``max_delay``."""

    initial_delay: float = 5.0
    factor: float = 2.0
    max_delay: float = 600.0
    max_attempts: int = 20
    max_age: float = 86400.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitConfig:
    """At most ``count`` messages per channel in any ``period`` seconds."""

    count: int = 20
    period: float = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertsConfig:
    """Alerting: channels, routes, de-duplication, rate limit, retries, history."""

    enabled: bool = True
    appliance_name: str | None = None
    dedup_window: float = 300.0
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    retention_days: float = 30.0
    channels: tuple[ChannelConfig, ...] = ()
    routes: tuple[RouteConfig, ...] = ()

    def channel(self, name: str) -> ChannelConfig | None:
        return next((channel for channel in self.channels if channel.name == name), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class DiskConfig:
    """Free-space thresholds of the data directory (a level applies below either limit)."""

    warning_free_percent: float = 10.0
    warning_free_bytes: int = 2 * 1024**3
    critical_free_percent: float = 2.0
    critical_free_bytes: int = 512 * 1024**2
    hysteresis_percent: float = 1.0
    check_interval: float = 30.0
    retry_after: int = 300


# --------------------------------------------------------------------------------------
# Building from the validated document
# --------------------------------------------------------------------------------------


def _path(value: Any) -> Path | None:
    return None if value is None else Path(value)


def _secret(spec: Mapping[str, Any], prefix: str) -> SecretRef:
    return SecretRef(env=spec.get(f"{prefix}_env"), file=_path(spec.get(f"{prefix}_file")))


def _slack(name: str, spec: Mapping[str, Any]) -> SlackChannelConfig:
    return SlackChannelConfig(
        name=name,
        webhook_url=_secret(spec, "webhook_url"),
        token=_secret(spec, "token"),
        channel=spec.get("channel"),
        api_url=spec.get("api_url", SLACK_API_URL),
        timeout=float(spec.get("timeout", 10.0)),
    )


def _email(name: str, spec: Mapping[str, Any]) -> EmailChannelConfig:
    security = spec.get("security", "starttls")
    return EmailChannelConfig(
        name=name,
        host=spec["host"],
        port=int(spec.get("port") or DEFAULT_SMTP_PORTS[security]),
        security=security,
        username=spec.get("username"),
        password=_secret(spec, "password"),
        sender=spec["from"],
        recipients=tuple(spec["to"]),
        ca_file=_path(spec.get("ca_file")),
        verify=bool(spec.get("verify", True)),
        timeout=float(spec.get("timeout", 30.0)),
        subject_prefix=spec.get("subject_prefix", "[siprec]"),
    )


def _webhook(name: str, spec: Mapping[str, Any]) -> WebhookChannelConfig:
    return WebhookChannelConfig(
        name=name,
        url=spec["url"],
        secret=_secret(spec, "secret"),
        ca_file=_path(spec.get("ca_file")),
        verify=bool(spec.get("verify", True)),
        timeout=float(spec.get("timeout", 10.0)),
    )


_CHANNEL_BUILDERS: dict[str, Callable[[str, Mapping[str, Any]], ChannelConfig]] = {
    "slack": _slack,
    "email": _email,
    "webhook": _webhook,
}


def _route(spec: Mapping[str, Any]) -> RouteConfig:
    return RouteConfig(
        events=tuple(spec.get("events") or ()),
        min_severity=spec.get("min_severity", "info"),
        channels=tuple(spec.get("channels") or ()),
    )


def _floats(spec: Mapping[str, Any] | None, names: tuple[str, ...]) -> dict[str, Any]:
    items = dict(spec or {})
    return {key: float(value) if key in names else value for key, value in items.items()}


def build_alerts_config(data: Mapping[str, Any] | None) -> AlertsConfig:
    """:class:`AlertsConfig` from the schema-validated ``alerts`` mapping (None: defaults)."""
    items = dict(data or {})
    channels = items.get("channels") or {}
    return AlertsConfig(
        enabled=bool(items.get("enabled", True)),
        appliance_name=items.get("appliance_name"),
        dedup_window=float(items.get("dedup_window", 300.0)),
        rate_limit=RateLimitConfig(**_floats(items.get("rate_limit"), ("period",))),
        retry=RetryConfig(
            **_floats(items.get("retry"), ("initial_delay", "factor", "max_delay", "max_age"))
        ),
        retention_days=float(items.get("retention_days", 30.0)),
        channels=tuple(
            _CHANNEL_BUILDERS[spec["type"]](name, spec) for name, spec in channels.items()
        ),
        routes=tuple(_route(spec) for spec in items.get("routes") or ()),
    )


def build_disk_config(data: Mapping[str, Any] | None) -> DiskConfig:
    """:class:`DiskConfig` from the schema-validated ``disk`` mapping (None: defaults)."""
    floats = ("warning_free_percent", "critical_free_percent", "hysteresis_percent")
    return DiskConfig(**_floats(data, (*floats, "check_interval")))


# --------------------------------------------------------------------------------------
# Checks the schema cannot express; each problem is (key path, message)
# --------------------------------------------------------------------------------------


def alerts_problems(config: AlertsConfig) -> list[Problem]:
    """Cross-field problems of the ``alerts`` section, in configuration order."""
    problems: list[Problem] = []
    for channel in config.channels:
        where: tuple[str | int, ...] = ("alerts", "channels", channel.name)
        problems.extend(_CHANNEL_CHECKS[channel.kind](channel, where))
    known = [channel.name for channel in config.channels]
    for index, route in enumerate(config.routes):
        for position, name in enumerate(route.channels):
            if name not in known:
                problems.append(
                    (
                        ("alerts", "routes", index, "channels", position),
                        f"unknown channel {name!r} (configured: {', '.join(known) or 'none'})",
                    )
                )
    return problems


def _both_problem(ref: SecretRef, where: tuple[str | int, ...], prefix: str) -> list[Problem]:
    if ref.env is not None and ref.file is not None:
        return [((*where, f"{prefix}_file"), f"give {prefix}_env or {prefix}_file, not both")]
    return []


def _url_problem(url: str, where: tuple[str | int, ...]) -> list[Problem]:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.hostname:
        return []
    return [(where, "must be an http:// or https:// URL with a host")]


def _check_slack(channel: Any, where: tuple[str | int, ...]) -> list[Problem]:
    slack: SlackChannelConfig = channel
    problems = [
        *_both_problem(slack.webhook_url, where, "webhook_url"),
        *_both_problem(slack.token, where, "token"),
        *_url_problem(slack.api_url, (*where, "api_url")),
    ]
    if slack.webhook_url.configured and slack.token.configured:
        problems.append((where, "give an incoming webhook or a bot token, not both"))
    elif not slack.webhook_url.configured and not slack.token.configured:
        problems.append(
            (where, "needs webhook_url_env or webhook_url_file, or token_env or token_file")
        )
    elif slack.token.configured and not slack.channel:
        problems.append((where, "a bot token needs channel (e.g. '#ops' or a channel ID)"))
    return problems


def _check_email(channel: Any, where: tuple[str | int, ...]) -> list[Problem]:
    email: EmailChannelConfig = channel
    problems = _both_problem(email.password, where, "password")
    if email.username is not None and not email.password.configured:
        problems.append(((*where, "username"), "needs password_env or password_file"))
    if email.username is None and email.password.configured:
        problems.append((where, "a password needs username"))
    return problems


def _check_webhook(channel: Any, where: tuple[str | int, ...]) -> list[Problem]:
    webhook: WebhookChannelConfig = channel
    problems = [
        *_both_problem(webhook.secret, where, "secret"),
        *_url_problem(webhook.url, (*where, "url")),
    ]
    if not webhook.secret.configured:
        problems.append((where, "needs secret_env or secret_file (the HMAC-SHA256 signing key)"))
    return problems


_CHANNEL_CHECKS: dict[str, Callable[[Any, tuple[str | int, ...]], list[Problem]]] = {
    "slack": _check_slack,
    "email": _check_email,
    "webhook": _check_webhook,
}


def disk_problems(config: DiskConfig) -> list[Problem]:
    """Critical limits must not be above the warning ones."""
    problems: list[Problem] = []
    if config.critical_free_percent > config.warning_free_percent:
        problems.append(
            (
                ("disk", "critical_free_percent"),
                f"{config.critical_free_percent} must not be greater than "
                f"disk.warning_free_percent ({config.warning_free_percent})",
            )
        )
    if config.critical_free_bytes > config.warning_free_bytes:
        problems.append(
            (
                ("disk", "critical_free_bytes"),
                f"{config.critical_free_bytes} must not be greater than "
                f"disk.warning_free_bytes ({config.warning_free_bytes})",
            )
        )
    return problems
