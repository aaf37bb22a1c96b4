"""Decoders on FFmpeg through PyAV: G.722, G.729 (with Annex B) and Opus.

FFmpeg quirks handled here (see docs on PyAV in the project's interop notes):

* The G.729 (and G.711) decoders open only with ``sample_rate`` and ``layout`` set.
* G.722 decodes to 16 kHz although its RTP clock says 8000 (RFC 3551 §4.5.2).
* FFmpeg rejects G.729 Annex B SID frames (2 bytes), so they become silence here.
* Opus decodes to 48 kHz; ``libopus`` gives s16, the native ``opus`` float planar.

Payloads are joined into one FFmpeg packet where the codec allows it (G.722, the
10-byte G.729 frames): one call into FFmpeg per batch instead of one per packet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import av
import av.error
import numpy as np

from siprec_appliance.codecs.base import Decoded, DecoderBase, Samples, join_decoded

__all__ = [
    "G722Decoder",
    "G729Decoder",
    "OpusDecoder",
    "decode_packet",
    "fit_length",
    "frame_to_int16",
    "open_decoder",
    "opus_packet_samples",
]

_LAYOUTS = {1: "mono", 2: "stereo"}


def open_decoder(name: str, sample_rate: int, channels: int) -> av.AudioCodecContext:
    """An opened FFmpeg decoder; rate and layout are set first (G.729 needs them)."""
    context = cast(av.AudioCodecContext, av.AudioCodecContext.create(name, "r"))
    context.sample_rate = sample_rate
    context.layout = _LAYOUTS[channels]
    context.open()
    return context


def frame_to_int16(frame: av.AudioFrame) -> Samples:
    """Any FFmpeg audio frame as interleaved int16 (float is clipped to ±1)."""
    array = frame.to_ndarray()
    if frame.format.is_planar:
        array = array.T  # (channels, n) -> (n, channels)
    flat = array.reshape(-1)
    if flat.dtype.kind == "f":
        return np.clip(flat * 32768.0, -32768, 32767).astype(np.int16)
    return flat.astype(np.int16, copy=False)


def decode_packet(context: av.AudioCodecContext, data: bytes) -> Samples | None:
    """One FFmpeg packet to samples; None when FFmpeg rejects it."""
    try:
        frames = context.decode(av.Packet(data))
    except (av.error.FFmpegError, ValueError):
        return None
    if not frames:
        return np.zeros(0, dtype=np.int16)
    if len(frames) == 1:
        return frame_to_int16(frames[0])
    return np.concatenate([frame_to_int16(f) for f in frames])


def fit_length(samples: Samples, length: int) -> Samples:
    """``samples`` cut or zero-padded to ``length`` (FFmpeg's output count is trusted
    only as far as the framing says)."""
    if len(samples) == length:
        return samples
    if len(samples) > length:
        return samples[:length]
    return np.concatenate([samples, np.zeros(length - len(samples), dtype=np.int16)])


# ------------------------------------------------------------------------ G.722
class G722Decoder(DecoderBase):
    """G.722 (RFC 3551 §4.5.2): 16 kHz audio, 8000 Hz RTP clock, 2 samples per byte.

    Every byte string is valid G.722, so nothing is ever corrupt; a batch is one
    FFmpeg packet.
    """

    name = "g722"

    def __init__(self) -> None:
        super().__init__(16000, 8000, 1, 320)
        self._context = open_decoder("g722", 16000, 1)

    def decode(self, payloads: Sequence[bytes]) -> Decoded:
        offsets = np.zeros(len(payloads) + 1, dtype=np.int64)
        np.cumsum([2 * len(p) for p in payloads], out=offsets[1:])
        total = int(offsets[-1])
        if total == 0:
            return Decoded(np.zeros(0, dtype=np.int16), offsets)
        samples = decode_packet(self._context, b"".join(payloads))
        if samples is None:  # not expected from G.722; keep the timeline whole anyway
            return Decoded(self.silence_for(total), offsets, corrupt=len(payloads))
        return Decoded(fit_length(samples, total), offsets)

    def duration(self, payload: bytes) -> int:
        return 2 * len(payload)


# ------------------------------------------------------------------------ G.729
G729_FRAME_BYTES = 10  # 80 bits per 10 ms frame (ITU-T G.729 §3)
G729_SID_BYTES = 2  # Annex B SID frame (RFC 3551 §4.5.6)
G729_FRAME_SAMPLES = 80


class G729Decoder(DecoderBase):
    """G.729 / G.729A / Annex B (RFC 3551 §4.5.6).

    A payload is zero or more 10-byte frames, then at most one 2-byte SID frame.
    Speech frames of the whole batch go to FFmpeg as one packet; a SID frame
    becomes 10 ms of silence (the timeline fills the DTX pause up to the next
    packet); an empty payload carries no audio. Any other length is corrupt.
    """

    name = "g729"

    def __init__(self) -> None:
        super().__init__(8000, 8000, 1, G729_FRAME_SAMPLES)
        self._context = open_decoder("g729", 8000, 1)

    def decode(self, payloads: Sequence[bytes]) -> Decoded:
        speech: list[bytes] = []
        layout: list[tuple[int, bool, bool]] = []  # (speech frames, SID, corrupt)
        corrupt = 0
        for payload in payloads:
            count, rest = divmod(len(payload), G729_FRAME_BYTES)
            if rest not in (0, G729_SID_BYTES):
                corrupt += 1
                layout.append((0, False, True))
                continue
            speech.append(payload[: count * G729_FRAME_BYTES])
            layout.append((count, rest == G729_SID_BYTES, False))
        decoded = self._speech(b"".join(speech))
        parts: list[Samples] = []
        position = 0
        for (count, sid, bad), payload in zip(layout, payloads, strict=True):
            if bad:
                parts.append(self.silence_for(self.duration(payload)))
                continue
            end = position + count * G729_FRAME_SAMPLES
            part = decoded[position:end]
            position = end
            if sid:
                part = np.concatenate([part, self.silence_for(G729_FRAME_SAMPLES)])
            parts.append(part)
        return join_decoded(parts, 1, corrupt)

    def _speech(self, joined: bytes) -> Samples:
        """Decode joined 10-byte frames; per frame if FFmpeg rejects the batch."""
        expected = len(joined) // G729_FRAME_BYTES * G729_FRAME_SAMPLES
        if not joined:
            return np.zeros(0, dtype=np.int16)
        samples = decode_packet(self._context, joined)
        if samples is not None:
            return fit_length(samples, expected)
        frames = []
        for at in range(0, len(joined), G729_FRAME_BYTES):
            one = decode_packet(self._context, joined[at : at + G729_FRAME_BYTES])
            frames.append(
                fit_length(np.zeros(0, np.int16) if one is None else one, G729_FRAME_SAMPLES)
            )
        return np.concatenate(frames)

    def duration(self, payload: bytes) -> int:
        count, rest = divmod(len(payload), G729_FRAME_BYTES)
        return (count + (1 if rest else 0)) * G729_FRAME_SAMPLES


# ------------------------------------------------------------------------- Opus
# RFC 6716 §3.1: frame length by TOC config, in 48 kHz samples.
_OPUS_FRAME = (
    *(480, 960, 1920, 2880) * 3,  # configs 0-11: SILK 10/20/40/60 ms
    *(480, 960) * 2,  # 12-15: Hybrid 10/20 ms
    *(120, 240, 480, 960) * 4,  # 16-31: CELT 2.5/5/10/20 ms
)
_OPUS_MAX = 5760  # 120 ms, the longest Opus packet (RFC 6716 §3.2.5)


def opus_packet_samples(payload: bytes) -> int | None:
    """48 kHz samples in an Opus packet from its TOC (RFC 6716 §3.1); None if invalid."""
    if not payload:
        return None
    toc = payload[0]
    frame = _OPUS_FRAME[toc >> 3]
    code = toc & 0x03
    if code == 0:
        count = 1
    elif code in (1, 2):
        count = 2
    elif len(payload) < 2:
        return None
    else:
        count = payload[1] & 0x3F  # code 3: frame count byte (RFC 6716 §3.2.5)
    total = frame * count
    return total if 0 < total <= _OPUS_MAX else None


class OpusDecoder(DecoderBase):
    """Opus (RFC 7587): 48 kHz audio and RTP clock, one Opus packet per payload.

    The RTP clock is always 48000 and the rtpmap always says 2 channels (RFC 7587
    §7); whether to keep stereo comes from ``stereo``/``sprop-stereo`` in the fmtp.
    libopus mixes a stereo stream down to mono, or up, as asked. An empty payload
    carries no audio (DTX); a packet libopus rejects is silence of its TOC length.
    """

    name = "opus"

    def __init__(self, channels: int) -> None:
        super().__init__(48000, 48000, channels, 960)
        self._context = self._open(channels)

    @staticmethod
    def _open(channels: int) -> av.AudioCodecContext:
        try:
            return open_decoder("libopus", 48000, channels)
        except (av.error.FFmpegError, ValueError):  # FFmpeg without libopus
            return open_decoder("opus", 48000, channels)

    def decode(self, payloads: Sequence[bytes]) -> Decoded:
        parts: list[Samples] = []
        corrupt = 0
        for payload in payloads:
            if not payload:
                parts.append(self.silence_for(0))
                continue
            expected = opus_packet_samples(payload)
            samples = None if expected is None else decode_packet(self._context, payload)
            if samples is None:
                corrupt += 1
                parts.append(self.silence_for(self.duration(payload)))
            else:
                parts.append(samples)
        return join_decoded(parts, self.channels, corrupt)

    def duration(self, payload: bytes) -> int:
        if not payload:
            return 0
        samples = opus_packet_samples(payload)
        return self.frame_samples if samples is None else samples
