"""SDP security descriptions (RFC 4568): the ``a=crypto`` attribute for SRTP.

Pure: parse and format ``a=crypto`` values, know the suites libsrtp can run, and
pick the offered line a recorder can use. The key bytes are secrets: they are kept
out of ``repr()`` so that a logged plan or stream never shows them, and nothing
here logs.

Grammar (RFC 4568 §9.1, §9.2)::

    crypto-attr  = "a=crypto:" tag 1*WSP crypto-suite 1*WSP key-params *(1*WSP session-param)
    tag          = 1*9DIGIT
    key-params   = key-param *(";" key-param)
    key-param    = "inline:" key-salt ["|" lifetime] ["|" mki]
    lifetime     = ["2^"] 1*DIGIT
    mki          = mki-value ":" mki-length      ; mki-length 1*3DIGIT, 1..128 bytes

Direction (RFC 4568 §6.1, §7.1.1, §7.1.2): each side's ``a=crypto`` carries the
master key *that side sends with*. A recorder therefore decrypts with the key of
the SRC's offer, and answers with a fresh key of its own (which it never uses,
since it sends no media) that MUST differ from the offer's (§7.1.2).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from siprec_appliance.errors import LocalProtocolError, SdpError

__all__ = [
    "SUITES",
    "CryptoAttribute",
    "CryptoSuite",
    "KeyParam",
    "KeySource",
    "answer_crypto",
    "choose_crypto",
    "unusable_reason",
]

KeySource = Callable[[int], bytes]  # n -> n random bytes (os.urandom in the appliance)

_TAG = re.compile(r"[0-9]{1,9}")
_SUITE = re.compile(r"[A-Za-z0-9_]+")
_LIFETIME = re.compile(r"(2\^)?[0-9]+")
_MKI = re.compile(r"([0-9]+):([0-9]{1,3})")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_MAX_MKI_LENGTH = 128  # RFC 4568 §6.1: mki-length is 1..128 bytes
_MIN_WINDOW = 64  # RFC 3711 §3.3.2: a replay window of at least 64 packets


@dataclass(frozen=True, slots=True)
class CryptoSuite:
    """An SRTP crypto suite: master key, salt and SRTP auth tag lengths in bytes."""

    name: str
    key_length: int
    salt_length: int
    tag_length: int

    @property
    def master_length(self) -> int:
        """Length of the ``inline:`` key-salt (master key || master salt)."""
        return self.key_length + self.salt_length


# The suites libsrtp runs here (pylibsrtp profiles), by SDP name: RFC 4568 §6.2
# (AES-CM, 112-bit salt) and RFC 7714 §14.2 (AEAD GCM, 96-bit salt).
SUITES: dict[str, CryptoSuite] = {
    s.name: s
    for s in (
        CryptoSuite("AES_CM_128_HMAC_SHA1_80", 16, 14, 10),
        CryptoSuite("AES_CM_128_HMAC_SHA1_32", 16, 14, 4),
        CryptoSuite("AEAD_AES_128_GCM", 16, 12, 16),
        CryptoSuite("AEAD_AES_256_GCM", 32, 12, 16),
    )
}


@dataclass(frozen=True, slots=True)
class KeyParam:
    """One ``inline:`` key-param (RFC 4568 §6.1). ``key_salt`` is secret (no repr)."""

    key_salt: bytes = field(repr=False)
    lifetime: str | None = None  # as written: "2^20" or "1048576"
    mki: tuple[int, int] | None = None  # (value, length in bytes)

    @classmethod
    def parse(cls, text: str) -> KeyParam:
        """Parse ``inline:<base64>[|lifetime][|mki]``; raise :class:`SdpError`."""
        method, sep, info = text.partition(":")
        if not sep or method.lower() != "inline":
            raise SdpError(f"crypto key-param: unsupported key method {method!r}")
        fields = info.split("|")
        if len(fields) > 3:
            raise SdpError("crypto key-param: too many '|' fields")
        key_salt = _decode_key(fields[0])
        lifetime: str | None = None
        mki: tuple[int, int] | None = None
        for extra in fields[1:]:
            mki_match = _MKI.fullmatch(extra)
            if mki_match is not None and mki is None:
                length = int(mki_match.group(2))
                if not 1 <= length <= _MAX_MKI_LENGTH:
                    raise SdpError(f"crypto key-param: MKI length {length} is not 1..128")
                mki = (int(mki_match.group(1)), length)
            elif _LIFETIME.fullmatch(extra) and lifetime is None and mki is None:
                lifetime = extra
            else:
                raise SdpError("crypto key-param: bad lifetime or MKI field")
        return cls(key_salt, lifetime, mki)

    def __str__(self) -> str:
        text = "inline:" + base64.b64encode(self.key_salt).decode("ascii")
        if self.lifetime is not None:
            text += f"|{self.lifetime}"
        if self.mki is not None:
            text += f"|{self.mki[0]}:{self.mki[1]}"
        return text


@dataclass(frozen=True, slots=True)
class CryptoAttribute:
    """An ``a=crypto`` value (RFC 4568 §4): tag, suite, key-params, session params."""

    tag: int
    suite: str
    key_params: tuple[KeyParam, ...]
    session_params: tuple[str, ...] = ()

    @classmethod
    def parse(cls, value: str) -> CryptoAttribute:
        """Parse the text after ``a=crypto:``; raise :class:`SdpError` if malformed."""
        fields = value.split()
        if len(fields) < 3:
            raise SdpError(f"crypto attribute: expected at least 3 fields, got {len(fields)}")
        tag_text, suite, key_text, *session = fields
        if not _TAG.fullmatch(tag_text):
            raise SdpError(f"crypto attribute: tag {tag_text!r} is not 1-9 digits")
        if not _SUITE.fullmatch(suite):
            raise SdpError(f"crypto attribute: bad crypto-suite {suite!r}")
        keys = tuple(KeyParam.parse(part) for part in key_text.split(";"))
        return cls(int(tag_text), suite, keys, tuple(session))

    def __str__(self) -> str:
        keys = ";".join(str(key) for key in self.key_params)
        return " ".join([str(self.tag), self.suite, keys, *self.session_params])

    @property
    def key_salt(self) -> bytes:
        """The (first) master key || salt."""
        return self.key_params[0].key_salt

    @property
    def mki(self) -> tuple[int, int] | None:
        """``(value, length)`` of the (first) key's MKI, or None."""
        return self.key_params[0].mki

    @property
    def window_size(self) -> int | None:
        """``WSH=`` (RFC 4568 §6.3.7): the replay window the sender asks for, if any."""
        for param in self.session_params:
            name, _, number = param.partition("=")
            if name.upper() == "WSH" and number.isdecimal():
                return int(number)
        return None


def _decode_key(text: str) -> bytes:
    if not _BASE64.fullmatch(text):
        raise SdpError("crypto key-param: key-salt is not base64")
    try:
        # Some senders leave out the "=" padding; RFC 4648 §3.2 allows that by contract.
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SdpError("crypto key-param: key-salt is not base64") from None


def unusable_reason(crypto: CryptoAttribute) -> str | None:
    """Why the recorder cannot decrypt with this offered line, or None if it can."""
    suite = SUITES.get(crypto.suite)
    if suite is None:
        return f"crypto suite {crypto.suite} is not supported"
    if len(crypto.key_params) != 1:
        return "several master keys (MKI) are not supported"
    mki = crypto.key_params[0].mki
    if mki is not None:
        # One key with an MKI field: the receiver strips it (RFC 3711 §3.1 places it
        # just before the authentication tag). RFC 7714's AEAD layout is not done.
        if not crypto.suite.startswith("AES_CM_"):
            return f"MKI with {crypto.suite} is not supported"
        if mki[0] >= 256 ** mki[1]:
            return f"MKI value does not fit in {mki[1]} bytes"
    if len(crypto.key_salt) != suite.master_length:
        return f"{crypto.suite} needs a {suite.master_length}-byte key, got {len(crypto.key_salt)}"
    for param in crypto.session_params:
        # RFC 4568 §6.3: a line with a session parameter we cannot honour is unusable.
        window = crypto.window_size
        if param.upper().startswith("WSH=") and window is not None and window >= _MIN_WINDOW:
            continue
        return f"session parameter {param.split('=', 1)[0]} is not supported"
    return None


def choose_crypto(values: Iterable[str]) -> tuple[CryptoAttribute | None, list[str]]:
    """The first usable ``a=crypto`` in offer order (the offerer's preference,
    RFC 4568 §7.1.2), and why each one before it was passed over."""
    skipped: list[str] = []
    for value in values:
        try:
            crypto = CryptoAttribute.parse(value)
        except SdpError as exc:
            skipped.append(str(exc))
            continue
        reason = unusable_reason(crypto)
        if reason is None:
            return crypto, skipped
        skipped.append(reason)
    return None, skipped


def answer_crypto(offered: CryptoAttribute, key_source: KeySource) -> CryptoAttribute:
    """Our answer line: the offer's tag and suite (RFC 4568 §5.1.2) with our own
    fresh master key, never the offer's (§7.1.2). No lifetime, MKI or session params."""
    suite = SUITES.get(offered.suite)
    if suite is None:
        raise LocalProtocolError(f"answer_crypto for an unsupported suite {offered.suite}")
    theirs = {key.key_salt for key in offered.key_params}
    for _ in range(2):
        key = key_source(suite.master_length)
        if len(key) != suite.master_length:
            raise LocalProtocolError(f"key source gave {len(key)} bytes, not {suite.master_length}")
        if key not in theirs:
            return CryptoAttribute(offered.tag, offered.suite, (KeyParam(key),))
    raise LocalProtocolError("the key source keeps returning the offer's key")
