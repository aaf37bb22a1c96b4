"""HMAC-SHA256 webhook signatures: what a receiver checks."""

from __future__ import annotations

import hashlib
import hmac

from siprec_appliance.alerts.signature import sign, signature_header, verify_signature

SECRET = "whsec-test-0123456789"
BODY = b'{"id":"a1","type":"disk_low"}'
NOW = 1_700_000_000


def test_header_format_and_known_value() -> None:
    header = signature_header(SECRET, NOW, BODY)
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"
    assert sign(SECRET.encode(), NOW, BODY) == expected


def test_valid_signature_verifies() -> None:
    header = signature_header(SECRET, NOW, BODY)
    assert verify_signature(SECRET, header, BODY, now=NOW + 10, tolerance=300)


def test_tampering_and_wrong_secret_fail() -> None:
    header = signature_header(SECRET, NOW, BODY)
    assert not verify_signature(SECRET, header, BODY.replace(b"disk_low", b"disk_ok"), NOW)
    assert not verify_signature("other-secret", header, BODY, NOW)
    forged_time = header.replace(f"t={NOW}", f"t={NOW + 1}")
    assert not verify_signature(SECRET, forged_time, BODY, NOW)


def test_replay_outside_the_tolerance_fails() -> None:
    header = signature_header(SECRET, NOW, BODY)
    assert not verify_signature(SECRET, header, BODY, now=NOW + 301, tolerance=300)
    assert not verify_signature(SECRET, header, BODY, now=NOW - 301, tolerance=300)
    assert verify_signature(SECRET, header, BODY, now=NOW + 299, tolerance=300)


def test_malformed_headers_fail() -> None:
    for header in (None, "", "v1=abc", f"t={NOW}", "t=x,v1=00", "garbage"):
        assert not verify_signature(SECRET, header, BODY, NOW), header


def test_rotation_any_v1_may_match() -> None:
    old = signature_header("old-secret", NOW, BODY)
    both = old + "," + signature_header(SECRET, NOW, BODY).split(",")[1]
    assert verify_signature(SECRET, both, BODY, NOW)
    assert verify_signature("old-secret", both, BODY, NOW)
