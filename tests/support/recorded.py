"""Helpers for tests that record real calls through the daemon and inspect the files."""

from __future__ import annotations

import re
import struct
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np

from support.daemon import Daemon
from support.src import BOUNDARY

SIPREC_TYPE = f"multipart/mixed;boundary={BOUNDARY}"
QUIET = 100  # |sample| below this is silence (a sine of amplitude 8000 is rarely under it)


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


def decode_audio(path: Path) -> tuple[int, np.ndarray]:
    """(rate, samples shaped (frames, channels)) as FFmpeg decodes the file."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        channels = stream.codec_context.layout.nb_channels
        parts = [f.to_ndarray().reshape(-1, channels) for f in container.decode(stream)]
        return stream.rate, np.concatenate(parts).astype(np.float64)


def tone_envelope(samples: np.ndarray, rate: int) -> np.ndarray:
    """1 where the tone sounds (5 ms moving peak over a threshold), else 0."""
    window = max(1, rate // 200)
    loud = np.abs(samples) > 1000
    return (np.convolve(loud, np.ones(window), mode="same") > 0).astype(np.float64)


def onset_lag(late: np.ndarray, early: np.ndarray, rate: int) -> float:
    """Seconds by which ``late`` follows ``early``: the peak of their cross-correlation."""
    size = 2 * len(late)  # zero padding: no wrap-around
    spectrum = np.fft.rfft(late, size) * np.conj(np.fft.rfft(early, size))
    shift = int(np.argmax(np.fft.irfft(spectrum, size)))
    if shift > len(late):
        shift -= size
    return shift / rate


def sound_and_gap(samples: np.ndarray) -> tuple[int, int, int, int]:
    """(first loud sample, start and end of the longest quiet run inside, last loud + 1)."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) >= QUIET)
    assert len(loud) > 0
    gaps = np.diff(loud)
    widest = int(np.argmax(gaps))
    return int(loud[0]), int(loud[widest]) + 1, int(loud[widest + 1]), int(loud[-1]) + 1


def restamp(packets: list[bytes], advance: int) -> list[bytes]:
    """The packets with their RTP timestamps moved ``advance`` units on."""
    out = []
    for packet in packets:
        (timestamp,) = struct.unpack_from("!I", packet, 4)
        out.append(packet[:4] + struct.pack("!I", (timestamp + advance) & 0xFFFFFFFF) + packet[8:])
    return out


def held_channel(directory: Path, document: dict[str, Any], index: int) -> tuple[int, np.ndarray]:
    """Check that stream ``index``'s hold was recorded (per stream and in the combined
    file) and return (rate, samples) of its channel in the combined WAV."""
    stream = next(s for s in document["streams"] if s["index"] == index)
    assert any("paused" in event for event in stream["pauses"]), stream["pauses"]
    assert any("resumed" in event for event in stream["pauses"]), stream["pauses"]
    combined = document["combined"]
    assert any(index in pause["streams"] for pause in combined["pauses"]), combined
    with wave.open(str(directory / combined["file"]), "rb") as wav:
        rate, channels = wav.getframerate(), wav.getnchannels()
        mixed = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, channels)
    channel = next(c["channel"] for c in combined["channels"] if index in c["streams"])
    return rate, mixed[:, channel]
