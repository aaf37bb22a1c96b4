"""The call-facts vocabulary rules may name (docs/call-facts.md) and value helpers.

A rule that names a fact the appliance never produces would silently never match,
so fact names are checked at load time against :data:`KNOWN_FACTS` and the open
families in :data:`FACT_PREFIXES`. Values are compared as text (see
:func:`as_text`) or as numbers (:func:`as_number`).
"""

from __future__ import annotations

import difflib
from typing import Any

from siprec_appliance.vendors.facts import FIRST_KEYS

__all__ = [
    "FACT_PREFIXES",
    "KNOWN_FACTS",
    "PARTICIPANT_FIELDS",
    "as_number",
    "as_text",
    "fact_name_problem",
    "is_phone_field",
    "normalise_fact_name",
    "participant_field_problem",
]

# Every fixed key of docs/call-facts.md (plus media.codecs): the facts builder's
# leading keys and the vendor- and media-specific ones.
KNOWN_FACTS: frozenset[str] = frozenset(FIRST_KEYS) | frozenset(
    {
        "data_mode",
        "metadata_namespace",
        "media.m_lines",
        "media.labels",
        "media.mixed",
        "media.codecs",
        "user_agent",
        "avaya.ucid",
        "avaya.ucid_hex",
        "avaya.ucid_node",
        "avaya.ucid_sequence",
        "avaya.ucid_timestamp",
        "avaya.ucid_source",
        "avaya.uui",
        "oracle.ucid",
        "oracle.isr_ucid",
        "oracle.calling_party",
        "oracle.caller_orig",
        "oracle.request_uri",
        "oracle.realm",
        "cisco.session_id",
        "cisco.session_id_remote",
        "cisco.guid",
        "cisco.guid_hex",
        "cisco.gtd_gci",
        "gtd",
        "ribbon.gcid",
        "ribbon.call_id",
        "ribbon.from",
        "ribbon.to",
        "genesys.uuid",
        "audiocodes.session_id",
        "audiocodes.call_id",
        "audiocodes.action",
        "icid",
        "pcv.icid_generated_at",
        "pcv.orig_ioi",
        "pcv.term_ioi",
        "warnings",
    }
)

# Open families: any name after the prefix is accepted.
FACT_PREFIXES: tuple[str, ...] = ("headers.", "ext.", "oracle.header.")

# Fields of each object in ``participants`` (``ext.<path>`` is open as well).
PARTICIPANT_FIELDS: frozenset[str] = frozenset(
    {"id", "aor", "name", "e164", "role", "sends", "receives"}
)
PARTICIPANTS_PREFIX = "participants."
_EXT_PREFIX = "ext."
_HEADERS_PREFIX = "headers."


def normalise_fact_name(name: str) -> str:
    """Header facts have lower-case names (``headers.X-Foo`` -> ``headers.x-foo``)."""
    if name.lower().startswith(_HEADERS_PREFIX):
        return name.lower()
    return name


def fact_name_problem(name: str) -> str | None:
    """Why ``name`` is not a fact the appliance produces, or None when it is one."""
    if name in KNOWN_FACTS:
        return None
    if name.startswith(PARTICIPANTS_PREFIX):
        return participant_field_problem(name[len(PARTICIPANTS_PREFIX) :])
    for prefix in FACT_PREFIXES:
        if name.startswith(prefix):
            return None if len(name) > len(prefix) else f"{name!r} needs a name after the dot"
    close = difflib.get_close_matches(name, sorted(KNOWN_FACTS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown fact {name!r}{hint}; the facts are listed in docs/call-facts.md"


def participant_field_problem(field: str) -> str | None:
    """Why ``field`` is not a participant field, or None when it is one."""
    if field in PARTICIPANT_FIELDS:
        return None
    if field.startswith(_EXT_PREFIX) and len(field) > len(_EXT_PREFIX):
        return None
    known = ", ".join(sorted(PARTICIPANT_FIELDS | {"ext.<path>"}))
    return f"unknown participant field {field!r} (known: {known})"


def is_phone_field(name: str) -> bool:
    """E.164 facts (``caller.e164``, ``participants.e164``, a participant's ``e164``)."""
    return name == "e164" or name.endswith(".e164")


def as_text(value: Any) -> str | None:
    """The text a value is compared as: booleans ``true``/``false``, numbers in decimal.

    Lists and mappings have no text form (None).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def as_number(value: Any) -> float | None:
    """A number, or a string holding one (metadata extension values are text)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None
