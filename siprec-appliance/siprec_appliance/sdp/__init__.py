"""SDP (RFC 8866) model and recorder offer/answer (RFC 3264); pure, no I/O."""

from __future__ import annotations

from siprec_appliance.sdp.answer import (
    PortPair,
    StreamPlan,
    new_origin,
    plan_streams,
    render_answer,
    render_offer,
)
from siprec_appliance.sdp.codecs import (
    AUXILIARY_ENCODINGS,
    RECORDABLE_ENCODINGS,
    STATIC_PAYLOAD_TYPES,
    is_auxiliary,
    is_recordable,
    resolve_rtpmap,
)
from siprec_appliance.sdp.model import (
    DIRECTIONS,
    Connection,
    MediaDescription,
    Origin,
    RtcpAttribute,
    RtpMap,
    SessionDescription,
)

__all__ = [
    "AUXILIARY_ENCODINGS",
    "DIRECTIONS",
    "RECORDABLE_ENCODINGS",
    "STATIC_PAYLOAD_TYPES",
    "Connection",
    "MediaDescription",
    "Origin",
    "PortPair",
    "RtcpAttribute",
    "RtpMap",
    "SessionDescription",
    "StreamPlan",
    "is_auxiliary",
    "is_recordable",
    "new_origin",
    "plan_streams",
    "render_answer",
    "render_offer",
    "resolve_rtpmap",
]
