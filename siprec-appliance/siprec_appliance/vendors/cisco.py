"""Cisco CUBE: Session-ID (RFC 7989), Cisco-Guid and the ``application/gtd`` part.

- Session-ID ``<32 hex>;remote=<32 hex>`` (RFC 7989 §4); an all-zero remote UUID
  means "not known yet" and is left out. CUBE puts the recorded call's Session-ID
  in the metadata ``sipSessionID``; the request's own Session-ID header (which
  names the recording session) is used only when the metadata has none.
- ``Cisco-Guid: a-b-c-d``: four decimal 32-bit numbers (zero-padded, sometimes with
  spaces around the dashes). ``cisco.guid_hex`` is the 128-bit value in hex, the
  form Cisco's GTD ``GCI`` line carries.
- ``application/gtd`` (Generic Transparency Descriptor): kept raw as ``gtd``; the
  ``GCI,<hex>`` line becomes ``cisco.gtd_gci``.
"""

from __future__ import annotations

import re

from siprec_appliance.vendors.context import CallInputs, FactSink

__all__ = ["extract_cisco", "guid_hex", "parse_session_id"]

_UUID_HEX = re.compile(r"[0-9A-Fa-f]{32}")
_NULL_UUID = "0" * 32
_GUID_PART = re.compile(r"[0-9]{1,10}")
_GUID_PARTS = 4
_GCI = re.compile(r"^GCI,([0-9A-Fa-f]{32})\s*$", re.MULTILINE)


def parse_session_id(value: str) -> tuple[str, str | None] | None:
    """(local, remote) UUIDs of an RFC 7989 Session-ID value, lower case.

    ``remote`` is None when absent or the null UUID. None when ``local`` is not
    32 hex digits.
    """
    local, _, rest = value.strip().partition(";")
    local = local.strip()
    if not _UUID_HEX.fullmatch(local):
        return None
    remote: str | None = None
    for param in rest.split(";"):
        name, _, param_value = param.partition("=")
        if name.strip().lower() == "remote":
            candidate = param_value.strip().lower()
            if _UUID_HEX.fullmatch(candidate) and candidate != _NULL_UUID:
                remote = candidate
    return local.lower(), remote


def guid_hex(value: str) -> str | None:
    """Cisco-Guid's four decimal words as 32 hex digits, or None if malformed."""
    parts = [p.strip() for p in value.strip().split("-")]
    if len(parts) != _GUID_PARTS or not all(_GUID_PART.fullmatch(p) for p in parts):
        return None
    words = [int(p) for p in parts]
    if any(w >= 2**32 for w in words):
        return None
    return "".join(f"{w:08x}" for w in words)


def _session_id(inputs: CallInputs, sink: FactSink) -> None:
    # RFC 7865 §6.4: sipSessionID names the recorded call; the Session-ID header of
    # this request names the recording session itself, so it is only a fallback.
    if inputs.metadata is not None:
        for session in inputs.metadata.sessions:
            for sip_session_id in session.sip_session_ids:
                parsed = parse_session_id(sip_session_id)
                if parsed is not None:
                    sink.set("cisco.session_id", parsed[0], "metadata sipSessionID")
                    sink.set("cisco.session_id_remote", parsed[1], "metadata sipSessionID")
                    return
    header = inputs.header("Session-ID")
    if not header:
        return
    parsed = parse_session_id(header.split(",", 1)[0])
    if parsed is None:
        sink.warn(f"Session-ID header: not an RFC 7989 UUID: {header[:60]!r}")
        return
    sink.set("cisco.session_id", parsed[0], "Session-ID header")
    sink.set("cisco.session_id_remote", parsed[1], "Session-ID header")


def extract_cisco(inputs: CallInputs, sink: FactSink) -> None:
    """``cisco.*`` and ``gtd`` facts."""
    _session_id(inputs, sink)
    guid = inputs.header("Cisco-Guid")
    if guid:
        sink.set("cisco.guid", guid.strip(), "Cisco-Guid header")
        converted = guid_hex(guid)
        if converted is None:
            sink.warn(f"Cisco-Guid: not four decimal words: {guid[:60]!r}")
        sink.set("cisco.guid_hex", converted, "Cisco-Guid header")
    gtd = inputs.part_text("application/gtd")
    if gtd is not None:
        sink.set("gtd", gtd.replace("\r\n", "\n").strip(), "application/gtd part")
        match = _GCI.search(gtd.replace("\r\n", "\n"))
        if match:
            sink.set("cisco.gtd_gci", match.group(1).lower(), "application/gtd GCI")
