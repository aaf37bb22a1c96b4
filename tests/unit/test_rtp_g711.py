"""G.711 decoding tables against a reference encoder and Python's former audioop."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable

import numpy as np
import pytest

from siprec_appliance.rtp import (
    ALAW_TABLE,
    ULAW_TABLE,
    decode_pcma,
    decode_pcma_batch,
    decode_pcmu,
    decode_pcmu_batch,
)


def _segment(value: int, ends: tuple[int, ...]) -> int:
    for seg, end in enumerate(ends):
        if value <= end:
            return seg
    return len(ends)


def ref_linear2ulaw(sample: int) -> int:
    """The CCITT G.711 µ-law encoder as in the Sun reference code (g711.c)."""
    bias, clip = 0x84, 32635
    if sample < 0:
        sample, mask = -sample, 0x7F
    else:
        mask = 0xFF
    sample = min(sample, clip) + bias
    seg = _segment(sample, (0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF, 0x3FFF, 0x7FFF))
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((sample >> (seg + 3)) & 0x0F)) ^ mask


def ref_linear2alaw(sample: int) -> int:
    """The CCITT G.711 A-law encoder as in the Sun reference code (g711.c)."""
    sample >>= 3  # 13-bit
    if sample >= 0:
        mask = 0xD5
    else:
        mask, sample = 0x55, -sample - 1
    seg = _segment(sample, (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF))
    if seg >= 8:
        return 0x7F ^ mask
    quant = (sample >> 1) & 0x0F if seg < 2 else (sample >> seg) & 0x0F
    return ((seg << 4) | quant) ^ mask


def sine(amplitude: float = 16000.0, freq: float = 1000.0, n: int = 8000) -> np.ndarray:
    t = np.arange(n) / 8000.0
    return np.round(amplitude * np.sin(2 * np.pi * freq * t + 0.3)).astype(np.int16)


def snr_db(reference: np.ndarray, decoded: np.ndarray) -> float:
    ref = reference.astype(np.float64)
    noise = ref - decoded.astype(np.float64)
    return float(10 * np.log10(np.sum(ref**2) / np.sum(noise**2)))


@pytest.mark.parametrize(
    ("encode", "decode"),
    [(ref_linear2ulaw, decode_pcmu), (ref_linear2alaw, decode_pcma)],
)
def test_sine_through_reference_encoder_and_table_decoder(
    encode: Callable[[int], int], decode: Callable[[bytes], np.ndarray]
) -> None:
    signal = sine()
    payload = bytes(encode(int(s)) for s in signal)
    decoded = decode(payload)
    assert decoded.dtype == np.int16
    assert decoded.shape == signal.shape
    # G.711 gives about 38 dB SNR on a loud sine; a wrong segment or sign would not.
    assert snr_db(signal, decoded) > 35.0
    quiet = sine(amplitude=300.0)
    assert snr_db(quiet, decode(bytes(encode(int(s)) for s in quiet))) > 25.0


def test_every_code_re_encodes_to_itself() -> None:
    for code in range(256):
        expected_u = 0xFF if code == 0x7F else code  # µ-law has two zeros
        assert ref_linear2ulaw(int(ULAW_TABLE[code])) == expected_u, hex(code)
        assert ref_linear2alaw(int(ALAW_TABLE[code])) == code, hex(code)


def test_known_values_of_audioop() -> None:
    assert decode_pcmu(b"\xff\x00\x80\x7f\x01").tolist() == [0, -32124, 32124, 0, -31100]
    assert decode_pcma(b"\xd5\x55\xaa\x2a\x80").tolist() == [8, -8, 32256, -32256, 5504]


def test_tables_equal_audioop_when_available() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            audioop = importlib.import_module("audioop")  # removed in Python 3.13
        except ImportError:
            pytest.skip("audioop is not available on this Python")
    codes = bytes(range(256))
    assert np.frombuffer(audioop.ulaw2lin(codes, 2), np.int16).tolist() == ULAW_TABLE.tolist()
    assert np.frombuffer(audioop.alaw2lin(codes, 2), np.int16).tolist() == ALAW_TABLE.tolist()


def test_tables_are_read_only() -> None:
    with pytest.raises(ValueError):
        ULAW_TABLE[0] = 1


def test_batched_decode_matches_per_packet_decode() -> None:
    rng = np.random.default_rng(7)
    payloads: list[bytes | bytearray | memoryview] = [
        rng.integers(0, 256, size=size, dtype=np.uint8).tobytes() for size in (160, 80, 0, 240)
    ]
    payloads.append(bytearray(b"\x00\xff"))
    payloads.append(memoryview(b"\x12\x34\x56"))
    for batch, single in ((decode_pcmu_batch, decode_pcmu), (decode_pcma_batch, decode_pcma)):
        samples, offsets = batch(payloads)
        assert offsets.tolist() == [0, 160, 240, 240, 480, 482, 485]
        for i, payload in enumerate(payloads):
            assert samples[offsets[i] : offsets[i + 1]].tolist() == single(payload).tolist()
    empty, offsets = decode_pcmu_batch([])
    assert empty.size == 0
    assert offsets.tolist() == [0]
