"""Offer/answer (RFC 3264) for a recorder: every accepted stream is receive-only.

:func:`plan_streams` decides, per offered ``m=`` line, whether to accept it and which
payload types to keep; the SIP core then allocates ports for the accepted streams and
calls :func:`render_answer` (or :func:`render_offer` when a re-INVITE without SDP
makes us the offerer, RFC 3261 §14.2).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from siprec_appliance.errors import LocalProtocolError
from siprec_appliance.sdp.codecs import is_auxiliary, is_recordable, resolve_rtpmap
from siprec_appliance.sdp.crypto import CryptoAttribute, choose_crypto
from siprec_appliance.sdp.model import (
    Connection,
    MediaDescription,
    Origin,
    RtpMap,
    SessionDescription,
)

__all__ = [
    "PortPair",
    "StreamPlan",
    "new_origin",
    "plan_streams",
    "render_answer",
    "render_offer",
]

# RFC 3551 and RFC 4585: the plain RTP profiles we can receive.
_RTP_PROFILES = frozenset({"RTP/AVP", "RTP/AVPF"})
# RFC 3711 §12 and RFC 5124: SRTP, keyed by SDES (RFC 4568) when a=crypto says so.
_SRTP_PROFILES = frozenset({"RTP/SAVP", "RTP/SAVPF"})

# RFC 3264 §6.1: a recorder only receives, so it answers recvonly to a peer that
# sends, and inactive to a peer that does not.
_ANSWER_DIRECTION = {
    "sendonly": "recvonly",
    "sendrecv": "recvonly",
    "recvonly": "inactive",
    "inactive": "inactive",
}


@dataclass(frozen=True, slots=True)
class PortPair:
    """Local ports of one stream; ``rtcp`` is None when RTCP is muxed (RFC 5761)."""

    rtp: int
    rtcp: int | None


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """What the recorder does with one offered ``m=`` line, in offer order.

    ``codecs[i]`` is ``ENC/rate[/channels]`` for ``payload_types[i]``. ``rtcp_mux``
    means the answer multiplexes RTCP (offered and accepted): allocate no RTCP port.
    ``rtcp_attribute`` means the offer had ``a=rtcp`` (RFC 3605). A refused stream
    has no payload types and ``answer_direction`` "inactive". ``fmtps`` and
    ``ptime`` are echoed from the offer; ``dropped_codecs`` lists offered codecs that
    were left out because the recorder cannot decode them (worth a log line).
    ``crypto`` is the SRC's offered ``a=crypto`` line we accepted (RFC 4568): its key
    is the one the SRC sends with, so the one to decrypt with; None for plain RTP.
    """

    index: int
    media: str
    proto: str
    accepted: bool
    refuse_reason: str | None
    label: str | None
    offered_direction: str
    answer_direction: str
    payload_types: tuple[int, ...]
    codecs: tuple[str, ...]
    rtcp_mux: bool
    rtcp_attribute: bool
    offered_formats: tuple[str, ...]
    fmtps: tuple[tuple[int, str], ...] = ()
    ptime: str | None = None
    dropped_codecs: tuple[str, ...] = ()
    crypto: CryptoAttribute | None = None

    @property
    def srtp_suite(self) -> str | None:
        """The SRTP crypto suite of the stream, or None for plain RTP (no key)."""
        return None if self.crypto is None else self.crypto.suite


def new_origin(session_id: str, address: str) -> Origin:
    """Our ``o=`` line (RFC 8866 §5.2), version 1; bump it for each changed SDP."""
    return Origin("siprec", session_id, 1, "IN", _addrtype(address), address)


def plan_streams(offer: SessionDescription) -> list[StreamPlan]:
    """One :class:`StreamPlan` per offered ``m=`` line, in order (RFC 3264 §6)."""
    return [_plan_stream(offer, i, media) for i, media in enumerate(offer.media)]


def render_answer(
    offer: SessionDescription,
    plans: list[StreamPlan],
    ports: Mapping[int, PortPair],
    *,
    address: str,
    origin: Origin,
    crypto: Mapping[int, CryptoAttribute] | None = None,
) -> SessionDescription:
    """The answer to ``offer``: one ``m=`` per offered one, same order (RFC 3264 §6).

    ``ports`` maps each accepted plan's index to its local ports. ``a=rtpmap`` is sent
    for kept payload types the offer described with an rtpmap. ``crypto`` maps each
    accepted SRTP plan's index to our own ``a=crypto`` (see :func:`answer_crypto`).
    """
    if len(plans) != len(offer.media):
        raise LocalProtocolError(
            f"{len(plans)} stream plans for an offer with {len(offer.media)} m= lines"
        )
    media: list[MediaDescription] = []
    for position, (plan, offered) in enumerate(zip(plans, offer.media, strict=True)):
        _check_index(plan, position)
        if plan.accepted:
            explicit = frozenset(offered.rtpmaps)
            ours = _crypto_for(plan, crypto or {})
            media.append(_accepted_media(plan, _ports_for(plan, ports), explicit, ours))
        else:
            media.append(_refused_media(plan))
    return _session(media, address, origin)


def render_offer(
    plans: list[StreamPlan],
    ports: Mapping[int, PortPair],
    *,
    address: str,
    origin: Origin,
    crypto: Mapping[int, CryptoAttribute] | None = None,
) -> SessionDescription:
    """Our current view as an offer (RFC 3261 §14.2, RFC 3264 §8), from plans only.

    Same shape as the answer, but every kept payload type gets an ``a=rtpmap``
    regenerated from ``plan.codecs``; refused streams stay at port 0 (RFC 3264 §8.2).
    An SRTP stream offers our current ``a=crypto`` (same tag and suite, RFC 4568 §7.1.4).
    """
    media: list[MediaDescription] = []
    for position, plan in enumerate(plans):
        _check_index(plan, position)
        if plan.accepted:
            every = frozenset(plan.payload_types)
            ours = _crypto_for(plan, crypto or {})
            media.append(_accepted_media(plan, _ports_for(plan, ports), every, ours))
        else:
            media.append(_refused_media(plan))
    return _session(media, address, origin)


def _plan_stream(offer: SessionDescription, index: int, media: MediaDescription) -> StreamPlan:
    offered_direction = offer.effective_direction(media)
    kept, dropped = _select_codecs(media)
    reason = _refusal(media)
    crypto: CryptoAttribute | None = None
    if reason is None and media.proto.upper() in _SRTP_PROFILES:
        crypto, skipped = choose_crypto(media.attribute_values("crypto"))
        if crypto is None:
            # RFC 4568 §7.1.2: no acceptable crypto line, so the stream is refused.
            reason = "no usable a=crypto for SRTP" + (f" ({'; '.join(skipped)})" if skipped else "")
    if reason is None and not any(is_recordable(m) for m in kept):
        reason = f"no recordable codec in the offer: {_describe_offer(media)}"
    accepted = reason is None
    if not accepted:
        kept = []
    fmtps = media.fmtps
    kept_pts = [m.payload_type for m in kept]
    return StreamPlan(
        index=index,
        media=media.media,
        proto=media.proto,
        accepted=accepted,
        refuse_reason=reason,
        label=media.label,
        offered_direction=offered_direction,
        answer_direction=_ANSWER_DIRECTION[offered_direction] if accepted else "inactive",
        payload_types=tuple(kept_pts),
        codecs=tuple(m.codec for m in kept),
        rtcp_mux=accepted and media.rtcp_mux,
        rtcp_attribute=media.has_attribute("rtcp"),
        offered_formats=tuple(media.formats),
        fmtps=tuple((pt, fmtps[pt]) for pt in kept_pts if pt in fmtps),
        ptime=media.attribute("ptime") if accepted else None,
        dropped_codecs=tuple(dropped) if accepted else (),
        crypto=crypto if accepted else None,
    )


def _refusal(media: MediaDescription) -> str | None:
    """Why a stream cannot be recorded regardless of its codecs, or None."""
    if media.port == 0:
        return "stream disabled by the offer"  # RFC 3264 §8.2
    if media.media.lower() != "audio":
        return "only audio is recorded"
    proto = media.proto.upper()
    if proto in _RTP_PROFILES or proto in _SRTP_PROFILES:
        return None
    if "SAVP" in proto:  # UDP/TLS/RTP/SAVP(F) (RFC 5764)
        return "DTLS-SRTP is not supported"
    return f"transport {media.proto} is not supported"


def _select_codecs(media: MediaDescription) -> tuple[list[RtpMap], list[str]]:
    """Kept codecs in offer order (recordable ones, telephone-event, CN) and the rest.

    An rtpengine offerer refuses an answer that drops a payload type we could handle
    (INTEROP.md), so keep every one we can, not just the preferred one.
    """
    kept: list[RtpMap] = []
    dropped: list[str] = []
    seen: set[int] = set()
    for pt in media.payload_types:
        if pt in seen:
            continue
        seen.add(pt)
        rtpmap = resolve_rtpmap(media, pt)
        if rtpmap is None:
            dropped.append(f"{pt} (no rtpmap)")
        elif is_recordable(rtpmap) or is_auxiliary(rtpmap):
            kept.append(rtpmap)
        else:
            dropped.append(rtpmap.codec)
    return kept, dropped


def _describe_offer(media: MediaDescription) -> str:
    """The offered formats as codec names, in order, for a refusal reason."""
    names: list[str] = []
    for fmt in media.formats:
        rtpmap = resolve_rtpmap(media, int(fmt)) if fmt.isascii() and fmt.isdecimal() else None
        names.append(fmt if rtpmap is None else rtpmap.codec)
    return ", ".join(names) or "none"


def _check_index(plan: StreamPlan, position: int) -> None:
    if plan.index != position:
        raise LocalProtocolError(f"stream plan at position {position} has index {plan.index}")


def _ports_for(plan: StreamPlan, ports: Mapping[int, PortPair]) -> PortPair:
    pair = ports.get(plan.index)
    if pair is None:
        raise LocalProtocolError(f"no ports allocated for accepted stream {plan.index}")
    if not plan.rtcp_mux and pair.rtcp is None:
        raise LocalProtocolError(f"stream {plan.index} needs an RTCP port (no rtcp-mux)")
    return pair


def _crypto_for(plan: StreamPlan, crypto: Mapping[int, CryptoAttribute]) -> CryptoAttribute | None:
    if plan.crypto is None:
        return None
    ours = crypto.get(plan.index)
    if ours is None:
        raise LocalProtocolError(f"no a=crypto of ours for SRTP stream {plan.index}")
    if ours.tag != plan.crypto.tag or ours.suite != plan.crypto.suite:
        raise LocalProtocolError(f"our a=crypto for stream {plan.index} is not the accepted one")
    return ours


def _accepted_media(
    plan: StreamPlan,
    pair: PortPair,
    rtpmap_pts: frozenset[int],
    crypto: CryptoAttribute | None = None,
) -> MediaDescription:
    attributes: list[tuple[str, str | None]] = []
    if plan.label is not None:
        attributes.append(("label", plan.label))  # RFC 7866 §8: echo the label
    for pt, codec in zip(plan.payload_types, plan.codecs, strict=True):
        if pt in rtpmap_pts or pt >= 96:  # RFC 3551 §3: dynamic types need an rtpmap
            attributes.append(("rtpmap", f"{pt} {codec}"))
    for pt, params in plan.fmtps:
        attributes.append(("fmtp", f"{pt} {params}" if params else str(pt)))
    if plan.ptime is not None:
        attributes.append(("ptime", plan.ptime))
    if plan.rtcp_mux:
        attributes.append(("rtcp-mux", None))  # RFC 5761 §5.1.1
    elif pair.rtcp is not None and (plan.rtcp_attribute or pair.rtcp != pair.rtp + 1):
        # RFC 3605 §2.1: needed whenever RTCP is not on RTP port + 1.
        attributes.append(("rtcp", str(pair.rtcp)))
    if crypto is not None:
        attributes.append(("crypto", str(crypto)))  # RFC 4568 §5.1.2: the accepted tag
    attributes.append((plan.answer_direction, None))
    return MediaDescription(
        media=plan.media,
        port=pair.rtp,
        port_count=None,
        proto=plan.proto,
        formats=[str(pt) for pt in plan.payload_types],
        attributes=attributes,
    )


def _refused_media(plan: StreamPlan) -> MediaDescription:
    # RFC 3264 §6: port 0, formats kept as offered; label echoed for the metadata.
    attributes: list[tuple[str, str | None]] = []
    if plan.label is not None:
        attributes.append(("label", plan.label))
    return MediaDescription(
        media=plan.media,
        port=0,
        port_count=None,
        proto=plan.proto,
        formats=list(plan.offered_formats),
        attributes=attributes,
    )


def _addrtype(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


def _session(media: list[MediaDescription], address: str, origin: Origin) -> SessionDescription:
    return SessionDescription(
        version=0,
        origin=replace(origin),
        session_name="-",
        connection=Connection("IN", _addrtype(address), address),
        times=["0 0"],
        attributes=[],
        media=media,
        other_lines=[],
    )
