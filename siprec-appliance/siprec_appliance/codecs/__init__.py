"""Audio decoders for the recorded codecs, chosen by SDP encoding name.

:func:`decoder_for` maps an answered codec (``StreamPlan.codecs`` form:
``ENC/clock[/channels]``) and its ``a=fmtp`` parameters to a fresh stateful
:class:`~siprec_appliance.codecs.base.Decoder`, or None when it cannot be decoded.
The dispatch table :data:`DECODERS` is the one place that lists them.

Pure code: no sockets, files or clock. FFmpeg (PyAV) does the heavy codecs; one
decoder instance per payload type and stream, since codecs keep state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from siprec_appliance.codecs.amr import AMR_NB, AMR_WB, AmrDecoder, AmrVariant
from siprec_appliance.codecs.base import Decoded, Decoder, Samples, silence
from siprec_appliance.codecs.g711 import G711Decoder
from siprec_appliance.codecs.l16 import L16Decoder
from siprec_appliance.codecs.pyav import G722Decoder, G729Decoder, OpusDecoder

__all__ = [
    "DECODERS",
    "CodecSpec",
    "Decoded",
    "Decoder",
    "Samples",
    "decoder_for",
    "parse_codec",
    "parse_fmtp",
    "silence",
]


@dataclass(frozen=True, slots=True)
class CodecSpec:
    """An answered codec: lower-case encoding name, RTP clock, channels, fmtp."""

    name: str
    clock_rate: int
    channels: int
    fmtp: Mapping[str, str]


def parse_codec(codec: str, fmtp: str | None = None) -> CodecSpec | None:
    """``"opus/48000/2"`` and ``"sprop-stereo=1"`` -> :class:`CodecSpec` (None if bad)."""
    fields = codec.strip().split("/")
    if len(fields) not in (2, 3) or not fields[0]:
        return None
    try:
        clock_rate = int(fields[1])
        channels = int(fields[2]) if len(fields) == 3 else 1
    except ValueError:
        return None
    if clock_rate <= 0 or channels <= 0:
        return None
    return CodecSpec(fields[0].lower(), clock_rate, channels, parse_fmtp(fmtp))


def parse_fmtp(fmtp: str | None) -> dict[str, str]:
    """``a=fmtp`` parameters (RFC 8866 §6.15, ``key=value`` separated by ``;``).

    Keys are lower case; a bare flag maps to ``""``. The payload type prefix, if
    the caller left it on, is dropped.
    """
    params: dict[str, str] = {}
    if not fmtp:
        return params
    text = fmtp.strip()
    head, _, rest = text.partition(" ")
    if head.isdigit():
        text = rest
    for item in text.split(";"):
        key, _, value = item.strip().partition("=")
        if key:
            params[key.strip().lower()] = value.strip()
    return params


def _flag(spec: CodecSpec, key: str) -> bool:
    return spec.fmtp.get(key, "0") == "1"


def _g711(spec: CodecSpec) -> Decoder | None:
    if spec.clock_rate != 8000 or spec.channels != 1:
        return None
    return G711Decoder(spec.name)


def _g722(spec: CodecSpec) -> Decoder | None:
    # RFC 3551 §4.5.2: the rtpmap says 8000 although the audio is 16 kHz.
    return G722Decoder() if spec.clock_rate == 8000 and spec.channels == 1 else None


def _g729(spec: CodecSpec) -> Decoder | None:
    # annexb=no or yes (RFC 4856 §2.1.9): SID frames are handled either way.
    return G729Decoder() if spec.clock_rate == 8000 and spec.channels == 1 else None


def _opus(spec: CodecSpec) -> Decoder | None:
    # RFC 7587 §7: always opus/48000/2; stereo is a receiver preference and
    # sprop-stereo what the sender is likely to send. Either keeps two channels.
    if spec.clock_rate != 48000:
        return None
    stereo = _flag(spec, "stereo") or _flag(spec, "sprop-stereo")
    return OpusDecoder(2 if stereo else 1)


def _amr(variant: AmrVariant) -> Callable[[CodecSpec], Decoder | None]:
    def make(spec: CodecSpec) -> Decoder | None:
        # RFC 4867 §8.1: interleaving, crc and robust-sorting imply octet-align;
        # none of them is supported here, nor more than one channel.
        unsupported = ("crc", "robust-sorting", "interleaving")
        if spec.clock_rate != variant.sample_rate or spec.channels != 1:
            return None
        if any(key in spec.fmtp and spec.fmtp[key] != "0" for key in unsupported):
            return None
        return AmrDecoder(variant, octet_aligned=_flag(spec, "octet-align"))

    return make


def _l16(spec: CodecSpec) -> Decoder | None:
    return L16Decoder(spec.clock_rate, spec.channels) if spec.channels <= 2 else None


# Encoding name (lower case, RFC 4855 §3) -> factory; the names match
# sdp.codecs.RECORDABLE_ENCODINGS.
DECODERS: Mapping[str, Callable[[CodecSpec], Decoder | None]] = MappingProxyType(
    {
        "pcmu": _g711,
        "pcma": _g711,
        "g722": _g722,
        "g729": _g729,
        "opus": _opus,
        "amr": _amr(AMR_NB),
        "amr-wb": _amr(AMR_WB),
        "l16": _l16,
    }
)


def decoder_for(codec: str, fmtp: str | None = None) -> Decoder | None:
    """A new decoder for ``codec`` (``ENC/clock[/channels]``) and its fmtp, or None."""
    spec = parse_codec(codec, fmtp)
    if spec is None:
        return None
    factory = DECODERS.get(spec.name)
    return None if factory is None else factory(spec)
