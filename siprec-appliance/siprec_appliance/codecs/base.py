"""The one small interface every audio decoder shares, and helpers to build results.

A :class:`Decoder` turns a batch of RTP payloads of one payload type into 16-bit
linear samples, interleaved when ``channels`` is 2. The result keeps where each
payload's audio starts (``offsets``, in frames: one frame is one sample per
channel), so the caller can write each packet at its own timeline offset.

Decoders never raise for what the network sent: a payload that cannot be decoded
becomes silence of its nominal length and is counted in :attr:`Decoded.corrupt`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "Decoded",
    "Decoder",
    "DecoderBase",
    "Offsets",
    "Samples",
    "join_decoded",
    "silence",
]

Samples = npt.NDArray[np.int16]
Offsets = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Decoded:
    """Samples of a batch of payloads: payload ``i`` is :meth:`payload` ``(i)``.

    ``offsets`` has ``len(payloads) + 1`` entries, in frames; ``corrupt`` counts the
    payloads that became silence, wholly or (an AMR frame FFmpeg rejected) in part.
    """

    samples: Samples
    offsets: Offsets
    channels: int = 1
    corrupt: int = 0

    @property
    def frames(self) -> int:
        return int(self.offsets[-1])

    def payload(self, index: int) -> Samples:
        """The interleaved samples of payload ``index``."""
        start, end = self.offsets[index], self.offsets[index + 1]
        return self.samples[start * self.channels : end * self.channels]


class Decoder(Protocol):
    """One payload type's decoder, stateful across batches (as a codec must be).

    ``sample_rate`` is the rate of the decoded audio, ``clock_rate`` the RTP clock
    (they differ for G.722, RFC 3551 §4.5.2). ``frame_samples`` is the length of one
    codec frame (or of a nominal 20 ms packet) in frames at ``sample_rate``.
    """

    name: str
    sample_rate: int
    clock_rate: int
    channels: int
    frame_samples: int

    def decode(self, payloads: Sequence[bytes]) -> Decoded:
        """Decode a batch of payloads, in sequence order, continuing the codec state."""
        ...

    def duration(self, payload: bytes) -> int:
        """Frames (at ``sample_rate``) this payload carries, from its framing alone."""
        ...

    def silence_for(self, frames: int) -> Samples:
        """``frames`` frames of digital silence, interleaved."""
        ...


def silence(frames: int, channels: int = 1) -> Samples:
    """Zeros for ``frames`` frames of ``channels`` channels."""
    return np.zeros(max(0, frames) * channels, dtype=np.int16)


def join_decoded(parts: Sequence[Samples], channels: int = 1, corrupt: int = 0) -> Decoded:
    """One :class:`Decoded` from per-payload interleaved samples."""
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    if parts:
        np.cumsum([len(p) // channels for p in parts], out=offsets[1:])
        samples = np.concatenate(parts).astype(np.int16, copy=False)
    else:
        samples = np.zeros(0, dtype=np.int16)
    return Decoded(samples, offsets, channels, corrupt)


class DecoderBase:
    """Shared attributes and :meth:`silence_for` for the concrete decoders."""

    name = ""

    def __init__(
        self, sample_rate: int, clock_rate: int, channels: int, frame_samples: int
    ) -> None:
        self.sample_rate = sample_rate
        self.clock_rate = clock_rate
        self.channels = channels
        self.frame_samples = frame_samples

    def silence_for(self, frames: int) -> Samples:
        return silence(frames, self.channels)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.sample_rate} Hz x{self.channels}>"
