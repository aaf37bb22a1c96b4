"""AMR and AMR-WB over RTP (RFC 4867): depacketiser and decoder.

FFmpeg's ``amrnb``/``amrwb`` decoders take one frame in the storage format of
RFC 4867 §5.3 per packet: a header octet ``0 FT(4) Q 0 0`` and the speech bits,
padded to an octet. An RTP payload is instead a payload header with the codec
mode request (CMR), a table of contents (ToC) with one entry per frame, then the
frames, either bit-packed (bandwidth-efficient mode, §4.3) or each padded to an
octet (octet-aligned mode, ``octet-align=1``, §4.4). :func:`depacketize` takes a
payload apart into :class:`AmrFrame` items; :class:`AmrDecoder` feeds the speech
frames to FFmpeg and turns SID (comfort noise, which FFmpeg does not implement),
NO_DATA and SPEECH_LOST frames into silence of one frame each.

Not supported (the registry refuses them): interleaving, CRCs, robust sorting
(octet-aligned options, §4.4.1, §4.4.2.1) and more than one channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from siprec_appliance.codecs.base import Decoded, DecoderBase, Samples, join_decoded
from siprec_appliance.codecs.pyav import decode_packet, fit_length, open_decoder

__all__ = ["AMR_NB", "AMR_WB", "AmrDecoder", "AmrError", "AmrFrame", "AmrVariant", "depacketize"]


class AmrError(ValueError):
    """A payload that does not follow RFC 4867 (counted, decoded as silence)."""


@dataclass(frozen=True, slots=True)
class AmrVariant:
    """AMR-NB or AMR-WB: rates and the bits of each frame type (FT)."""

    name: str
    sample_rate: int
    ffmpeg_decoder: str
    frame_bits: tuple[int | None, ...]  # by FT; None: reserved, discard the packet
    last_speech_type: int  # FTs 0..last are speech modes; above are SID, NO_DATA, ...

    @property
    def frame_samples(self) -> int:
        return self.sample_rate // 50  # 20 ms per frame (RFC 4867 §4.1)

    def bits(self, frame_type: int) -> int:
        bits = self.frame_bits[frame_type]
        if bits is None:
            # RFC 4867 §4.3.2: a reserved FT means the whole packet SHOULD be discarded.
            raise AmrError(f"{self.name}: reserved frame type {frame_type}")
        return bits


# 3GPP TS 26.101 Table 1a / RFC 4867 §3.6: 4.75 ... 12.2 kbit/s, 8 = SID, 9-14
# reserved here (EFR SIDs and future use), 15 = NO_DATA.
AMR_NB = AmrVariant(
    "AMR",
    8000,
    "amrnb",
    (95, 103, 118, 134, 148, 159, 204, 244, 39, None, None, None, None, None, None, 0),
    7,
)
# 3GPP TS 26.201 Table 1a: 6.60 ... 23.85 kbit/s, 9 = SID, 10-13 reserved,
# 14 = SPEECH_LOST, 15 = NO_DATA.
AMR_WB = AmrVariant(
    "AMR-WB",
    16000,
    "amrwb",
    (132, 177, 253, 285, 317, 365, 397, 461, 477, 40, None, None, None, None, 0, 0),
    8,
)


@dataclass(frozen=True, slots=True)
class AmrFrame:
    """One ToC entry and its speech bits, left-aligned and padded to an octet."""

    frame_type: int
    quality: bool  # Q: False means damaged at the origin (RFC 4867 §4.3.2)
    data: bytes

    def storage(self) -> bytes:
        """The frame in the storage format (RFC 4867 §5.3): header octet + data."""
        return bytes([(self.frame_type << 3) | (0x04 if self.quality else 0)]) + self.data


def depacketize(
    payload: bytes, variant: AmrVariant, *, octet_aligned: bool
) -> tuple[int, list[AmrFrame]]:
    """``(CMR, frames)`` of one RTP payload; :class:`AmrError` if it is malformed."""
    if octet_aligned:
        return _octet_aligned(payload, variant)
    return _bandwidth_efficient(payload, variant)


def _octet_aligned(payload: bytes, variant: AmrVariant) -> tuple[int, list[AmrFrame]]:
    # §4.4.1: CMR(4) R(4); §4.4.2: ToC octets F FT(4) Q P P; §4.4.3: each frame
    # padded to an octet, in ToC order.
    if len(payload) < 2:
        raise AmrError(f"{variant.name}: payload of {len(payload)} bytes is too short")
    cmr = payload[0] >> 4
    position = 1
    toc: list[tuple[int, bool]] = []
    while True:
        if position >= len(payload):
            raise AmrError(f"{variant.name}: table of contents runs past the payload")
        entry = payload[position]
        position += 1
        toc.append(((entry >> 3) & 0x0F, bool(entry & 0x04)))
        if not entry & 0x80:
            break
    frames = []
    for frame_type, quality in toc:
        size = (variant.bits(frame_type) + 7) // 8
        if position + size > len(payload):
            raise AmrError(f"{variant.name}: frame of type {frame_type} runs past the payload")
        frames.append(AmrFrame(frame_type, quality, payload[position : position + size]))
        position += size
    return cmr, frames


def _bandwidth_efficient(payload: bytes, variant: AmrVariant) -> tuple[int, list[AmrFrame]]:
    # §4.3.1: CMR(4); §4.3.2: 6-bit ToC entries F FT(4) Q; §4.3.3: the frames'
    # bits back to back, then padding to an octet.
    total = 8 * len(payload)
    value = int.from_bytes(payload, "big")

    def take(position: int, count: int) -> int:
        return (value >> (total - position - count)) & ((1 << count) - 1)

    if total < 10:
        raise AmrError(f"{variant.name}: payload of {len(payload)} bytes is too short")
    cmr = take(0, 4)
    position = 4
    toc: list[tuple[int, bool]] = []
    while True:
        if position + 6 > total:
            raise AmrError(f"{variant.name}: table of contents runs past the payload")
        entry = take(position, 6)
        position += 6
        toc.append(((entry >> 1) & 0x0F, bool(entry & 0x01)))
        if not entry & 0x20:
            break
    frames = []
    for frame_type, quality in toc:
        bits = variant.bits(frame_type)
        if position + bits > total:
            raise AmrError(f"{variant.name}: frame of type {frame_type} runs past the payload")
        size = (bits + 7) // 8
        data = take(position, bits) << (8 * size - bits)
        frames.append(AmrFrame(frame_type, quality, data.to_bytes(size, "big")))
        position += bits
    return cmr, frames


class AmrDecoder(DecoderBase):
    """AMR (8 kHz) or AMR-WB (16 kHz), octet-aligned or bandwidth-efficient, mono.

    The RTP clock equals the sample rate (RFC 4867 §4.1). Each codec frame is one
    FFmpeg packet. A malformed payload is silence of as many frames as its ToC
    names (one if the ToC is unreadable) and counts as corrupt, as does a payload
    with a speech frame FFmpeg rejects (that frame is silence).
    """

    def __init__(self, variant: AmrVariant, *, octet_aligned: bool) -> None:
        super().__init__(variant.sample_rate, variant.sample_rate, 1, variant.frame_samples)
        self.name = variant.name.lower()
        self.variant = variant
        self.octet_aligned = octet_aligned
        self._context = open_decoder(variant.ffmpeg_decoder, variant.sample_rate, 1)

    def decode(self, payloads: Sequence[bytes]) -> Decoded:
        parts: list[Samples] = []
        corrupt = 0
        for payload in payloads:
            try:
                _, frames = depacketize(payload, self.variant, octet_aligned=self.octet_aligned)
            except AmrError:
                corrupt += 1
                parts.append(self.silence_for(self.duration(payload)))
                continue
            samples, bad = self._frames(frames)
            corrupt += bad
            parts.append(samples)
        return join_decoded(parts, 1, corrupt)

    def _frames(self, frames: list[AmrFrame]) -> tuple[Samples, int]:
        out: list[Samples] = []
        bad = 0
        for frame in frames:
            samples = None
            if frame.frame_type <= self.variant.last_speech_type:
                samples = decode_packet(self._context, frame.storage())
                bad = bad or samples is None
            # SID, NO_DATA, SPEECH_LOST and rejected frames: 20 ms of silence.
            length = self.frame_samples
            out.append(self.silence_for(length) if samples is None else fit_length(samples, length))
        if not out:
            return self.silence_for(0), int(bad)
        return (out[0] if len(out) == 1 else np.concatenate(out)), int(bad)

    def duration(self, payload: bytes) -> int:
        try:
            _, frames = depacketize(payload, self.variant, octet_aligned=self.octet_aligned)
        except AmrError:
            return self.frame_samples
        return len(frames) * self.frame_samples
