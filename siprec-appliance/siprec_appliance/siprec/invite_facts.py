"""The call facts an INVITE would give, without a session (a rules dry run).

:func:`invite_facts` takes a whole INVITE as text (as an SBC sends it, or pasted by
an operator) and builds the facts the SRS core would give the policy engine for it:
the same steps as :meth:`SrsCore._create_session` and
:func:`~siprec_appliance.siprec.metadata_flow.refresh_facts` (split the body, take the
SDP offer and its stream labels, apply each metadata part to a fresh
:class:`~siprec_appliance.metadata.state.MetadataState`, resolve who sends which
stream, then :func:`~siprec_appliance.vendors.build_call_facts`). Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from siprec_appliance.errors import SipProtocolError
from siprec_appliance.metadata.state import MetadataState
from siprec_appliance.metadata.streams import resolve_participants
from siprec_appliance.sdp.answer import plan_streams
from siprec_appliance.sip.message import Request, parse_message
from siprec_appliance.sip.multipart import split_body
from siprec_appliance.siprec import media, metadata_flow
from siprec_appliance.vendors import build_call_facts

__all__ = ["InviteError", "InviteFacts", "invite_facts"]

# A pasted message's Content-Length is rarely right (editors change line ends): the
# text is the whole message, so the header is dropped before parsing.
_CONTENT_LENGTH = re.compile(
    rb"^(?:content-length|l)[ \t]*:[^\n]*\n?", re.IGNORECASE | re.MULTILINE
)
_HEAD_END = re.compile(rb"\r?\n\r?\n")


class InviteError(SipProtocolError, ValueError):
    """The text is not a SIP INVITE the SRS could take facts from."""


@dataclass(frozen=True, slots=True)
class InviteFacts:
    """The facts of an INVITE and what was tolerated or ignored on the way."""

    facts: dict[str, object]
    notes: tuple[str, ...] = ()


def invite_facts(
    text: str | bytes,
    *,
    source_host: str = "127.0.0.1",
    source_port: int = 5060,
    transport: str = "udp",
) -> InviteFacts:
    """The call facts the SRS would build for this INVITE from ``source_host:port``.

    Raises :class:`InviteError` when the text is not a parsable SIP INVITE or its
    body (multipart, SDP) is malformed. Metadata that cannot be parsed does not stop
    the SRS from recording, so it is only a note here, as it is a warning there.
    """
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    request, notes = _parse_invite(data)
    try:
        parts = split_body(request.headers, request.body)
        offer = media.sdp_offer(parts)
    except SipProtocolError as exc:
        raise InviteError(exc.reason, exc.status) from exc
    if offer is None:
        notes.append("no SDP offer: the SRS would refuse this INVITE (488)")
    parsed = metadata_flow.parse_parts(parts)
    notes.extend(f"unusable metadata: {reason}" for reason in parsed.errors)
    state = MetadataState()
    for document, raw in parsed.documents:
        state.apply(document, received_at=0.0, raw=raw, method=request.method)
    snapshot = state.snapshot
    labels = [plan.label for plan in plan_streams(offer)] if offer is not None else []
    facts = build_call_facts(
        headers=request.headers,
        metadata=snapshot,
        sdp=offer,
        parts=parts,
        transport=transport.lower(),
        source_host=source_host,
        source_port=source_port,
        participants=resolve_participants(snapshot, labels) if snapshot is not None else (),
    )
    return InviteFacts(facts, tuple(notes))


def _parse_invite(data: bytes) -> tuple[Request, list[str]]:
    data = data.lstrip(b"\r\n")
    end = _HEAD_END.search(data)
    head, rest = (data[: end.start()], data[end.start() :]) if end else (data, b"")
    head = _CONTENT_LENGTH.sub(b"", head + b"\n").rstrip(b"\r\n")
    try:
        result = parse_message(head + rest, datagram=False)
    except SipProtocolError as exc:
        raise InviteError(exc.reason, exc.status) from exc
    message = result.message
    if not isinstance(message, Request) or message.method != "INVITE":
        raise InviteError("not a SIP INVITE request")
    notes = [w for w in result.warnings if w != "no Content-Length on a stream"]
    return message, notes
