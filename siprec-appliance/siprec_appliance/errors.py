"""One error hierarchy for the whole appliance (see shared/STYLE.md).

Remote errors (the peer or an operator's file misbehaved) become protocol answers:
a SIP 4xx, a dropped packet, a rejected rule file. They never escape as crashes.
"""

from __future__ import annotations


class SiprecError(Exception):
    """Base class of every error this package raises on purpose."""


class SipProtocolError(SiprecError):
    """A SIP message from the network is malformed or unacceptable.

    ``status`` is the response code to answer with (RFC 3261 §21), ``reason`` a short
    human-readable phrase that goes into the reason phrase or a Warning header.
    """

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class SdpError(SiprecError, ValueError):
    """An SDP body (RFC 8866) cannot be parsed."""


class MetadataError(SiprecError):
    """Recording metadata (RFC 7865) that cannot be used: malformed, hostile or too big."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConfigError(SiprecError):
    """The configuration file or environment is invalid; the message names the key."""


class LocalProtocolError(SiprecError):
    """This program misused a protocol API (a bug, not the peer's fault)."""
