"""StreamRecorder without sockets: batches in, samples at the right offsets out."""

from __future__ import annotations

import json
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np

from siprec_appliance.appliance.lanes import Lanes
from siprec_appliance.appliance.receiver import StreamReceiver, StreamRecorder
from siprec_appliance.appliance.recording import SessionRecording
from siprec_appliance.rtp import decode_pcmu
from siprec_appliance.sdp.answer import StreamPlan
from siprec_appliance.siprec.session import StreamState
from support.rtp_sender import g711_stream, impair, rtp_packet

SRC = ("192.0.2.1", 4000)


def _plan(
    codecs: tuple[str, ...] = ("PCMU/8000", "PCMA/8000", "telephone-event/8000"),
) -> StreamPlan:
    return StreamPlan(
        index=0,
        media="audio",
        proto="RTP/AVP",
        accepted=True,
        refuse_reason=None,
        label="1",
        offered_direction="sendonly",
        answer_direction="recvonly",
        payload_types=(0, 8, 101)[: len(codecs)],
        codecs=codecs,
        rtcp_mux=False,
        rtcp_attribute=False,
        offered_formats=("0", "8", "101"),
    )


class Sink:
    def __init__(self) -> None:
        self.samples = np.zeros(0, dtype=np.int16)

    def write_at(self, offset: int, samples: np.ndarray) -> None:
        self.pad_to(offset)
        assert offset == len(self.samples), "written out of order"
        self.samples = np.concatenate([self.samples, samples])

    def pad_to(self, offset: int) -> None:
        if offset > len(self.samples):
            self.samples = np.concatenate(
                [self.samples, np.zeros(offset - len(self.samples), dtype=np.int16)]
            )


def _feed(recorder: StreamRecorder, packets: list[bytes], start: float = 1000.0) -> float:
    """One batch per 20 ms tick, as the server's process loop does."""
    now = start
    for n, data in enumerate(packets):
        now = start + 0.02 * n
        recorder.process([(data, SRC, now)], now)
    return now


def test_impaired_stream_lands_at_rtp_time() -> None:
    stream = g711_stream(SRC, 440, 1.0, ssrc=7)
    sink = Sink()
    recorder = StreamRecorder(_plan(), sink)
    packets = impair(stream.packets, lose=[10], swap=[20], duplicate=[30])
    now = _feed(recorder, packets)
    recorder.process([], now + 1.0)  # the hole times out
    recorder.finish()
    assert len(sink.samples) == 8000
    expected = decode_pcmu(b"".join(p[12:] for p in stream.packets))
    expected[1600:1760] = 0  # the lost packet is silence
    assert np.array_equal(sink.samples, expected)
    report = recorder.report()
    assert (report["received"], report["lost"], report["duplicated"]) == (50, 1, 1)
    assert report["reordered"] == 1 and report["malformed"] == 0


def test_foreign_source_malformed_and_rtcp_are_counted() -> None:
    stream = g711_stream(SRC, 440, 0.2, ssrc=7)
    sink = Sink()
    recorder = StreamRecorder(_plan(), sink)
    batch = [(p, SRC, 1.0 + 0.02 * n) for n, p in enumerate(stream.packets)]
    batch.insert(2, (b"\x80\x00\x01", SRC, 1.05))  # too short
    batch.insert(3, (stream.packets[3], ("192.0.2.66", 4000), 1.06))  # another source
    sr = struct.pack("!BBH6I", 0x80, 200, 6, 7, 0, 0, 0, 0, 0)  # RFC 3550 §6.4.1
    batch.append((sr, SRC, 1.3))  # RTCP SR muxed on the RTP port
    recorder.process(batch, 1.3)
    report = recorder.report()
    assert report["malformed"] == 1 and report["foreign_source"] == 1 and report["rtcp"] == 1
    assert len(sink.samples) == 1600


def test_ssrc_lock_takes_a_new_source_only_after_silence() -> None:
    sink = Sink()
    recorder = StreamRecorder(_plan(), sink)
    first = g711_stream(SRC, 440, 0.2, ssrc=1).packets
    second = g711_stream(SRC, 1000, 0.2, ssrc=2, seq=5000).packets
    mixed = [p for pair in zip(first, second, strict=True) for p in pair]
    _feed(recorder, mixed, start=10.0)  # SSRC 2 interleaved with the locked SSRC 1
    assert recorder.report()["foreign_ssrc"] == 10 and recorder.stats.ssrc == 1
    _feed(recorder, second[:4], start=12.0)  # silent > 1 s, but only 4 packets so far
    assert recorder.stats.ssrc == 1
    _feed(recorder, second[4:], start=12.1)
    assert recorder.stats.ssrc == 2
    assert recorder.report()["received"] == 10 + 10


def test_telephone_events_and_undecoded_codecs() -> None:
    sink = Sink()
    recorder = StreamRecorder(_plan(), sink)
    audio = g711_stream(SRC, 440, 0.1, ssrc=9).packets  # seq 1000-1004, ts 12345 + 160n
    events = [
        rtp_packet(bytes([5, 0x0A, 0, d]), seq=1005 + n, timestamp=13145, ssrc=9, pt=101)
        for n, d in enumerate((160, 240))
    ]
    end = rtp_packet(bytes([5, 0x8A, 1, 64]), seq=1007, timestamp=13145, ssrc=9, pt=101)
    unknown = rtp_packet(bytes(160), seq=1008, timestamp=13785, ssrc=9, pt=18)
    _feed(recorder, [*audio, *events, end, end, unknown])
    recorder.finish()
    report = recorder.report()
    assert report["dtmf"] == [
        {
            "key": "5",
            "event": 5,
            "at": 0.1,
            "duration_ms": 40,
            "end": True,
            "volume": 10,
            "ssrc": 9,
        }
    ]
    assert report["not_decoded"] == 1 and report["unknown_payload_type"] == 1


def test_receiver_hands_batches_to_its_recorder() -> None:
    receiver = StreamReceiver(40000)
    receiver.datagram_received(b"x", SRC)
    assert receiver.packets == 1
    receiver.process(1.0)  # no recorder yet: dropped, counted
    assert receiver.unclaimed == 1 and receiver.packets == 1
    recorder = StreamRecorder(_plan(), None)
    receiver.recorder = recorder
    receiver.datagram_received(b"\x80\x00", SRC)
    receiver.process(2.0)
    assert recorder.report()["malformed"] == 1 and receiver.packets == 2


def test_session_recording_follows_renegotiation(tmp_path: Path) -> None:
    receivers = {40000: [StreamReceiver(40000), StreamReceiver(40001, rtcp=True)]}
    receivers[40010] = [StreamReceiver(40010)]
    g722 = replace(_plan(("G722/8000",)), index=1, label=None, payload_types=(9,))
    streams = [StreamState(_plan(), 40000, False), StreamState(g722, 40010, False)]
    recording = SessionRecording("s1", tmp_path / "s1")
    recording.update(streams, lambda port: receivers.get(port, []))
    assert set(recording.writers) == {0, 1}
    assert recording.writers[1].sample_rate == 16000  # G.722: 16 kHz audio on an 8 kHz clock
    assert receivers[40000][1].recorder is recording.recorders[0]
    packets = g711_stream(SRC, 440, 0.2, ssrc=1).packets
    for data in packets[:5]:
        receivers[40000][0].datagram_received(data, SRC)
    recording.process(2.0)
    # A re-INVITE moves stream 0 to a new port: the same recorder and file go on there,
    # and a new source address may take over.
    receivers[40020] = [StreamReceiver(40020)]
    streams[0] = StreamState(_plan(), 40020, True)
    recording.update(streams, lambda port: receivers.get(port, []), renegotiated=True)
    recording.note_pauses([0], [], 3.0)
    assert receivers[40020][0].recorder is recording.recorders[0]
    for data in packets[5:]:
        receivers[40020][0].datagram_received(data, ("192.0.2.9", 5000))
    recording.finish(3.1)
    document = recording.document({"id": "s1"}, "completed")
    recording.close(document)
    first = document["streams"][0]
    assert (first["received"], first["foreign_source"], first["duration"]) == (10, 0, 0.2)
    assert first["pauses"] == [{"paused": 3.0}]
    assert document["streams"][1]["file"] == "stream-1-1.wav"  # G.722 stream, no packets sent
    assert json.loads((tmp_path / "s1" / "session.json").read_text())["state"] == "completed"
    assert sorted(p.name for p in (tmp_path / "s1").iterdir()) == [
        "combined.wav",
        "session.json",
        "stream-0-1.wav",
        "stream-1-1.wav",
    ]


def test_pause_is_decided_by_arrival_not_by_processing_time() -> None:
    """PCI: audio that arrived while paused stays silent even when it is processed
    only after the resume (batches are processed on a timer)."""
    stream = g711_stream(SRC, 440, 0.6, ssrc=9)  # 30 packets of 20 ms
    sink = Sink()
    recorder = StreamRecorder(_plan(), sink)
    start = 1000.0
    arrivals = [(data, SRC, start + 0.02 * n) for n, data in enumerate(stream.packets)]
    recorder.process(arrivals[:10], start + 0.2)  # 0.0-0.2 s: recorded
    recorder.set_muted(True, start + 0.195)  # paused just before packet 10 arrived
    recorder.set_muted(False, start + 0.395)  # resumed before that batch was processed
    recorder.process(arrivals[10:20], start + 0.45)  # arrived 0.2-0.38 s, while paused
    recorder.process(arrivals[20:], start + 0.65)
    recorder.process([], start + 2.0)
    recorder.finish()
    expected = decode_pcmu(b"".join(p[12:] for p in stream.packets))
    assert len(sink.samples) == len(expected) == 4800
    assert np.array_equal(sink.samples[:1600], expected[:1600])
    assert not sink.samples[1600:3200].any(), "audio that arrived while paused was written"
    assert np.array_equal(sink.samples[3200:], expected[3200:])


def test_audio_before_a_gap_in_the_same_batch_is_kept() -> None:
    """One 100 ms batch holding voice, a DTX jump of 60 ms, then voice again: every
    voice packet lands at its RTP time and the jump is silence (a regression: the
    silence used to be written first and the audio before it was dropped)."""
    voiced = decode_pcmu(bytes([0x10]) * 160)
    timestamps = [0, 160, 320, 960, 1120]  # 480-1 ... 960: three packet times of DTX
    packets = [
        rtp_packet(bytes([0x10]) * 160, seq=1 + n, timestamp=ts, ssrc=5, marker=n == 3)
        for n, ts in enumerate(timestamps)
    ]
    sink = Sink()
    recorder = StreamRecorder(_plan(), sink)
    recorder.process([(p, SRC, 1000.0 + 0.02 * n) for n, p in enumerate(packets)], 1000.1)
    recorder.finish()
    assert len(sink.samples) == 1280
    for ts in timestamps:
        assert np.array_equal(sink.samples[ts : ts + 160], voiced), f"packet at {ts} missing"
    assert not sink.samples[480:960].any()


def test_a_thread_lane_writes_what_the_inline_path_writes() -> None:
    """Decoding and writing on a worker lane (the daemon's way) gives the same samples,
    in order, as running them inline; the barrier waits for every queued job."""
    stream = g711_stream(SRC, 440, 2.0, ssrc=7)
    packets = impair(stream.packets, lose=[10, 11, 40], swap=[20, 60], duplicate=[30])
    inline_sink, lane_sink = Sink(), Sink()
    lanes = Lanes(2)
    try:
        lane = lanes.lane("session-1")
        recorders = [
            StreamRecorder(_plan(), inline_sink),
            StreamRecorder(_plan(), lane_sink, lane=lane),
        ]
        for start in range(0, len(packets), 5):  # 100 ms batches, like the daemon's tick
            now = 1000.0 + 0.02 * start
            batch = [(p, SRC, now + 0.02 * k) for k, p in enumerate(packets[start : start + 5])]
            for recorder in recorders:
                recorder.process(batch, now + 0.1)
            lanes.flush()
        for recorder in recorders:
            recorder.process([], 1010.0)
            recorder.finish()
        lane.barrier().result(timeout=10)
    finally:
        lanes.close()
    assert len(inline_sink.samples) == 16000
    assert np.array_equal(lane_sink.samples, inline_sink.samples)
