"""Call facts: one flat, JSON-serialisable dict describing a recording session.

:func:`build_call_facts` runs every extractor in :data:`EXTRACTORS` (whatever the
detected vendor: an Oracle SBC may carry an Avaya UCID), then derives the
participants, their roles, caller/callee, direction and the best correlation id.
docs/call-facts.md documents every key. Nothing here raises on remote data: a
value it cannot use becomes a ``warnings`` entry.
"""

from __future__ import annotations

from collections.abc import Sequence

from siprec_appliance.metadata.model import RecordingMetadata
from siprec_appliance.metadata.streams import ParticipantStreams, resolve_participants
from siprec_appliance.sdp.codecs import resolve_rtpmap
from siprec_appliance.sdp.model import SessionDescription
from siprec_appliance.sip.message import Headers
from siprec_appliance.sip.multipart import BodyPart
from siprec_appliance.vendors.audiocodes import extract_audiocodes
from siprec_appliance.vendors.avaya import extract_avaya
from siprec_appliance.vendors.cisco import extract_cisco
from siprec_appliance.vendors.context import (
    CallInputs,
    Extractor,
    FactSink,
    JsonValue,
    Role,
)
from siprec_appliance.vendors.detect import VendorGuess, detect_from_inputs
from siprec_appliance.vendors.generic import extract_generic, flatten_node
from siprec_appliance.vendors.ims import extract_ims
from siprec_appliance.vendors.oracle import extract_oracle
from siprec_appliance.vendors.phone import aor_user, normalise_aor, to_e164
from siprec_appliance.vendors.ribbon import extract_ribbon

__all__ = ["EXTRACTORS", "build_call_facts"]

# Dispatch table, in precedence order: for a key set by two extractors the first
# one's value is kept (the other's only adds a warning when it differs).
EXTRACTORS: dict[str, Extractor] = {
    "generic": extract_generic,
    "avaya": extract_avaya,
    "oracle": extract_oracle,
    "cisco": extract_cisco,
    "ribbon": extract_ribbon,
    "audiocodes": extract_audiocodes,
    "ims": extract_ims,
}

_PRIORITY_LABEL = 50  # SEMS-style a_leg/b_leg stream labels
_CALLER_LABELS = frozenset({"a_leg"})
_CALLEE_LABELS = frozenset({"b_leg"})
_EXTENSION_MAX_DIGITS = 6  # "internal" = an all-digit user part this short
_EXTERNAL_MIN_DIGITS = 10  # "external" = E.164, or an all-digit user part this long

FIRST_KEYS = (
    "vendor",
    "vendor_confidence",
    "vendor_evidence",
    "vendor_candidates",
    "call_id",
    "transport",
    "source.address",
    "source.port",
    "direction",
    "direction_rule",
    "caller.aor",
    "caller.name",
    "caller.e164",
    "callee.aor",
    "callee.name",
    "callee.e164",
    "participants",
    "ucid",
    "cs_call_id",
    "sip_session_ids",
)


def _safe_detect(inputs: CallInputs, sink: FactSink) -> VendorGuess:
    try:
        return detect_from_inputs(inputs)
    except Exception as exc:  # facts must not fail a call; a detector bug is a warning
        sink.warn(f"vendor detection failed: {type(exc).__name__}: {exc}")
        return VendorGuess(name="unknown", confidence=0.0, evidence=(), candidates=())


def _run_extractors(inputs: CallInputs, sink: FactSink) -> None:
    for name, extractor in EXTRACTORS.items():
        try:
            extractor(inputs, sink)
        except Exception as exc:  # one broken extractor must not hide the others' facts
            sink.warn(f"extractor {name} failed: {type(exc).__name__}: {exc}")


def _participant_rows(
    inputs: CallInputs, given: Sequence[ParticipantStreams]
) -> list[dict[str, JsonValue]]:
    md = inputs.metadata
    by_id = {p.id: p for p in md.participants} if md is not None else {}
    rows: list[dict[str, JsonValue]] = []
    if not given and md is not None:
        given = resolve_participants(md, inputs.labels)  # RFC 7866 §8: labels tie streams to m=
    for item in given:
        pid, aor, name = item.participant_id, item.aor, item.display_name
        send, recv = list(item.send), list(item.recv)
        normalised = normalise_aor(aor)
        ext: dict[str, JsonValue] = {}
        if pid in by_id:
            for extension in by_id[pid].extensions:
                if extension.node is not None:
                    ext.update(flatten_node(extension.node))
        rows.append(
            {
                "id": pid,
                "aor": normalised,
                "name": (name or "").strip() or None,
                "e164": to_e164(normalised) if normalised else None,
                "role": "other",
                "sends": [int(i) for i in send],
                "receives": [int(i) for i in recv],
                "ext": ext,
            }
        )
    return rows


def _assign_roles(
    rows: list[dict[str, JsonValue]], inputs: CallInputs, sink: FactSink
) -> dict[str, str]:
    """Role per participant: vendor hints, then a_leg/b_leg labels, then document order."""
    rules: dict[str, str] = {}
    line_labels = inputs.labels
    for row in rows:
        pid = str(row["id"])
        sends = row["sends"] if isinstance(row["sends"], list) else []
        for line in sends:
            label = line_labels[line] if isinstance(line, int) and line < len(line_labels) else None
            if label in _CALLER_LABELS:
                sink.hint_role(pid, "caller", _PRIORITY_LABEL, f"sends stream labelled {label}")
            elif label in _CALLEE_LABELS:
                sink.hint_role(pid, "callee", _PRIORITY_LABEL, f"sends stream labelled {label}")
    for row in rows:
        hint = sink.role_hints.get(str(row["id"]))
        if hint is not None:
            row["role"] = hint[1]
            rules[str(row["id"])] = hint[2]
    taken = {str(row["role"]) for row in rows if str(row["id"]) in rules}
    # A partial update (RFC 7865 §6.1) lists only what changed: its order says nothing.
    partial = inputs.metadata is not None and inputs.metadata.is_partial
    for row in rows:
        if str(row["id"]) in rules:
            continue
        role: Role = "other"
        if partial:
            pass
        elif "caller" not in taken:
            role = "caller"
        elif "callee" not in taken:
            role = "callee"
        taken.add(role)
        row["role"] = role
        rules[str(row["id"])] = "partial update: no order rule" if partial else "document order"
    for role in ("caller", "callee"):
        if sum(1 for row in rows if row["role"] == role) > 1:
            sink.warn(f"more than one participant is the {role}")
    return rules


def _digits(aor: JsonValue) -> str | None:
    user = aor_user(aor) if isinstance(aor, str) else None
    if user is None:
        return None
    user = user.lstrip("+")
    return user if user.isascii() and user.isdigit() else None


def _side(row: dict[str, JsonValue] | None) -> str:
    """'external' (E.164 or long number), 'internal' (short extension) or 'unknown'."""
    if row is None:
        return "unknown"
    digits = _digits(row.get("aor"))
    if row.get("e164") is not None or (digits and len(digits) >= _EXTERNAL_MIN_DIGITS):
        return "external"
    if digits and len(digits) <= _EXTENSION_MAX_DIGITS:
        return "internal"
    return "unknown"


def _direction(rows: list[dict[str, JsonValue]], values: dict[str, JsonValue]) -> tuple[str, str]:
    if "direction" in values:
        return str(values["direction"]), "X-Call-Direction header"
    caller = next((r for r in rows if r["role"] == "caller"), None)
    callee = next((r for r in rows if r["role"] == "callee"), None)
    sides = (_side(caller), _side(callee))
    if sides == ("external", "internal"):
        return "inbound", "caller external, callee an internal extension"
    if sides == ("internal", "external"):
        return "outbound", "caller an internal extension, callee external"
    return "unknown", f"no rule matched (caller {sides[0]}, callee {sides[1]})"


def _correlation(
    inputs: CallInputs, values: dict[str, JsonValue]
) -> tuple[JsonValue, JsonValue, list[JsonValue]]:
    ucid = values.get("oracle.isr_ucid") or values.get("avaya.ucid") or values.get("oracle.ucid")
    session_ids: list[JsonValue] = []
    if inputs.metadata is not None:
        for session in inputs.metadata.sessions:
            session_ids.extend(session.sip_session_ids)
    cs_call_id = values.get("ribbon.call_id")
    oracle_call_ids = values.get("oracle.header.call-id")
    if cs_call_id is None and isinstance(oracle_call_ids, list) and oracle_call_ids:
        cs_call_id = oracle_call_ids[0]
    if cs_call_id is None:
        cs_call_id = next(
            (s for s in session_ids if isinstance(s, str) and "@" in s and ";" not in s), None
        )
    return ucid, cs_call_id, session_ids


def _media(inputs: CallInputs, rows: list[dict[str, JsonValue]]) -> dict[str, JsonValue]:
    if inputs.sdp is None:
        return {}
    senders: dict[int, int] = {}
    for row in rows:
        for line in row["sends"] if isinstance(row["sends"], list) else []:
            if isinstance(line, int):
                senders[line] = senders.get(line, 0) + 1
    labels: list[JsonValue] = list(inputs.labels)
    return {
        "media.m_lines": len(inputs.sdp.media),
        "media.labels": labels,
        "media.mixed": any(count > 1 for count in senders.values()),
        "media.codecs": _codecs(inputs.sdp),
    }


def _codecs(sdp: SessionDescription) -> list[JsonValue]:
    """Encoding names offered on any m= line, lower case, each once, in offer order
    (``a=rtpmap``, else the RFC 3551 static payload type's name)."""
    names: list[JsonValue] = []
    for media in sdp.media:
        for payload_type in media.payload_types:
            rtpmap = resolve_rtpmap(media, payload_type)
            name = rtpmap.encoding.lower() if rtpmap is not None else None
            if name is not None and name not in names:
                names.append(name)
    return names


def build_call_facts(
    *,
    headers: Headers,
    metadata: RecordingMetadata | None,
    sdp: SessionDescription | None,
    parts: Sequence[BodyPart],
    transport: str,
    source_host: str,
    source_port: int,
    participants: Sequence[ParticipantStreams] = (),
) -> dict[str, object]:
    """Every fact the extractors find, merged into one flat dict (docs/call-facts.md)."""
    inputs = CallInputs(headers=headers, metadata=metadata, sdp=sdp, parts=tuple(parts))
    sink = FactSink()
    guess = _safe_detect(inputs, sink)
    _run_extractors(inputs, sink)
    rows = _participant_rows(inputs, participants)
    _assign_roles(rows, inputs, sink)
    direction, rule = _direction(rows, sink.values)
    ucid, cs_call_id, session_ids = _correlation(inputs, sink.values)
    facts: dict[str, JsonValue] = {
        "vendor": guess.name,
        "vendor_confidence": guess.confidence,
        "vendor_evidence": list(guess.evidence),
        "vendor_candidates": [{"name": n, "confidence": c} for n, c in guess.candidates],
        "call_id": (headers.get("Call-ID") or "").strip(),
        "transport": transport.strip().lower(),
        "source.address": source_host,
        "source.port": int(source_port),
        "direction": direction,
        "direction_rule": rule,
        "participants": list(rows),
        "sip_session_ids": session_ids,
    }
    for role in ("caller", "callee"):
        row = next((r for r in rows if r["role"] == role), None)
        if row is not None:
            for key in ("aor", "name", "e164"):
                if row[key] is not None:
                    facts[f"{role}.{key}"] = row[key]
    if ucid is not None:
        facts["ucid"] = ucid
    if cs_call_id is not None:
        facts["cs_call_id"] = cs_call_id
    if metadata is not None:
        facts["data_mode"] = metadata.data_mode.lower()
        facts["metadata_namespace"] = metadata.namespace
        sink.warnings.extend([f"metadata: {w}" for w in metadata.warnings])
    facts.update(_media(inputs, rows))
    for key, value in sink.values.items():
        facts.setdefault(key, value)
    facts["warnings"] = list(sink.warnings)
    ordered: dict[str, object] = {key: facts[key] for key in FIRST_KEYS if key in facts}
    for key in sorted([key for key in facts if key not in ordered]):  # keys are unique
        ordered[key] = facts[key]
    return ordered
