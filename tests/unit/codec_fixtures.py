"""Shared helpers for the codec tests: fixture payloads and a tone check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

DATA = Path(__file__).resolve().parents[1] / "data" / "codecs"


def load(name: str) -> list[bytes]:
    """Payloads of a fixture made by tests/tools/make_codec_fixtures.py ("-": empty)."""
    lines = (DATA / name).read_text().splitlines()
    return [b"" if line == "-" else bytes.fromhex(line) for line in lines if line[:1] != "#"]


def peak_hz(samples: npt.NDArray[np.int16], rate: int) -> float:
    """Frequency of the strongest FFT bin (Hann window)."""
    x = samples.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    spectrum[0] = 0.0
    return float(np.argmax(spectrum) * rate / len(x))


def rms(samples: npt.NDArray[np.int16]) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if len(samples) else 0.0
