"""L16: uncompressed 16-bit linear audio, network byte order (RFC 3551 §4.5.11).

Channels are interleaved sample by sample (RFC 3551 §4.1), as in a WAV file, so
decoding is a byte swap. A payload that is not a whole number of frames is
corrupt: it becomes silence of the frames it would have held.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from siprec_appliance.codecs.base import Decoded, DecoderBase, Samples, join_decoded

__all__ = ["L16Decoder"]


class L16Decoder(DecoderBase):
    """L16 at its rtpmap rate and channel count; the RTP clock is the sample rate."""

    name = "l16"

    def __init__(self, sample_rate: int, channels: int) -> None:
        super().__init__(sample_rate, sample_rate, channels, sample_rate // 50)
        self._frame_bytes = 2 * channels

    def decode(self, payloads: Sequence[bytes]) -> Decoded:
        joined = b"".join(payloads)
        if all(len(p) % self._frame_bytes == 0 for p in payloads):
            samples = np.frombuffer(joined, dtype=">i2").astype(np.int16)
            offsets = np.zeros(len(payloads) + 1, dtype=np.int64)
            np.cumsum([len(p) // self._frame_bytes for p in payloads], out=offsets[1:])
            return Decoded(samples, offsets, self.channels)
        parts: list[Samples] = []
        corrupt = 0
        for payload in payloads:
            if len(payload) % self._frame_bytes:
                corrupt += 1
                parts.append(self.silence_for(self.duration(payload)))
            else:
                parts.append(np.frombuffer(payload, dtype=">i2").astype(np.int16))
        return join_decoded(parts, self.channels, corrupt)

    def duration(self, payload: bytes) -> int:
        return len(payload) // self._frame_bytes
