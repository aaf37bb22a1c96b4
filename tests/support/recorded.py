"""Helpers for tests that record real calls through the daemon and inspect the files."""

from __future__ import annotations

import re
import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np

from support.daemon import Daemon
from support.src import BOUNDARY

SIPREC_TYPE = f"multipart/mixed;boundary={BOUNDARY}"


def answered_ports(body: bytes) -> list[int]:
    """The ``m=audio`` ports of the recorder's SDP answer (plain or multipart)."""
    return [int(port) for port in re.findall(rb"^m=audio (\d+) ", body, re.MULTILINE)]


def session_dir(daemon: Daemon) -> Path:
    """The one session directory under the daemon's recordings."""
    found = sorted((daemon.data_dir / "recordings").glob("*/*"))
    assert len(found) == 1, found
    return found[0]


def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def read_wav(path: Path) -> tuple[int, np.ndarray]:
    """(rate, int16 samples) of a mono 16-bit WAV."""
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        frames = wav.readframes(wav.getnframes())
        return wav.getframerate(), np.frombuffer(frames, dtype="<i2")


def peak_hz(samples: np.ndarray, rate: int) -> float:
    """The strongest frequency (Hann-windowed FFT)."""
    windowed = samples.astype(np.float64) * np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(windowed))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])
