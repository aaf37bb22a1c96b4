"""G.711 µ-law (PCMU) and A-law (PCMA) decoding by 256-entry lookup tables.

The tables are computed at import from the ITU-T G.711 expansion rules (the
segment/mantissa form, scaled to 16 bits as in the classic Sun reference code
and Python's former ``audioop``), not typed in. Decoding is one numpy ``take``
per call: decode many payloads at once with the ``*_batch`` variants, which join
them and return where each payload's samples start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

__all__ = [
    "ALAW_TABLE",
    "G711_TABLES",
    "ULAW_TABLE",
    "Payload",
    "decode_batch",
    "decode_pcma",
    "decode_pcma_batch",
    "decode_pcmu",
    "decode_pcmu_batch",
]

Payload = bytes | bytearray | memoryview
Samples = npt.NDArray[np.int16]
Offsets = npt.NDArray[np.int64]


def _ulaw_table() -> Samples:
    # G.711 §3 (µ-law): code words are sent inverted; 3 segment bits and 4 mantissa
    # bits; the magnitude is ((2 * mantissa + 33) << segment) - 33 in 14-bit units,
    # here scaled by 4 (bias 0x84 = 4 * 33) to fill 16 bits.
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    segment = (code >> 4) & 0x07
    mantissa = code & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << segment) - 0x84
    table = np.where(code & 0x80, -magnitude, magnitude).astype(np.int16)
    table.flags.writeable = False
    return table


def _alaw_table() -> Samples:
    # G.711 §2 (A-law): even bits are inverted (XOR 0x55); segment 0 is linear,
    # segment s > 0 is (2 * mantissa + 33) << (s - 1) in 13-bit units, scaled by 8.
    code = np.arange(256, dtype=np.int32) ^ 0x55
    segment = (code >> 4) & 0x07
    mantissa = code & 0x0F
    linear = (mantissa << 4) + 8
    shifted = ((mantissa << 4) + 0x108) << np.maximum(segment - 1, 0)
    magnitude = np.where(segment == 0, linear, shifted)
    # A-law sign bit 1 means positive.
    table = np.where(code & 0x80, magnitude, -magnitude).astype(np.int16)
    table.flags.writeable = False
    return table


ULAW_TABLE: Samples = _ulaw_table()
ALAW_TABLE: Samples = _alaw_table()

# Encoding name (SDP, lower case) -> table, for a codec dispatch table.
G711_TABLES: Mapping[str, Samples] = MappingProxyType({"pcmu": ULAW_TABLE, "pcma": ALAW_TABLE})


def _decode(table: Samples, payload: Payload) -> Samples:
    codes = np.frombuffer(payload, dtype=np.uint8)
    return table.take(codes)


def decode_pcmu(payload: Payload) -> Samples:
    """µ-law bytes to 16-bit linear samples (one sample per byte, 8 kHz)."""
    return _decode(ULAW_TABLE, payload)


def decode_pcma(payload: Payload) -> Samples:
    """A-law bytes to 16-bit linear samples (one sample per byte, 8 kHz)."""
    return _decode(ALAW_TABLE, payload)


def decode_batch(table: Samples, payloads: Sequence[Payload]) -> tuple[Samples, Offsets]:
    """Decode many payloads in one call.

    Returns the joined samples and ``len(payloads) + 1`` offsets: payload ``i`` is
    ``samples[offsets[i]:offsets[i + 1]]`` (G.711 has one sample per byte).
    """
    joined = b"".join(payloads)
    offsets = np.zeros(len(payloads) + 1, dtype=np.int64)
    np.cumsum(
        [len(p) if not isinstance(p, memoryview) else p.nbytes for p in payloads], out=offsets[1:]
    )
    return _decode(table, joined), offsets


def decode_pcmu_batch(payloads: Sequence[Payload]) -> tuple[Samples, Offsets]:
    """:func:`decode_batch` with the µ-law table."""
    return decode_batch(ULAW_TABLE, payloads)


def decode_pcma_batch(payloads: Sequence[Payload]) -> tuple[Samples, Offsets]:
    """:func:`decode_batch` with the A-law table."""
    return decode_batch(ALAW_TABLE, payloads)
