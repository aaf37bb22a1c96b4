"""Recording metadata on a session: parse, apply updates, derive participants and facts.

RFC 7866 §9: metadata arrives in the INVITE, re-INVITEs and UPDATEs; RFC 7865 §6.1:
``complete`` replaces the snapshot, ``partial`` merges into it. Metadata that cannot
be parsed does not stop the recording unless configured (then 400): the problem is
stored with the session and logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from siprec_appliance.errors import MetadataError
from siprec_appliance.metadata.model import RecordingMetadata
from siprec_appliance.metadata.parser import parse_metadata
from siprec_appliance.metadata.streams import resolve_participants
from siprec_appliance.sdp.model import SessionDescription
from siprec_appliance.sip.message import Headers
from siprec_appliance.sip.multipart import BodyPart
from siprec_appliance.siprec.detect import metadata_parts
from siprec_appliance.siprec.model import ParticipantView
from siprec_appliance.siprec.session import RecordingSession
from siprec_appliance.vendors import build_call_facts

log = logging.getLogger("siprec.metadata")


@dataclass(slots=True)
class ParsedMetadata:
    """The metadata parts of one request: parsed documents and parse errors."""

    documents: list[tuple[RecordingMetadata, bytes]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def parse_parts(parts: list[BodyPart]) -> ParsedMetadata:
    parsed = ParsedMetadata()
    for part in metadata_parts(parts):
        try:
            parsed.documents.append(
                (parse_metadata(part.body, content_type=part.content_type), part.body)
            )
        except MetadataError as exc:
            parsed.errors.append(exc.reason)
    return parsed


def ingest(
    session: RecordingSession, parsed: ParsedMetadata, *, method: str, now: float
) -> list[str]:
    """Apply the documents in order; store errors as session warnings. Returns changes."""
    changes: list[str] = []
    for reason in parsed.errors:
        note = f"unusable metadata in {method}: {reason}"
        session.warnings.append(note)
        log.warning("session %s: %s", session.id, note)
    for document, raw in parsed.documents:
        for warning in document.warnings:
            log.info("session %s: metadata tolerated: %s", session.id, warning)
        changes.extend(session.metadata.apply(document, received_at=now, raw=raw, method=method))
    return changes


def refresh_facts(
    session: RecordingSession,
    *,
    headers: Headers,
    sdp: SessionDescription | None,
    parts: list[BodyPart],
    labels: list[str | None],
) -> None:
    """Recompute who sends which stream and the call facts the policy engine matches."""
    snapshot = session.metadata.snapshot
    resolved = resolve_participants(snapshot, labels) if snapshot is not None else ()
    peer = session.peer
    session.facts = build_call_facts(
        headers=headers,
        metadata=snapshot,
        sdp=sdp,
        parts=parts,
        transport=peer.transport.lower(),
        source_host=peer.host,
        source_port=peer.port,
        participants=resolved,
    )
    session.participants = _participant_views(session.facts.get("participants"))


def _participant_views(facts: object) -> tuple[ParticipantView, ...]:
    """The API view, from the facts (one source of truth: AORs normalised there)."""
    if not isinstance(facts, list):
        return ()
    views = []
    for item in facts:
        if isinstance(item, dict):
            views.append(
                ParticipantView(
                    id=str(item.get("id") or ""),
                    aor=_text(item.get("aor")),
                    name=_text(item.get("name")),
                    sends=tuple(i for i in item.get("sends") or () if isinstance(i, int)),
                    receives=tuple(i for i in item.get("receives") or () if isinstance(i, int)),
                )
            )
    return tuple(views)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
