"""StreamRecorder with the codec registry: file format, timeline rate, placement."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from siprec_appliance.appliance.receiver import StreamRecorder, audio_format
from siprec_appliance.sdp.answer import StreamPlan
from support.rtp_sender import rtp_packet
from unit.codec_fixtures import load, peak_hz

SRC = ("192.0.2.1", 4000)


def _plan(codecs: tuple[str, ...], pts: tuple[int, ...], fmtps: dict[int, str]) -> StreamPlan:
    return StreamPlan(
        index=0,
        media="audio",
        proto="RTP/AVP",
        accepted=True,
        refuse_reason=None,
        label="1",
        offered_direction="sendonly",
        answer_direction="recvonly",
        payload_types=pts,
        codecs=codecs,
        rtcp_mux=False,
        rtcp_attribute=False,
        offered_formats=tuple(str(pt) for pt in pts),
        fmtps=tuple(fmtps.items()),
    )


class Sink:
    """An in-memory WavWriter stand-in: frame offsets, interleaved channels."""

    def __init__(self, channels: int = 1) -> None:
        self.channels = channels
        self.samples = np.zeros(0, dtype=np.int16)

    @property
    def frames(self) -> int:
        return len(self.samples) // self.channels

    def write_at(self, offset: int, samples: npt.NDArray[np.int16]) -> None:
        self.pad_to(offset)
        assert offset == self.frames, "written out of order"
        self.samples = np.concatenate([self.samples, samples])

    def pad_to(self, offset: int) -> None:
        if offset > self.frames:
            gap = np.zeros((offset - self.frames) * self.channels, dtype=np.int16)
            self.samples = np.concatenate([self.samples, gap])


def _record(
    plan: StreamPlan, payloads: list[bytes], pt: int, step: int, sink: Sink
) -> StreamRecorder:
    """One packet per 20 ms tick; ``step`` is the RTP timestamp increment."""
    recorder = StreamRecorder(plan, sink)
    for n, payload in enumerate(payloads):
        now = 1000.0 + 0.02 * n
        data = rtp_packet(payload, seq=100 + n, timestamp=5000 + step * n, ssrc=3, pt=pt)
        recorder.process([(data, SRC, now)], now)
    recorder.finish()
    return recorder


def test_g722_records_16khz_on_an_8000_clock() -> None:
    plan = _plan(("G722/8000", "telephone-event/8000"), (9, 101), {})
    assert audio_format(plan) == (16000, 1)
    sink = Sink()
    recorder = _record(plan, load("g722_1khz.hex"), 9, 160, sink)
    assert (recorder.sample_rate, recorder.clock_rate) == (16000, 8000)
    assert (recorder.timeline.sample_rate, recorder.timeline.clock_rate) == (16000, 8000)
    assert sink.frames == 16000
    assert abs(peak_hz(sink.samples, 16000) - 1000) <= 10
    assert recorder.report()["not_decoded"] == 0


def test_opus_stereo_records_two_channels_at_48khz() -> None:
    plan = _plan(("opus/48000/2",), (111,), {111: "stereo=1; sprop-stereo=1"})
    assert audio_format(plan) == (48000, 2)
    sink = Sink(2)
    _record(plan, load("opus_stereo_1khz_1500hz.hex"), 111, 960, sink)
    assert abs(sink.frames - 48000) <= 960
    channels = sink.samples.reshape(-1, 2)
    assert abs(peak_hz(channels[:, 0], 48000) - 1000) <= 10
    assert abs(peak_hz(channels[:, 1], 48000) - 1500) <= 10


def test_amr_bandwidth_efficient_two_frames_per_packet() -> None:
    plan = _plan(("AMR-WB/16000",), (97,), {97: "mode-set=2"})
    assert audio_format(plan) == (16000, 1)
    sink = Sink()
    _record(plan, load("amrwb_1265_be.hex"), 97, 640, sink)  # 40 ms per packet
    assert sink.frames == 16000
    assert abs(peak_hz(sink.samples, 16000) - 1000) <= 10


def test_g729_dtx_leaves_silence_of_the_right_length() -> None:
    payloads = load("g729b_dtx.hex")  # speech, a SID, then empty DTX payloads
    plan = _plan(("G729/8000",), (18,), {18: "annexb=yes"})
    sink = Sink()
    recorder = _record(plan, payloads, 18, 160, sink)
    assert sink.frames == 8000, "one packet time per payload, empty ones too"
    sid = next(n for n, p in enumerate(payloads) if len(p) == 2)
    assert not sink.samples[sid * 160 :].any()
    assert abs(peak_hz(sink.samples[: 20 * 160], 8000) - 1000) <= 10
    assert recorder.report()["corrupt_payloads"] == 0


def test_corrupt_payload_is_counted_and_silent_in_the_file() -> None:
    payloads = load("amrnb_122_octet.hex")[:10]
    payloads[4] = payloads[4][:9]  # truncated: a 40 ms hole of silence
    plan = _plan(("AMR/8000",), (96,), {96: "octet-align=1"})
    sink = Sink()
    recorder = _record(plan, payloads, 96, 320, sink)
    assert recorder.report()["corrupt_payloads"] == 1
    assert sink.frames == 10 * 320
    assert not sink.samples[4 * 320 : 4 * 320 + 160].any()
    assert sink.samples[5 * 320 : 6 * 320].any()


def test_other_format_in_the_same_stream_is_not_decoded() -> None:
    plan = _plan(("PCMU/8000", "G722/8000"), (0, 9), {})
    assert audio_format(plan) == (8000, 1), "the first decodable codec sets the format"
    sink = Sink()
    recorder = _record(plan, load("g722_1khz.hex")[:5], 9, 160, sink)
    report = recorder.report()
    assert report["not_decoded"] == 5 and report["unknown_payload_type"] == 0
    assert not sink.samples.any()


def test_nothing_decodable_has_no_format() -> None:
    assert audio_format(_plan(("GSM/8000",), (3,), {})) is None
