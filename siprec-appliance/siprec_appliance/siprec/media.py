"""Offer/answer for recording sessions (RFC 3264, RFC 7866 §7.1.2), on session state.

Ports are kept across re-INVITE and UPDATE unless the offer disables a stream or
adds one; a new stream gets a fresh port; ``a=inactive`` pauses a stream and
``sendonly``/``sendrecv`` resumes it.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from siprec_appliance.errors import SdpError, SipProtocolError
from siprec_appliance.sdp.answer import (
    PortPair,
    StreamPlan,
    plan_streams,
    render_answer,
    render_offer,
)
from siprec_appliance.sdp.crypto import (
    CryptoAttribute,
    answer_crypto,
    unusable_reason,
)
from siprec_appliance.sdp.model import MediaDescription, SessionDescription
from siprec_appliance.sip.message import Request
from siprec_appliance.sip.multipart import BodyPart, split_body
from siprec_appliance.siprec.session import RecordingSession, StreamState

if TYPE_CHECKING:
    from siprec_appliance.siprec.srs import SrsCore

log = logging.getLogger("siprec.sip")

PAUSED_DIRECTIONS = frozenset({"inactive", "recvonly"})  # the SRC sends nothing


def sdp_offer(parts: list[BodyPart]) -> SessionDescription | None:
    """The SDP part of a body, parsed; None when there is none."""
    sdp = [part for part in parts if part.content_type == "application/sdp"]
    if not sdp:
        return None
    if len(sdp) > 1:
        log.warning("body has %d SDP parts; using the first", len(sdp))
    try:
        return SessionDescription.parse(sdp[0].body)
    except SdpError as exc:
        raise SipProtocolError(f"Malformed SDP: {exc}", 400) from exc


def allocate_streams(
    core: SrsCore,
    session: RecordingSession,
    plans: list[StreamPlan],
    old: list[StreamState],
    now: float,
) -> list[StreamState] | None:
    """Streams for ``plans``, reusing ``old`` ports by position; None if ports ran out.

    Nothing is released here: the caller commits with :func:`release_unused`.
    """
    streams: list[StreamState] = []
    fresh: list[int] = []
    for plan in plans:
        previous = old[plan.index] if plan.index < len(old) else None
        port: int | None = None
        if plan.accepted:
            if previous is not None and previous.port is not None:
                port = previous.port
            else:
                port = core.ports.allocate(session.id, now, rtcp=not plan.rtcp_mux)
                if port is None:
                    for taken in fresh:
                        core.ports.release(taken, now)
                    return None
                fresh.append(port)
        paused = plan.offered_direction in PAUSED_DIRECTIONS
        packets = previous.packets if previous is not None and previous.port == port else 0
        local = _local_crypto(core, plan, previous, port)
        streams.append(StreamState(plan, port, paused, packets, local))
    return streams


def _local_crypto(
    core: SrsCore, plan: StreamPlan, previous: StreamState | None, port: int | None
) -> CryptoAttribute | None:
    """Our key for an SRTP stream: kept while the SRC keeps its crypto line and the
    stream its port, else fresh (RFC 4568 §7.1.4: a changed offer means new keys)."""
    if plan.crypto is None or port is None:
        return None
    if (
        previous is not None
        and previous.local_crypto is not None
        and previous.port == port
        and previous.plan.crypto == plan.crypto
    ):
        return previous.local_crypto
    return answer_crypto(plan.crypto, core.key_source)


def release_unused(
    core: SrsCore, old: list[StreamState], new: list[StreamState], now: float
) -> None:
    kept = {s.port for s in new if s.port is not None}
    for stream in old:
        if stream.port is not None and stream.port not in kept:
            core.ports.release(stream.port, now)


def _crypto(session: RecordingSession) -> dict[int, CryptoAttribute]:
    return {s.plan.index: s.local_crypto for s in session.streams if s.local_crypto is not None}


def _ports(session: RecordingSession) -> dict[int, PortPair]:
    return {
        s.plan.index: PortPair(s.port, s.rtcp_port) for s in session.streams if s.port is not None
    }


def _versioned(session: RecordingSession, sdp: SessionDescription) -> bytes:
    """RFC 3264 §8: bump the o= version only when the description changed."""
    sdp.origin = session.origin
    body = sdp.to_bytes()
    content = body.split(b"\r\n", 2)[2] if body.count(b"\r\n") >= 2 else body
    if session.last_answer and content != session.last_answer:
        session.origin.session_version += 1
        body = sdp.to_bytes()
    session.last_answer = content
    return body


def answer_body(session: RecordingSession, offer: SessionDescription) -> bytes:
    plans = [s.plan for s in session.streams]
    sdp = render_answer(
        offer,
        plans,
        _ports(session),
        address=session.media_address,
        origin=session.origin,
        crypto=_crypto(session),
    )
    return _versioned(session, sdp)


def offer_body(session: RecordingSession) -> bytes:
    plans = [s.plan for s in session.streams]
    sdp = render_offer(
        plans,
        _ports(session),
        address=session.media_address,
        origin=session.origin,
        crypto=_crypto(session),
    )
    return _versioned(session, sdp)


def apply_offer(
    core: SrsCore, session: RecordingSession, offer: SessionDescription, now: float
) -> bytes | str:
    """Apply a new offer; return the answer body, or a reason to answer 488."""
    plans = plan_streams(offer)
    old = session.streams
    if len(plans) < len(old):
        log.warning("session %s: offer has fewer m= lines than before", session.id)
    new = allocate_streams(core, session, plans, old, now)
    if new is None:
        return "No free RTP port for the new stream"
    release_unused(core, old, new, now)
    session.streams = new
    _report_changes(core, session, {s.plan.index: s.paused for s in old}, new)
    return answer_body(session, offer)


def apply_ack_answer(core: SrsCore, session: RecordingSession, ack: Request, now: float) -> None:
    """The SRC's answer to the offer we put in a 200 (RFC 3261 §14.2)."""
    try:
        answer = sdp_offer(split_body(ack.headers, ack.body))
    except SipProtocolError as exc:
        log.warning("session %s: unusable SDP answer in ACK: %s", session.id, exc.reason)
        return
    if answer is None:
        log.warning("session %s: ACK carried no SDP answer to our offer", session.id)
        return
    was_paused = {s.plan.index: s.paused for s in session.streams}
    for index, desc in enumerate(answer.media):
        if index >= len(session.streams):
            break
        stream = session.streams[index]
        if desc.port == 0 and stream.port is not None:
            core.ports.release(stream.port, now)
            stream.port = None
        stream.paused = answer.effective_direction(desc) in PAUSED_DIRECTIONS
        _take_answer_crypto(session, stream, desc)
    _report_changes(core, session, was_paused, session.streams)


def _take_answer_crypto(
    session: RecordingSession, stream: StreamState, desc: MediaDescription
) -> None:
    """The SRC's key in its answer to our offer (RFC 4568 §7.1.3): the line with our tag.

    Without a usable one the stream keeps the SRC's previous key.
    """
    ours = stream.local_crypto
    if ours is None or stream.plan.crypto is None:
        return
    for value in desc.attribute_values("crypto"):
        try:
            theirs = CryptoAttribute.parse(value)
        except SdpError:
            continue
        if theirs.tag != ours.tag or theirs.suite != ours.suite:
            continue
        reason = unusable_reason(theirs)
        if reason is None:
            stream.plan = replace(stream.plan, crypto=theirs)
            return
        log.warning("session %s stream %d: %s", session.id, stream.plan.index, reason)
        return
    log.warning(
        "session %s stream %d: the ACK's answer has no a=crypto with our tag %d",
        session.id,
        stream.plan.index,
        ours.tag,
    )


def _report_changes(
    core: SrsCore,
    session: RecordingSession,
    was_paused: dict[int, bool],
    new: list[StreamState],
) -> None:
    paused = [s.plan.index for s in new if s.paused and not was_paused.get(s.plan.index, False)]
    resumed = [s.plan.index for s in new if not s.paused and was_paused.get(s.plan.index, False)]
    core.streams_changed(session, paused, resumed)
