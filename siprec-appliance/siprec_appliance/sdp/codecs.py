"""RTP payload types: the RFC 3551 static table and what this recorder can record."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from siprec_appliance.sdp.model import MediaDescription, RtpMap

__all__ = [
    "AUXILIARY_ENCODINGS",
    "RECORDABLE_ENCODINGS",
    "STATIC_PAYLOAD_TYPES",
    "is_auxiliary",
    "is_recordable",
    "resolve_rtpmap",
]


def _static(pt: int, encoding: str, rate: int, channels: int | None = None) -> RtpMap:
    return RtpMap(pt, encoding, rate, channels)


# RFC 3551 §6, Tables 4 and 5: statically assigned payload types. Mono audio has
# channels None, as an rtpmap would omit the channel count (RFC 8866 §6.6).
STATIC_PAYLOAD_TYPES: Mapping[int, RtpMap] = MappingProxyType(
    {
        m.payload_type: m
        for m in (
            _static(0, "PCMU", 8000),
            _static(3, "GSM", 8000),
            _static(4, "G723", 8000),
            _static(5, "DVI4", 8000),
            _static(6, "DVI4", 16000),
            _static(7, "LPC", 8000),
            _static(8, "PCMA", 8000),
            # RFC 3551 §4.5.2: G722 samples at 16 kHz but its RTP clock is 8000.
            _static(9, "G722", 8000),
            _static(10, "L16", 44100, 2),
            _static(11, "L16", 44100),
            _static(12, "QCELP", 8000),
            _static(13, "CN", 8000),
            _static(14, "MPA", 90000),
            _static(15, "G728", 8000),
            _static(16, "DVI4", 11025),
            _static(17, "DVI4", 22050),
            _static(18, "G729", 8000),
            _static(25, "CelB", 90000),
            _static(26, "JPEG", 90000),
            _static(28, "nv", 90000),
            _static(31, "H261", 90000),
            _static(32, "MPV", 90000),
            _static(33, "MP2T", 90000),
            _static(34, "H263", 90000),
        )
    }
)

# Audio encodings the media pipeline can decode, lower case (names are
# case-insensitive, RFC 4855 §3).
RECORDABLE_ENCODINGS = frozenset({"pcmu", "pcma", "g722", "g729", "opus", "amr", "amr-wb", "l16"})

# Kept in the answer whenever offered, but not enough on their own to record a
# stream: DTMF events (RFC 4733 §7.1.1) and comfort noise (RFC 3389 §5).
AUXILIARY_ENCODINGS = frozenset({"telephone-event", "cn"})


def resolve_rtpmap(media: MediaDescription, pt: int) -> RtpMap | None:
    """The codec of payload type ``pt``: explicit ``a=rtpmap`` wins, else RFC 3551."""
    explicit = media.rtpmaps.get(pt)
    if explicit is not None:
        return explicit
    return STATIC_PAYLOAD_TYPES.get(pt)


def is_recordable(rtpmap: RtpMap) -> bool:
    """Whether the recorder can decode this audio codec (telephone-event/CN: False)."""
    return rtpmap.encoding.lower() in RECORDABLE_ENCODINGS


def is_auxiliary(rtpmap: RtpMap) -> bool:
    """Whether this is telephone-event or CN, kept in answers whenever offered."""
    return rtpmap.encoding.lower() in AUXILIARY_ENCODINGS
