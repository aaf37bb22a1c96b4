"""Errors of the alerting subsystem (one base, :class:`AlertsError`)."""

from __future__ import annotations

from siprec_appliance.errors import SiprecError

__all__ = [
    "AlertTemplateError",
    "AlertsError",
    "DeliveryError",
    "SecretError",
    "UnknownChannelError",
]


class AlertsError(SiprecError):
    """Base class of alerting errors."""


class UnknownChannelError(AlertsError, LookupError):
    """No channel of that name is configured (the API answers 404)."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"no alert channel {name!r} (configured: {', '.join(known) or 'none'})")
        self.name = name


class AlertTemplateError(AlertsError, ValueError):
    """A rule's Jinja2 template cannot be compiled or names an unknown shipped template."""


class SecretError(AlertsError):
    """A configured secret cannot be read (the message names where, not what)."""


class DeliveryError(AlertsError):
    """One attempt to deliver to a channel failed.

    ``permanent``: retrying cannot help (the channel refused the message itself, a
    secret is missing); the delivery fails at once. ``retry_after``: the server asked
    to wait that many seconds (HTTP 429/503 Retry-After); such answers are not counted
    as failures. Otherwise the failure is transient and retried with backoff. The
    message never contains a secret (channels redact it).
    """

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
