"""Which SRC sent this recording session? Scored from every signal at once.

Each signal is a row in a table below: (what to look for, vendor, weight 0..1).
A vendor's score combines its matched weights as independent evidence
(noisy-or: ``1 - prod(1 - w)``). The winner's confidence is its score scaled down
by the runner-up: ``s1 * s1 / (s1 + s2)``, so conflicting signals lower it (two
equal scores give half). docs/vendors.md gives the source of every row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from siprec_appliance.metadata.model import RecordingMetadata
from siprec_appliance.sdp.model import SessionDescription
from siprec_appliance.sip.headers import split_list
from siprec_appliance.sip.message import Headers
from siprec_appliance.sip.multipart import BodyPart, parse_content_type
from siprec_appliance.vendors.avaya import UuiError, decode_ucid
from siprec_appliance.vendors.context import CallInputs

__all__ = ["UNKNOWN", "VendorGuess", "detect_from_inputs", "detect_vendor"]

UNKNOWN = "unknown"
METADATA_TYPES = frozenset({"application/rs-metadata+xml", "application/rs-metadata"})


@dataclass(frozen=True, slots=True, kw_only=True)
class VendorGuess:
    """The most likely SRC vendor, how sure, why, and every vendor that scored."""

    name: str
    confidence: float
    evidence: tuple[str, ...]
    candidates: tuple[tuple[str, float], ...]


# User-Agent / Server substrings (case-insensitive).
USER_AGENTS: tuple[tuple[str, str, float], ...] = (
    ("cisco-sipgateway", "cisco", 0.9),
    ("cube", "cisco", 0.6),
    ("audiocodes", "audiocodes", 0.9),
    ("mediant", "audiocodes", 0.8),
    ("avaya", "avaya", 0.8),
    ("asbce", "avaya", 0.8),
    ("oracle", "oracle", 0.8),
    ("acme packet", "oracle", 0.8),
    ("ocsbc", "oracle", 0.8),
    ("sonus", "ribbon", 0.8),
    ("ribbon", "ribbon", 0.8),
    ("genesys", "genesys", 0.8),
    ("nice", "nice", 0.6),
    ("broadworks", "broadworks", 0.9),
    ("metaswitch", "metaswitch", 0.8),
    ("perimeta", "metaswitch", 0.8),
    ("sems", "sems", 0.8),
    ("opensips", "opensips", 0.9),
    ("freeswitch", "freeswitch", 0.9),
    ("asterisk", "asterisk", 0.8),
)

# Header-name prefixes (case-insensitive).
HEADER_PREFIXES: tuple[tuple[str, str, float], ...] = (
    ("x-avaya-", "avaya", 0.6),
    ("x-ac-", "audiocodes", 0.7),
    ("x-audc-", "audiocodes", 0.7),
    ("ac-session-id", "audiocodes", 0.7),
    ("cisco-guid", "cisco", 0.7),
    ("cisco-gucid", "cisco", 0.5),
    ("x-cisco-", "cisco", 0.5),
    ("x-genesys-", "genesys", 0.6),
    ("x-nice-", "nice", 0.6),
    ("x-ntr-", "nice", 0.5),
    ("x-broadworks-", "broadworks", 0.7),
    ("x-isr-ucid", "oracle", 0.4),
    ("x-fs-", "freeswitch", 0.5),
    ("x-opensips-", "opensips", 0.5),
)

# Substrings of XML namespace URIs in the metadata (root or extensions).
NAMESPACES: tuple[tuple[str, str, float], ...] = (
    ("acmepacket.com", "oracle", 0.9),
    ("urn:ietf:params:xml:ns:calldata", "ribbon", 0.8),
    ("urn:ietf:params:xml:ns:avaya", "audiocodes", 0.8),
    ("urn:ietf:params:xml:ns:genesys", "audiocodes", 0.8),
    ("urn:ietf:params:xml:ns:siprec", "broadworks", 0.6),
    ("broadsoft", "broadworks", 0.6),
)

# SDP o= username prefixes and exact s= values.
SDP_ORIGINS: tuple[tuple[str, str, float], ...] = (
    ("ciscosystemssip-gw-useragent", "cisco", 0.9),
    ("sonus_uac", "ribbon", 0.9),
    ("broadworks", "broadworks", 0.9),
    ("audiocodesgw", "audiocodes", 0.8),
    ("sems", "sems", 0.8),
    ("freeswitch", "freeswitch", 0.8),
)
SDP_SESSION_NAMES: tuple[tuple[str, str, float], ...] = (
    ("sip call", "cisco", 0.3),
    ("sip media capabilities", "ribbon", 0.3),
    ("sems", "sems", 0.6),
    ("freeswitch", "freeswitch", 0.6),
    ("asterisk pbx", "asterisk", 0.5),
    ("metaswitch", "metaswitch", 0.5),
)

# multipart boundaries seen verbatim in vendors' INVITEs.
BOUNDARIES: tuple[tuple[str, str, float], ...] = (
    ("OSS-unique-boundary-42", "opensips", 0.8),
    ("UniqueBroadWorksBoundary", "broadworks", 0.8),
    ("sonus-content-delim", "ribbon", 0.8),
    ("uniqueBoundary", "cisco", 0.4),
    ("unique-boundary-1", "oracle", 0.3),
)

Signal = tuple[str, float, str]  # (vendor, weight, evidence)


# Compiled once: a needle matches only at the start of a word.
_USER_AGENT_PATTERNS = tuple(
    (re.compile(rf"(?<![a-z]){re.escape(needle)}"), needle, vendor, weight)
    for needle, vendor, weight in USER_AGENTS
)
_ANY_PREFIX = tuple(prefix for prefix, _, _ in HEADER_PREFIXES)
_CONTACT_SRC = re.compile(r";\s*src(?![\w.=-])")
_HEX_UCID_SESSION = re.compile(r"00FA08[0-9A-F]{16}")
_CACHED_CHARS = 256


def _user_agent(inputs: CallInputs) -> list[Signal]:
    found: list[Signal] = []
    for header in ("User-Agent", "Server"):
        value = inputs.header(header)
        if not value:
            continue
        lowered = value.lower()
        for pattern, needle, vendor, weight in _USER_AGENT_PATTERNS:
            if needle in lowered and pattern.search(lowered):
                found.append((vendor, weight, f"{header} {value[:60]!r} contains {needle!r}"))
    return found


def _header_names(inputs: CallInputs) -> list[Signal]:
    found: list[Signal] = []
    # Most requests have no vendor header at all: one C-level test per name first.
    names = [
        lower for name in inputs.header_names() if (lower := name.lower()).startswith(_ANY_PREFIX)
    ]
    if not names:
        return found
    for prefix, vendor, weight in HEADER_PREFIXES:
        hits = [n for n in names if n.startswith(prefix)]
        if hits:
            found.append((vendor, weight, f"header {min(hits)}"))
    return found


def _namespaces(inputs: CallInputs) -> list[Signal]:
    md = inputs.metadata
    if md is None:
        return []
    seen = {md.namespace.lower()} if md.namespace else set()
    raw = {node.namespace for _, _, node in inputs.all_nodes()}
    seen.update(ns.lower() for ns in raw if ns)
    found: list[Signal] = []
    for needle, vendor, weight in NAMESPACES:
        hits = [ns for ns in seen if needle in ns]
        if hits:
            found.append((vendor, weight, f"metadata namespace {min(hits)}"))
    return found


def _sdp(inputs: CallInputs) -> list[Signal]:
    sdp = inputs.sdp
    if sdp is None:
        return []
    found: list[Signal] = []
    username = sdp.origin.username.lower()
    for prefix, vendor, weight in SDP_ORIGINS:
        if username.startswith(prefix):
            found.append((vendor, weight, f"SDP o= username {sdp.origin.username!r}"))
    name = sdp.session_name.strip().lower()
    for exact, vendor, weight in SDP_SESSION_NAMES:
        if name == exact:
            found.append((vendor, weight, f"SDP s={sdp.session_name!r}"))
    labels = inputs.labels
    if "a_leg" in labels or "b_leg" in labels:
        found.append(("sems", 0.7, "SDP labels a_leg/b_leg"))
    return found


def _mixed_media(inputs: CallInputs) -> list[Signal]:
    # INTEROP.md: Metaswitch and FreeSWITCH send one mixed m= for both parties;
    # Avaya SBCE also sends one m=, but the metadata gives it to one participant.
    sdp, md = inputs.sdp, inputs.metadata
    if sdp is None or md is None or len(sdp.media) != 1 or len(md.participants) < 2:
        return []
    senders = [a for a in md.participant_stream_assocs if a.send]
    if len(senders) == 1:
        return []
    evidence = "one m= line for two or more participants (mixed)"
    return [("metaswitch", 0.15, evidence), ("freeswitch", 0.15, evidence)]


def _contact_values(inputs: CallInputs) -> list[str]:
    """``Headers.get_list("Contact")``: a line without a comma needs no splitting."""
    values: list[str] = []
    for line in inputs.header_values("Contact"):
        if "," in line:
            values.extend(split_list(line))
        elif stripped := line.strip():
            values.append(stripped)
    return values


def _mime_and_boundary(value: str | None) -> tuple[str, str]:
    """(media type, boundary without quotes) of a Content-Type value."""
    if value is not None and len(value) <= _CACHED_CHARS:
        return _mime_and_boundary_cached(value)
    return _mime_and_boundary_cached.__wrapped__(value)


@lru_cache(maxsize=256)  # an SRC sends the same Content-Type on every INVITE
def _mime_and_boundary_cached(value: str | None) -> tuple[str, str]:
    mime, params = parse_content_type(value)
    return mime, (params.get("boundary") or "").strip('"')


def _structure(inputs: CallInputs) -> list[Signal]:
    found: list[Signal] = []
    for value in _contact_values(inputs):
        inside = value[value.find("<") + 1 : value.find(">")] if "<" in value else ""
        after = value[value.find(">") + 1 :] if ">" in value else value
        if "+sip.src" in inside.lower():
            found.append(("avaya", 0.5, "+sip.src inside the Contact URI brackets"))
        if _CONTACT_SRC.search(after.lower()):
            found.append(("broadworks", 0.4, "Contact parameter ;src"))
    call_ids = inputs.header_values("Call-ID")
    if call_ids and call_ids[0].startswith("B2B."):
        found.append(("opensips", 0.4, "Call-ID starts with 'B2B.' (b2b_entities)"))
    content_types = inputs.header_values("Content-Type")
    mime, boundary = _mime_and_boundary(content_types[0] if content_types else None)
    for exact, vendor, weight in BOUNDARIES:
        if boundary == exact:
            found.append((vendor, weight, f"multipart boundary {exact!r}"))
    types = [part.content_type for part in inputs.parts]
    if "application/gtd" in types:
        found.append(("cisco", 0.8, "application/gtd body part"))
    if mime.startswith("multipart/") and "application/sdp" in types:
        first_md = next((i for i, t in enumerate(types) if t in METADATA_TYPES), None)
        if first_md is not None and first_md < types.index("application/sdp"):
            found.append(("broadworks", 0.3, "metadata part before the SDP part"))
    return found


def _correlation(inputs: CallInputs) -> list[Signal]:
    found: list[Signal] = []
    for value in inputs.header_values("User-to-User"):
        try:
            if decode_ucid(value) is not None:
                found.append(("avaya", 0.25, "User-to-User carries an Avaya UCID"))
        except UuiError:
            continue
    md = inputs.metadata
    if md is not None and any(_HEX_UCID_SESSION.fullmatch(s.id) for s in md.sessions):
        found.append(("avaya", 0.5, "metadata session_id is a hex UCID"))
    return found


# Dispatch table: every detector runs on every request.
DETECTORS: tuple[Callable[[CallInputs], list[Signal]], ...] = (
    _user_agent,
    _header_names,
    _namespaces,
    _sdp,
    _mixed_media,
    _structure,
    _correlation,
)


def score(signals: Sequence[Signal]) -> dict[str, float]:
    """Noisy-or per vendor: ``1 - prod(1 - w)``."""
    misses: dict[str, float] = {}
    for vendor, weight, _ in signals:
        misses[vendor] = misses.get(vendor, 1.0) * (1.0 - min(max(weight, 0.0), 1.0))
    return {vendor: 1.0 - miss for vendor, miss in misses.items()}


def detect_vendor(
    *,
    headers: Headers,
    metadata: RecordingMetadata | None,
    sdp: SessionDescription | None,
    parts: Sequence[BodyPart],
) -> VendorGuess:
    """Guess the SRC vendor from headers, metadata namespaces, SDP and body parts."""
    inputs = CallInputs(headers=headers, metadata=metadata, sdp=sdp, parts=tuple(parts))
    return detect_from_inputs(inputs)


def detect_from_inputs(inputs: CallInputs) -> VendorGuess:
    """:func:`detect_vendor` on an already built :class:`CallInputs`."""
    signals: list[Signal] = []
    for detector in DETECTORS:
        signals.extend(detector(inputs))
    scores = score(signals)
    if not scores:
        return VendorGuess(name=UNKNOWN, confidence=0.0, evidence=(), candidates=())
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    best_name, best = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else 0.0
    confidence = best * best / (best + second) if second > 0 else best
    order = {name: i for i, (name, _) in enumerate(ranked)}
    evidence = tuple(
        f"{vendor}: {why} (+{weight:g})"
        for vendor, weight, why in sorted(signals, key=lambda s: (order[s[0]], -s[1]))
    )
    return VendorGuess(
        name=best_name,
        confidence=round(confidence, 3),
        evidence=evidence,
        candidates=tuple((name, round(value, 3)) for name, value in ranked),
    )
