"""The combined recording: channel plan, alignment, resampling, pauses, formats.

Every output is decoded again with PyAV (FFmpeg), so a test checks what a player sees.
"""

from __future__ import annotations

import json
import math
import wave
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from siprec_appliance.appliance import recording as recording_module
from siprec_appliance.appliance.mixdown import (
    MixChannel,
    MixdownError,
    MixSource,
    Party,
    mixdown,
    paused_spans,
    plan_channels,
)
from siprec_appliance.appliance.receiver import StreamReceiver
from siprec_appliance.appliance.recording import SessionRecording
from siprec_appliance.config import RecordingConfig
from siprec_appliance.rtp import SenderReport
from siprec_appliance.sdp.answer import StreamPlan
from siprec_appliance.siprec.session import StreamState
from support.rtp_sender import g711_stream

TOLERANCE = 0.02  # seconds: the bound for duration and alignment


def tone(frequency: float, seconds: float, rate: int, amplitude: float = 8000.0) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


def write_wav(path: Path, rate: int, samples: np.ndarray) -> Path:
    frames = samples[:, None] if samples.ndim == 1 else samples
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(frames.shape[1])
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames.astype("<i2").tobytes())
    return path


def decode(path: Path) -> tuple[int, np.ndarray]:
    """(rate, float samples shaped (frames, channels)) as FFmpeg decodes the file."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        channels = stream.codec_context.layout.nb_channels
        parts = []
        for frame in container.decode(stream):
            array = frame.to_ndarray()
            array = array.T if frame.format.is_planar else array.reshape(-1, channels)
            if array.dtype.kind == "f":
                array = array * 32768.0
            parts.append(array.astype(np.float64))
        return stream.rate, np.concatenate(parts)


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def onset(samples: np.ndarray, rate: int, threshold: float = 2000.0) -> float:
    """Seconds to the first sample louder than ``threshold``."""
    loud = np.flatnonzero(np.abs(samples) > threshold)
    assert len(loud), "no tone found"
    return float(loud[0] / rate)


# ------------------------------------------------------------------ the plan
def test_plan_puts_caller_left_callee_right_others_then_unclaimed_streams() -> None:
    participants: list[Any] = [
        {"id": "p3", "aor": "sip:carol@x", "role": "other", "sends": [2]},
        {"id": "p2", "aor": "sip:bob@x", "role": "callee", "sends": [0]},
        {"id": "p1", "aor": "sip:alice@x", "role": "caller", "sends": [1, 9]},
        {"id": "p4", "role": "other", "sends": "0"},  # malformed: ignored
        {"id": "p5", "role": "other", "sends": [True]},
        "not a row",
    ]
    plan = plan_channels(participants, [0, 1, 2, 3])
    assert [(c.streams, [p.id for p in c.parties]) for c in plan] == [
        ((1,), ["p1"]),
        ((0,), ["p2"]),
        ((2,), ["p3"]),
        ((3,), []),
    ]
    assert plan[0].parties[0] == Party(id="p1", aor="sip:alice@x", role="caller")


def test_plan_of_one_mixed_stream_names_every_sender() -> None:
    participants = [
        {"id": "a", "role": "caller", "sends": [0]},
        {"id": "b", "role": "callee", "sends": [0]},
    ]
    plan = plan_channels(participants, [0])
    assert len(plan) == 1 and plan[0].streams == (0,)
    assert [p.id for p in plan[0].parties] == ["a", "b"]
    assert plan_channels([], [1, 0]) == (MixChannel(streams=(0,)), MixChannel(streams=(1,)))


def test_paused_spans_from_pause_events() -> None:
    events = [{"paused": 5.0}, {"paused": 6.0}, {"resumed": 7.0}, {"resumed": 8.0}, {"paused": 9}]
    assert paused_spans(events) == ((5.0, 7.0), (9.0, math.inf))
    assert paused_spans([{"resumed": 1.0}]) == ()


# ------------------------------------------------------------------ alignment
def _two_legs(tmp_path: Path, *, rates: tuple[int, int] = (8000, 8000)) -> list[MixSource]:
    """Stream 0: 440 Hz for 2 s from t=100; stream 1: 1000 Hz for 2 s from t=100.3."""
    first = write_wav(tmp_path / "stream-0-1.wav", rates[0], tone(440, 2.0, rates[0]))
    second = write_wav(tmp_path / "stream-1-2.wav", rates[1], tone(1000, 2.0, rates[1]))
    return [
        MixSource(index=0, path=first, start=100.0),
        MixSource(index=1, path=second, start=100.3),
    ]


CALLER_SENDS_1 = [
    {"id": "p1", "aor": "sip:alice@x", "role": "caller", "sends": [1]},
    {"id": "p2", "aor": "sip:bob@x", "role": "callee", "sends": [0]},
]


@pytest.mark.parametrize("fmt", ["wav", "flac", "opus", "mp3"])
def test_combined_file_has_each_leg_on_its_channel_aligned(tmp_path: Path, fmt: str) -> None:
    sources = _two_legs(tmp_path)
    plan = plan_channels(CALLER_SENDS_1, [0, 1])
    result = mixdown(sources, plan, tmp_path, fmt=fmt)
    assert result.path == tmp_path / f"combined.{fmt}"
    assert not list(tmp_path.glob(".*.part"))
    rate, samples = decode(result.path)
    assert samples.shape[1] == 2
    assert len(samples) / rate == pytest.approx(2.3, abs=TOLERANCE)
    assert result.duration == pytest.approx(2.3, abs=TOLERANCE)
    caller, callee = samples[:, 0], samples[:, 1]
    assert peak_hz(caller, rate) == pytest.approx(1000, abs=10)  # the caller sends stream 1
    assert peak_hz(callee, rate) == pytest.approx(440, abs=10)
    assert onset(callee, rate) == pytest.approx(0.0, abs=TOLERANCE)
    assert onset(caller, rate) == pytest.approx(0.3, abs=TOLERANCE)
    document = result.to_dict()
    assert document["format"] == fmt and document["channel_count"] == 2
    assert document["offsets"] == {"0": 0.0, "1": 0.3}
    assert [(c["channel"], c["aor"], c["streams"]) for c in document["channels"]] == [
        (0, "sip:alice@x", [1]),
        (1, "sip:bob@x", [0]),
    ]
    json.dumps(document)  # goes into session.json as it is


def test_wav_output_is_sample_exact(tmp_path: Path) -> None:
    sources = _two_legs(tmp_path)
    result = mixdown(sources, plan_channels([], [0, 1]), tmp_path)
    with wave.open(str(result.path), "rb") as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, 8000, 2)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
    assert len(frames) == 8000 * 2 + 2400
    assert np.array_equal(frames[:16000, 0], tone(440, 2.0, 8000))
    assert not frames[:2400, 1].any()
    assert np.array_equal(frames[2400:, 1], tone(1000, 2.0, 8000))


def test_lower_rates_are_resampled_to_the_highest(tmp_path: Path) -> None:
    sources = _two_legs(tmp_path, rates=(8000, 16000))
    result = mixdown(sources, plan_channels([], [0, 1]), tmp_path, fmt="flac")
    rate, samples = decode(result.path)
    assert rate == result.sample_rate == 16000
    assert len(samples) / rate == pytest.approx(2.3, abs=TOLERANCE)
    assert peak_hz(samples[:, 0], rate) == pytest.approx(440, abs=10)
    assert onset(samples[:, 0], rate) == pytest.approx(0.0, abs=TOLERANCE)
    assert onset(samples[:, 1], rate) == pytest.approx(0.3, abs=TOLERANCE)


def test_a_single_stereo_stream_is_copied_as_it_came(tmp_path: Path) -> None:
    stereo = np.stack([tone(440, 1.0, 48000), tone(1000, 1.0, 48000)], axis=1)
    path = write_wav(tmp_path / "stream-0-1.wav", 48000, stereo)
    plan = plan_channels([{"id": "a", "sends": [0]}, {"id": "b", "sends": [0]}], [0])
    result = mixdown([MixSource(index=0, path=path, start=5.0)], plan, tmp_path)
    assert result.copied and result.channel_count == 2
    with wave.open(str(result.path), "rb") as wav:
        frames = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
    assert np.array_equal(frames, stereo)
    opus = mixdown([MixSource(index=0, path=path, start=5.0)], plan, tmp_path, fmt="opus")
    rate, samples = decode(opus.path)
    assert samples.shape[1] == 2 and len(samples) / rate == pytest.approx(1.0, abs=TOLERANCE)


def test_a_participant_sending_two_streams_gets_them_mixed(tmp_path: Path) -> None:
    a = write_wav(tmp_path / "a.wav", 8000, tone(440, 1.0, 8000, 4000))
    b = write_wav(tmp_path / "b.wav", 8000, tone(1000, 1.0, 8000, 4000))
    plan = plan_channels([{"id": "p", "role": "caller", "sends": [0, 1]}], [0, 1])
    sources = [MixSource(index=0, path=a, start=1.0), MixSource(index=1, path=b, start=1.0)]
    result = mixdown(sources, plan, tmp_path)
    _, samples = decode(result.path)
    assert samples.shape[1] == 1
    expected = tone(440, 1.0, 8000, 4000).astype(int) + tone(1000, 1.0, 8000, 4000)
    assert np.array_equal(samples[:, 0], expected)


# ------------------------------------------------------------------ pauses
def test_pauses_become_silence_or_are_cut(tmp_path: Path) -> None:
    first = write_wav(tmp_path / "a.wav", 8000, tone(440, 3.0, 8000))
    second = write_wav(tmp_path / "b.wav", 8000, tone(1000, 3.0, 8000))
    both = ((11.0, 12.0),)
    sources = [
        MixSource(index=0, path=first, start=10.0, paused=((10.5, 12.0),)),
        MixSource(index=1, path=second, start=10.0, paused=both),
    ]
    plan = plan_channels([], [0, 1])
    silence = mixdown(sources, plan, tmp_path, name="silence")
    rate, samples = decode(silence.path)
    assert len(samples) == 3 * rate
    assert not samples[int(0.5 * rate) : 2 * rate, 0].any()
    assert not samples[rate : 2 * rate, 1].any()
    assert (np.abs(samples[2 * rate :]).max(axis=0) > 7000).all(), "both back after the pause"
    assert silence.cut_seconds == 0.0

    cut = mixdown(sources, plan, tmp_path, pauses="cut", name="cut")
    rate, samples = decode(cut.path)
    assert len(samples) == 2 * rate, "only the span where both streams are paused is cut"
    assert not samples[int(0.5 * rate) : rate, 0].any(), "the partial pause is silence"
    assert samples[: int(0.5 * rate), 0].any() and samples[rate:, 0].any()
    assert cut.cut_seconds == 1.0 and cut.duration == 2.0
    notes = cut.to_dict()["pauses"]
    assert {"streams": [0, 1], "start": 1.0, "end": 2.0, "action": "cut"} in notes
    assert {"streams": [0], "start": 0.5, "end": 2.0, "action": "silence"} in notes


def test_a_pause_never_resumed_lasts_to_the_end(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", 8000, tone(440, 2.0, 8000))
    source = MixSource(index=0, path=path, start=0.0, paused=((1.0, math.inf),))
    result = mixdown([source], plan_channels([], [0]), tmp_path, pauses="cut")
    assert result.duration == 1.0


# ------------------------------------------------------------------ limits
def test_mp3_with_more_than_two_channels_falls_back_to_flac(tmp_path: Path) -> None:
    sources = [
        MixSource(
            index=i, path=write_wav(tmp_path / f"{i}.wav", 8000, tone(f, 0.5, 8000)), start=0.0
        )
        for i, f in enumerate((300, 700, 1500))
    ]
    result = mixdown(sources, plan_channels([], [0, 1, 2]), tmp_path, fmt="mp3")
    assert (result.format, result.path.name) == ("flac", "combined.flac")
    assert result.to_dict()["requested_format"] == "mp3"
    rate, samples = decode(result.path)
    assert samples.shape[1] == 3
    for channel, frequency in enumerate((300, 700, 1500)):
        assert peak_hz(samples[:, channel], rate) == pytest.approx(frequency, abs=10)


def test_nothing_to_combine_is_an_error(tmp_path: Path) -> None:
    empty = write_wav(tmp_path / "a.wav", 8000, np.zeros(0, np.int16))
    plan = plan_channels([], [0, 1])
    with pytest.raises(MixdownError, match="no stream has audio"):
        mixdown([MixSource(index=0, path=empty, start=1.0)], plan, tmp_path)
    with pytest.raises(MixdownError, match="unknown pause mode"):
        mixdown([], plan, tmp_path, pauses="skip")
    silent = MixSource(index=1, path=tmp_path / "missing.wav", start=None)
    audible = MixSource(
        index=0, path=write_wav(tmp_path / "b.wav", 8000, tone(440, 0.5, 8000)), start=1.0
    )
    result = mixdown([audible, silent], plan, tmp_path)
    assert result.channel_count == 2, "a stream without audio keeps its (silent) channel"


# ------------------------------------------------------------------ the session
def _plan(index: int, label: str) -> StreamPlan:
    return StreamPlan(
        index=index,
        media="audio",
        proto="RTP/AVP",
        accepted=True,
        refuse_reason=None,
        label=label,
        offered_direction="sendonly",
        answer_direction="recvonly",
        payload_types=(0,),
        codecs=("PCMU/8000",),
        rtcp_mux=False,
        rtcp_attribute=False,
        offered_formats=("0",),
    )


def _session(tmp_path: Path, settings: RecordingConfig) -> SessionRecording:
    """Two PCMU streams; stream 1 starts 0.3 s after stream 0 (arrival times)."""
    receivers = {40000: [StreamReceiver(40000)], 40002: [StreamReceiver(40002)]}
    streams = [StreamState(_plan(0, "1"), 40000, False), StreamState(_plan(1, "2"), 40002, False)]
    recording = SessionRecording("s1", tmp_path / "s1", settings)
    recording.update(streams, lambda port: receivers.get(port, []))
    for index, (frequency, start) in enumerate(((440, 1000.0), (1000, 1000.3))):
        recorder = recording.recorders[index]
        packets = g711_stream(("192.0.2.1", 4000), frequency, 1.0, ssrc=index + 1).packets
        for n, data in enumerate(packets):
            now = start + 0.02 * n
            recorder.process([(data, ("192.0.2.1", 4000 + index), now)], now)
    recording.note_pauses([0, 1], [], 1000.5)
    recording.note_pauses([], [0, 1], 1000.7)
    recording.finish(1002.0)
    return recording


def _document(recording: SessionRecording) -> dict[str, Any]:
    facts = {"participants": [{"id": "p1", "aor": "sip:a@x", "role": "caller", "sends": [1]}]}
    return recording.document({"id": "s1", "facts": facts}, "completed")


def test_session_writes_combined_file_and_lists_it(tmp_path: Path) -> None:
    recording = _session(tmp_path, RecordingConfig(pauses="cut"))
    document = _document(recording)
    recording.close(document)
    combined = document["combined"]
    assert combined["file"] == "combined.wav" and combined["clock"] == "arrival"
    assert combined["offsets"] == {"0": 0.0, "1": 0.3}
    assert [(c["participant"], c["streams"]) for c in combined["channels"]] == [
        ("p1", [1]),
        (None, [0]),
    ]
    assert combined["cut_seconds"] == pytest.approx(0.2, abs=0.001)
    assert combined["duration"] == pytest.approx(1.3 - 0.2, abs=0.001)
    saved = json.loads((tmp_path / "s1" / "session.json").read_text())
    assert saved["combined"] == combined
    assert {s["file"] for s in saved["streams"]} == {"stream-0-1.wav", "stream-1-2.wav"}


def test_per_stream_false_removes_the_stream_files_after_success(tmp_path: Path) -> None:
    recording = _session(tmp_path, RecordingConfig(format="flac", per_stream=False))
    document = _document(recording)
    recording.close(document)
    assert sorted(p.name for p in (tmp_path / "s1").iterdir()) == ["combined.flac", "session.json"]
    assert [s["file"] for s in document["streams"]] == [None, None]


def test_a_failed_mixdown_keeps_the_stream_files_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise av.error.InvalidDataError(22, "encoder exploded")

    monkeypatch.setattr(recording_module, "mixdown", broken)
    recording = _session(tmp_path, RecordingConfig(format="opus", per_stream=False))
    document = _document(recording)
    recording.close(document)
    assert "encoder exploded" in document["combined"]["error"]
    names = sorted(p.name for p in (tmp_path / "s1").iterdir())
    assert names == ["session.json", "stream-0-1.wav", "stream-1-2.wav"]
    assert json.loads((tmp_path / "s1" / "session.json").read_text())["combined"]["error"]


def test_combined_can_be_turned_off(tmp_path: Path) -> None:
    recording = _session(tmp_path, replace(RecordingConfig(), combined=False))
    document = _document(recording)
    recording.close(document)
    assert "combined" not in document
    assert not list((tmp_path / "s1").glob("combined.*"))


def test_start_wall_time_from_arrival_then_from_a_sender_report(tmp_path: Path) -> None:
    recording = _session(tmp_path, RecordingConfig())
    first, second = recording.recorders[0], recording.recorders[1]
    assert first.start_wall_time == 1000.0 and second.start_wall_time == 1000.3
    assert recording.mix_sources()[1] == "arrival"
    # SRs from the sender's clock: stream 0's sample 0 (RTP 12345) is at 5000.0 there,
    # stream 1's at 5000.25; pause times move with each stream's own difference.
    for recorder, ssrc, at in ((first, 1, 5000.0), (second, 2, 5000.25)):
        ntp = round((at + 1.0 + 2208988800) * (1 << 32))
        recorder.timeline.on_sender_report(
            SenderReport(
                ssrc=ssrc, ntp_timestamp=ntp, rtp_timestamp=12345 + 8000,
                packet_count=50, octet_count=8000,
            )
        )  # fmt: skip
    assert first.start_wall_time == pytest.approx(5000.0, abs=1e-6)
    sources, clock = recording.mix_sources()
    assert clock == "rtcp"
    assert [s.start for s in sources] == pytest.approx([5000.0, 5000.25], abs=1e-6)
    assert sources[1].paused[0] == pytest.approx((5000.25 + 0.2, 5000.25 + 0.4), abs=1e-6)
