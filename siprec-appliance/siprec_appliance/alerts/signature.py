"""HMAC-SHA256 signatures of webhook bodies, in the style of Stripe's.

The sender adds ``X-Siprec-Signature: t=<unix seconds>,v1=<hex>`` where
``<hex> = HMAC-SHA256(secret, "<t>." + body)``. A receiver recomputes the HMAC over
the raw body it received and the ``t`` of the header, compares in constant time, and
rejects a ``t`` older (or newer) than its tolerance, which stops replays. Several
``v1=`` entries may be present (secret rotation): one match is enough.

Receiver side, with the standard library only::

    from siprec_appliance.alerts.signature import verify_signature
    ok = verify_signature(secret, request.headers["X-Siprec-Signature"], raw_body,
                          now=time.time(), tolerance=300)
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["SIGNATURE_HEADER", "SIGNATURE_SCHEME", "sign", "signature_header", "verify_signature"]

SIGNATURE_HEADER = "X-Siprec-Signature"
SIGNATURE_SCHEME = "v1"
DEFAULT_TOLERANCE = 300.0


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``b"<timestamp>." + body``."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def signature_header(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The value of ``X-Siprec-Signature`` for ``body`` sent at ``timestamp``."""
    return f"t={timestamp},{SIGNATURE_SCHEME}={sign(secret, timestamp, body)}"


def _parse(header: str) -> tuple[int | None, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == SIGNATURE_SCHEME and value:
            signatures.append(value.strip())
    return timestamp, signatures


def verify_signature(
    secret: str | bytes,
    header: str | None,
    body: bytes,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> bool:
    """True when ``header`` is a valid signature of ``body`` made within ``tolerance``.

    ``body`` must be the raw bytes received (not re-serialised JSON); ``now`` is the
    receiver's Unix time.
    """
    if not header:
        return False
    timestamp, signatures = _parse(header)
    if timestamp is None or not signatures or abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)
