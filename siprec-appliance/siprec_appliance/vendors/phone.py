"""AOR helpers and E.164 normalisation (ITU-T E.164, RFC 3966 visual separators).

Everything here is total: malformed input gives ``None`` or the input back, never
an exception, because the values come straight from a remote SRC's metadata.
"""

from __future__ import annotations

import re

__all__ = ["aor_user", "display_and_uri", "normalise_aor", "to_e164"]

# RFC 3966 §3: visual-separator = "-" / "." / "(" / ")"; spaces are common too.
_VISUAL = re.compile(r"[\s\-.()]")
_SCHEMES = ("sip:", "sips:", "tel:")
# ITU-T E.164 §6: at most 15 digits including the country code; no real number with
# its country code is shorter than 7 digits (e.g. Niue, +683 4002).
_E164_MIN = 7
_E164_MAX = 15
# North American Numbering Plan: "1" + 10 national digits.
_NANP_LENGTH = 11


def _strip_scheme(text: str) -> str:
    lowered = text.lower()
    for scheme in _SCHEMES:
        if lowered.startswith(scheme):
            return text[len(scheme) :]
    return text


def aor_user(aor: str | None) -> str | None:
    """The user part of ``sip:user@host;params``, ``tel:+1...``, or ``user@host``."""
    if not aor:
        return None
    text = aor.strip()
    if text.startswith("<") and ">" in text:
        text = text[1 : text.index(">")]
    text = _strip_scheme(text)
    if "@" in text:
        user = text.rsplit("@", 1)[0]
    elif aor.strip().lower().startswith("tel:"):
        user = text
    else:
        return None  # a bare host: no user part
    user = user.split(";", 1)[0]  # RFC 3261 §19.1.1 user parameters (e.g. ;isub=, ;npdi)
    return user or None


def normalise_aor(aor: str | None) -> str | None:
    """The AOR with ``sip:`` added when the SRC left the scheme out (Ribbon/Sonus)."""
    if not aor:
        return None
    text = aor.strip()
    head = text.split("@", 1)[0]
    if ":" in head and not head.startswith("+"):
        return text  # has a scheme (sip:, sips:, tel:, urn:...)
    return "sip:" + text


def display_and_uri(value: str) -> tuple[str | None, str | None]:
    """Split a From/To-style ``"Name" <uri>;params`` into (display name, URI)."""
    text = value.strip()
    lt = text.find("<")
    if lt < 0:
        uri = text.split(";", 1)[0].strip()
        return None, uri or None
    gt = text.find(">", lt)
    if gt < 0:
        return None, None
    name = text[:lt].strip().strip('"').strip() or None
    return name, text[lt + 1 : gt].strip() or None


def _digits_only(text: str) -> bool:
    return text.isascii() and text.isdigit()


def to_e164(user: str, default_country: str | None = None) -> str | None:
    """Normalise a phone number (or an AOR/URI holding one) to ``+<digits>``.

    Accepted: ``+`` followed by digits, the ``00`` international prefix, ``tel:`` and
    ``sip:`` URIs (their user part), visual separators ``- . ( )`` and spaces.
    A number without ``+``/``00`` is national: it is only converted when
    ``default_country`` (a country calling code such as ``"44"`` or ``"+1"``) is
    given; then one leading trunk ``0`` is dropped and the code prepended. For
    ``default_country="1"`` an 11-digit number starting with ``1`` is taken as
    already carrying the code (NANP). Anything else, or a result outside 7..15
    digits, gives ``None``: no national format is guessed.
    """
    text = user.strip()
    if ("@" in text or text.lower().startswith(_SCHEMES)) and (
        extracted := aor_user(text)
    ) is not None:
        text = extracted
    text = text.split(";", 1)[0]  # tel: parameters (;phone-context=, ;ext=)
    text = _VISUAL.sub("", text)
    if not text:
        return None
    if text.startswith("+"):
        digits = text[1:]
    elif text.startswith("00"):
        digits = text[2:]
    elif default_country is None:
        return None
    else:
        country = default_country.strip().lstrip("+")
        if not _digits_only(country) or not _digits_only(text):
            return None
        if country == "1" and len(text) == _NANP_LENGTH and text.startswith("1"):
            digits = text
        else:
            digits = country + (text[1:] if text.startswith("0") else text)
    if not _digits_only(digits) or digits.startswith("0"):
        return None
    if not _E164_MIN <= len(digits) <= _E164_MAX:
        return None
    return "+" + digits
