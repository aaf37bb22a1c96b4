"""G.711 µ-law and A-law (RFC 3551 §4.5.14): the lookup tables of :mod:`rtp.g711`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from siprec_appliance.codecs.base import Decoded, DecoderBase, Samples
from siprec_appliance.rtp.g711 import G711_TABLES, decode_batch

__all__ = ["G711Decoder"]

G711_RATE = 8000


class G711Decoder(DecoderBase):
    """PCMU or PCMA: one byte per sample at 8 kHz, stateless, one ``take`` per batch."""

    def __init__(self, name: str) -> None:
        super().__init__(G711_RATE, G711_RATE, 1, 160)
        self.name = name
        self._table: Samples = G711_TABLES[name]

    def decode(self, payloads: Sequence[bytes]) -> Decoded:
        samples, offsets = decode_batch(self._table, payloads)
        return Decoded(samples, offsets)

    def samples(self, payload: bytes) -> Samples:
        """Decode one payload, or several joined: G.711 keeps no state between octets,
        so this is what :meth:`decode` gives for them, without the offsets."""
        return self._table.take(np.frombuffer(payload, dtype=np.uint8))

    def duration(self, payload: bytes) -> int:
        return len(payload)
