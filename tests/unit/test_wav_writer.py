"""WavWriter: valid after every sync, gaps filled, never backwards, crash recovery."""

from __future__ import annotations

import json
import struct
import wave
from pathlib import Path

import numpy as np

from siprec_appliance.appliance.recording import (
    HEADER_SIZE,
    MARKER_SUFFIX,
    WavWriter,
    recover_unfinished,
    safe_name,
    session_directory,
    stream_file_name,
)


def _read(path: Path) -> tuple[int, int, np.ndarray]:
    with wave.open(str(path), "rb") as wav:
        assert wav.getsampwidth() == 2
        frames = wav.readframes(wav.getnframes())
        return wav.getframerate(), wav.getnchannels(), np.frombuffer(frames, dtype="<i2")


def _ramp(start: int, count: int) -> np.ndarray:
    return np.arange(start, start + count, dtype=np.int16)


def test_header_is_valid_after_each_sync(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    writer = WavWriter(path, 8000)
    assert writer.marker.exists()
    writer.sync()
    assert _read(path)[:2] == (8000, 1) and len(_read(path)[2]) == 0
    for n in range(3):
        writer.write_at(160 * n, _ramp(160 * n, 160))
        writer.sync()
        rate, channels, samples = _read(path)
        assert (rate, channels, len(samples)) == (8000, 1, 160 * (n + 1))
        assert np.array_equal(samples, _ramp(0, 160 * (n + 1)))
    writer.close()
    assert not writer.marker.exists()
    assert np.array_equal(_read(path)[2], _ramp(0, 480))


def test_samples_wait_in_memory_until_sync(tmp_path: Path) -> None:
    writer = WavWriter(tmp_path / "a.wav", 8000)
    writer.write_at(0, _ramp(0, 160))
    assert (tmp_path / "a.wav").stat().st_size == HEADER_SIZE
    writer.sync()
    assert (tmp_path / "a.wav").stat().st_size == HEADER_SIZE + 320
    writer.close()


def test_gaps_are_silence_and_overlaps_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    writer = WavWriter(path, 8000)
    writer.write_at(10, _ramp(1, 5))  # frames 0-9 silent
    writer.write_at(12, _ramp(100, 6))  # 12-14 already written: only 15-17 go in
    writer.pad_to(20)
    writer.pad_to(18)  # never backwards
    writer.close()
    samples = _read(path)[2]
    expected = np.zeros(20, dtype=np.int16)
    expected[10:15] = _ramp(1, 5)
    expected[15:18] = [103, 104, 105]
    assert np.array_equal(samples, expected)
    assert writer.dropped_frames == 3


def test_stereo_frames(tmp_path: Path) -> None:
    path = tmp_path / "s.wav"
    writer = WavWriter(path, 16000, channels=2)
    writer.write_at(1, np.array([1, -1, 2, -2], dtype=np.int16))
    writer.close()
    rate, channels, samples = _read(path)
    assert (rate, channels) == (16000, 2)
    assert samples.tolist() == [0, 0, 1, -1, 2, -2]


def _crashed(directory: Path, name: str, frames: int, extra_bytes: int = 0) -> Path:
    """A WAV as a crash leaves it: placeholder sizes, samples, maybe a half frame."""
    writer = WavWriter(directory / name, 8000)
    writer.write_at(0, _ramp(0, frames))
    writer._pending.append(b"\x01" * extra_bytes)  # a torn last write
    writer._file.write(b"".join(writer._pending))  # no header rewrite
    writer._file.close()  # marker stays: the process "died"
    return directory / name


def test_recovery_fixes_placeholder_header(tmp_path: Path) -> None:
    directory = tmp_path / "recordings" / "2024-01-02" / "abc"
    path = _crashed(directory, "stream-0-1.wav", 800, extra_bytes=1)
    assert struct.unpack_from("<I", path.read_bytes(), 40)[0] == 0xFFFFFFFF
    finished = WavWriter(directory / "stream-1-2.wav", 8000)
    finished.close()
    assert recover_unfinished(tmp_path) == [path]
    rate, _, samples = _read(path)
    assert rate == 8000 and np.array_equal(samples, _ramp(0, 800))
    assert path.stat().st_size == HEADER_SIZE + 1600  # the torn half frame is cut off
    assert not path.with_name(path.name + MARKER_SUFFIX).exists()
    note = json.loads((directory / "session.json").read_text())
    assert note["state"] == "interrupted"
    assert note["recovered"]["files"] == [{"file": path.name, "frames": 800, "duration": 0.1}]
    assert recover_unfinished(tmp_path) == []  # nothing left to do


def test_recovery_keeps_the_session_document(tmp_path: Path) -> None:
    directory = tmp_path / "recordings" / "2024-01-02" / "abc"
    directory.mkdir(parents=True)
    (directory / "session.json").write_text(json.dumps({"session": {"id": "abc"}}))
    path = _crashed(directory, "x.wav", 0)
    path.write_bytes(b"garbage")  # header never made it: the marker has the format
    assert recover_unfinished(tmp_path) == [path]
    assert _read(path)[0] == 8000
    document = json.loads((directory / "session.json").read_text())
    assert document["session"] == {"id": "abc"} and "recovered" in document


def test_layout_names_are_safe(tmp_path: Path) -> None:
    assert stream_file_name(0, "1") == "stream-0-1.wav"
    assert stream_file_name(3, None) == "stream-3-3.wav"
    assert stream_file_name(1, "../../etc/passwd") == "stream-1-etc_passwd.wav"
    assert safe_name("..") == "_"
    directory = session_directory(tmp_path, "ab12", 0.0)
    assert directory == tmp_path / "recordings" / "1970-01-01" / "ab12"


def test_recovery_builds_the_combined_file_at_the_recorded_starts(tmp_path: Path) -> None:
    directory = tmp_path / "recordings" / "2024-01-02" / "abc"
    first = _crashed(directory, "stream-0-1.wav", 800)
    second = _crashed(directory, "stream-1-2.wav", 400)
    (directory / ".combined.wav.part").write_bytes(b"RIFF")  # killed mid-mixdown
    participants = [
        {"id": "p2", "role": "callee", "sends": [0]},
        {"id": "p1", "role": "caller", "sends": [1]},
    ]
    document = {
        "session": {"facts": {"participants": participants}},
        "clock": "arrival",
        "streams": [
            {"index": 0, "file": first.name, "start": 100.0, "pauses": []},
            {"index": 1, "file": second.name, "start": 100.05, "pauses": []},
        ],
    }
    (directory / "session.json").write_text(json.dumps(document))
    assert recover_unfinished(tmp_path) == [first, second]
    assert not list(directory.glob(".*.part"))
    note = json.loads((directory / "session.json").read_text())
    assert note["recovered"]["removed"] == [".combined.wav.part"]
    combined = note["combined"]
    assert combined["clock"] == "arrival" and combined["offsets"] == {"0": 0.0, "1": 0.05}
    assert [c["participant"] for c in combined["channels"]] == ["p1", "p2"]  # caller first
    rate, channels, samples = _read(directory / "combined.wav")
    assert (rate, channels) == (8000, 2)
    mixed = samples.reshape(-1, 2)
    assert np.array_equal(mixed[:, 1], _ramp(0, 800))
    assert not mixed[:400, 0].any() and np.array_equal(mixed[400:, 0], _ramp(0, 400))
    assert first.exists() and second.exists()


def test_recovery_without_starts_aligns_at_zero_and_a_failure_keeps_the_files(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "recordings" / "2024-01-02" / "abc"
    path = _crashed(directory, "stream-0-1.wav", 400)
    assert recover_unfinished(tmp_path) == [path]
    combined = json.loads((directory / "session.json").read_text())["combined"]
    assert combined["clock"] == "unknown (recovered)" and combined["offsets"] == {"0": 0.0}
    assert np.array_equal(_read(directory / "combined.wav")[2], _ramp(0, 400))
    other = tmp_path / "recordings" / "2024-01-02" / "empty"
    empty = _crashed(other, "stream-0-1.wav", 0)  # nothing to mix
    assert recover_unfinished(tmp_path) == [empty]
    note = json.loads((other / "session.json").read_text())
    assert note["state"] == "interrupted" and "error" in note["combined"]
    assert empty.exists() and not (other / "combined.wav").exists()
