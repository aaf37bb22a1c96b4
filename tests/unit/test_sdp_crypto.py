"""SDP security descriptions (RFC 4568): a=crypto parse/format, suites, our answer key."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siprec_appliance.errors import LocalProtocolError, SdpError
from siprec_appliance.sdp.crypto import (
    SUITES,
    CryptoAttribute,
    KeyParam,
    answer_crypto,
    choose_crypto,
    unusable_reason,
)

KEY30 = bytes(range(30))  # AES_CM: 16-byte key || 14-byte salt
B64_30 = base64.b64encode(KEY30).decode()
B64_28 = base64.b64encode(bytes(28)).decode()  # AEAD_AES_128_GCM: 16 + 12
B64_44 = base64.b64encode(bytes(44)).decode()  # AEAD_AES_256_GCM: 32 + 12
RFC_EXAMPLE = "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32"


def counter(start: int = 0x40) -> Callable[[int], bytes]:
    """A deterministic key source: n bytes of one value, the value rising per call."""
    state = [start]

    def source(n: int) -> bytes:
        state[0] += 1
        return bytes([state[0] & 0xFF]) * n

    return source


# ------------------------------------------------------------ round trips
@pytest.mark.parametrize(
    "value",
    [
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}",
        f"2 AES_CM_128_HMAC_SHA1_32 inline:{B64_30}|2^20",
        f"3 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|1048576",
        f"4 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|7:2",
        f"5 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|2^31|1:4",
        RFC_EXAMPLE,
        # RFC 4568 §9.1: several key-params (MKI) and session params.
        f"6 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|2^20|1:4;inline:{B64_30}|2^20|2:4 KDR=23",
        f"7 AEAD_AES_256_GCM inline:{B64_44} WSH=128 FEC_ORDER=FEC_SRTP",
        f"123456789 AEAD_AES_128_GCM inline:{B64_28}",
    ],
)
def test_round_trip(value: str) -> None:
    crypto = CryptoAttribute.parse(value)
    assert str(crypto) == value
    assert CryptoAttribute.parse(str(crypto)) == crypto


def test_fields_of_the_rfc_example() -> None:
    crypto = CryptoAttribute.parse(RFC_EXAMPLE)
    assert (crypto.tag, crypto.suite, crypto.session_params) == (1, "AES_CM_128_HMAC_SHA1_80", ())
    [key] = crypto.key_params
    assert len(key.key_salt) == 30
    assert (key.lifetime, key.mki) == ("2^20", (1, 32))
    assert crypto.mki == (1, 32)


def test_unpadded_base64_is_accepted_and_padded_on_output() -> None:
    key = base64.b64encode(bytes(28)).decode()
    assert key.endswith("=")
    crypto = CryptoAttribute.parse(f"1 AEAD_AES_128_GCM inline:{key.rstrip('=')}")
    assert crypto.key_salt == bytes(28)
    assert str(crypto).endswith(key)


def test_keys_never_show_in_repr() -> None:
    crypto = CryptoAttribute.parse(f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|2^20|1:4")
    text = repr(crypto)
    assert B64_30 not in text and repr(KEY30) not in text and "key_salt" not in text
    assert "AES_CM_128_HMAC_SHA1_80" in text


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("1 AES_CM_128_HMAC_SHA1_80", "crypto attribute: expected at least 3 fields, got 2"),
        (
            f"x AES_CM_128_HMAC_SHA1_80 inline:{B64_30}",
            "crypto attribute: tag 'x' is not 1-9 digits",
        ),
        (
            f"1234567890 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}",
            "crypto attribute: tag '1234567890' is not 1-9 digits",
        ),
        (f"1 AES-CM inline:{B64_30}", "crypto attribute: bad crypto-suite 'AES-CM'"),
        (
            f"1 AES_CM_128_HMAC_SHA1_80 mikey:{B64_30}",
            "crypto key-param: unsupported key method 'mikey'",
        ),
        ("1 AES_CM_128_HMAC_SHA1_80 inline", "crypto key-param: unsupported key method 'inline'"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:ab$c", "crypto key-param: key-salt is not base64"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:abcde", "crypto key-param: key-salt is not base64"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:", "crypto key-param: key-salt is not base64"),
        (
            f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|1:0",
            "crypto key-param: MKI length 0 is not 1..128",
        ),
        (
            f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|1:129",
            "crypto key-param: MKI length 129 is not 1..128",
        ),
        (
            f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|1:4|2^20",
            "crypto key-param: bad lifetime or MKI field",
        ),
        (
            f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|2^20|2^20",
            "crypto key-param: bad lifetime or MKI field",
        ),
        (
            f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|2^x",
            "crypto key-param: bad lifetime or MKI field",
        ),
        (
            f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|1|2:1|3",
            "crypto key-param: too many '|' fields",
        ),
    ],
)
def test_bad_lines_raise_sdp_error(value: str, error: str) -> None:
    with pytest.raises(SdpError) as raised:
        CryptoAttribute.parse(value)
    assert str(raised.value) == error
    assert B64_30 not in str(raised.value)  # a key never goes into an error text


@given(st.text(max_size=120))
def test_any_text_parses_or_raises_sdp_error(text: str) -> None:
    try:
        crypto = CryptoAttribute.parse(text)
    except SdpError:
        return
    assert CryptoAttribute.parse(str(crypto)) == crypto


# ------------------------------------------------------------ usability
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}", None),
        (f"1 AES_CM_128_HMAC_SHA1_32 inline:{B64_30}|2^31|5:1", None),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30} WSH=256", None),
        (
            f"1 F8_128_HMAC_SHA1_80 inline:{B64_30}",
            "crypto suite F8_128_HMAC_SHA1_80 is not supported",
        ),
        (f"1 AEAD_AES_128_GCM inline:{B64_30}", "AEAD_AES_128_GCM needs a 28-byte key, got 30"),
        (
            f"1 AES_CM_128_HMAC_SHA1_80 inline:{base64.b64encode(bytes(29)).decode()}",
            "AES_CM_128_HMAC_SHA1_80 needs a 30-byte key, got 29",
        ),
        (
            f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30} UNENCRYPTED_SRTP",
            "session parameter UNENCRYPTED_SRTP is not supported",
        ),
        (
            f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30} KDR=10",
            "session parameter KDR is not supported",
        ),
        (
            f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30} WSH=32",
            "session parameter WSH is not supported",
        ),
        (
            f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|1:1;inline:{B64_30}|2:1",
            "several master keys (MKI) are not supported",
        ),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|256:1", "MKI value does not fit in 1 bytes"),
        (
            f"1 AEAD_AES_128_GCM inline:{base64.b64encode(bytes(28)).decode()}|1:1",
            "MKI with AEAD_AES_128_GCM is not supported",
        ),
    ],
)
def test_unusable_reason(value: str, reason: str | None) -> None:
    assert unusable_reason(CryptoAttribute.parse(value)) == reason


def test_choose_takes_the_first_usable_line_in_offer_order() -> None:
    values = [
        "bogus",
        f"1 F8_128_HMAC_SHA1_80 inline:{B64_30}",
        f"2 AES_CM_128_HMAC_SHA1_32 inline:{B64_30}",
        f"3 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}",
    ]
    chosen, skipped = choose_crypto(values)
    assert chosen is not None and (chosen.tag, chosen.suite) == (2, "AES_CM_128_HMAC_SHA1_32")
    assert skipped == [
        "crypto attribute: expected at least 3 fields, got 1",
        "crypto suite F8_128_HMAC_SHA1_80 is not supported",
    ]
    assert choose_crypto([]) == (None, [])


# ------------------------------------------------------------ our answer key
@pytest.mark.parametrize("suite", sorted(SUITES))
def test_answer_echoes_tag_and_suite_with_a_fresh_key_of_the_right_length(suite: str) -> None:
    length = SUITES[suite].master_length
    assert length == {"AEAD_AES_256_GCM": 44, "AEAD_AES_128_GCM": 28}.get(suite, 30)
    offered = CryptoAttribute(7, suite, (KeyParam(bytes([0x41]) * length, "2^20"),))
    ours = answer_crypto(offered, counter())
    assert (ours.tag, ours.suite) == (7, suite)
    assert len(ours.key_salt) == length
    assert ours.key_salt != offered.key_salt
    assert ours.key_params[0].lifetime is None and ours.mki is None
    assert ours.session_params == ()


def test_answer_never_reuses_the_offers_key() -> None:
    offered = CryptoAttribute(1, "AES_CM_128_HMAC_SHA1_80", (KeyParam(bytes([0x41]) * 30),))
    ours = answer_crypto(offered, counter(0x40))  # first draw is 0x41 * 30: the offer's
    assert ours.key_salt == bytes([0x42]) * 30
    with pytest.raises(LocalProtocolError):
        answer_crypto(offered, lambda n: bytes([0x41]) * n)
    with pytest.raises(LocalProtocolError):
        answer_crypto(offered, lambda n: bytes(n - 1))
    unknown = CryptoAttribute(1, "F8_128_HMAC_SHA1_80", (KeyParam(bytes(30)),))
    with pytest.raises(LocalProtocolError):
        answer_crypto(unknown, counter())
