"""The in-order fast path against the full per-packet path.

``StreamRecorder`` sends in-order G.711 packets through
:class:`~siprec_appliance.rtp.timeline.InOrderPath` (no packet or segment objects,
one decode per run); with ``fast_path = False`` every packet goes the full way
(parse, source latch, SSRC lock, ``JitterBuffer.push``, ``StreamTimeline.push``).
Both must give the same file, the same report and, after every batch, the same
state in the jitter buffer, the stats and the timeline, so that either path can
take the next packet. Streams are random (seeded, and drawn by Hypothesis): loss,
reorder, duplicates, late packets, SSRC changes, sequence restarts and wraps,
DTX and timestamp jumps, CN, telephone events, codec and packet-time changes,
pauses, operator mutes, foreign sources and SSRCs, malformed packets, RTCP,
CSRC/extension/padding, SRTP with tampered packets.
"""

from __future__ import annotations

import random
import struct
import tempfile
from pathlib import Path
from typing import Any

import pylibsrtp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siprec_appliance.appliance.receiver import StreamRecorder
from siprec_appliance.appliance.recording import WavWriter
from siprec_appliance.rtp import (
    AudioRun,
    InOrderPath,
    JitterBuffer,
    RtpPacket,
    Segment,
    StreamStats,
    StreamTimeline,
)
from siprec_appliance.sdp.answer import StreamPlan
from siprec_appliance.sdp.crypto import SUITES
from support.plans import g711_plan
from support.rtp_sender import SrtpSender, tamper

SRC = ("192.0.2.1", 4000)
FOREIGN = ("192.0.2.66", 4000)
SUITE = "AES_CM_128_HMAC_SHA1_80"
KEY = bytes([0x5A]) * SUITES[SUITE].master_length
Datagram = tuple[bytes, tuple[str, int], float]

# Events of the random sender, with their weight in a rough stream.
EVENTS = {
    "loss": 6,
    "burst_loss": 1,
    "reorder": 5,
    "late": 2,
    "duplicate": 4,
    "dtx": 3,
    "ts_jump": 1,
    "ts_back": 1,
    "marker": 1,
    "cn": 1,
    "dtmf": 2,
    "ssrc": 1,
    "restart": 1,
    "codec": 1,
    "ptime": 1,
    "pause": 1,
    "foreign_source": 1,
    "foreign_ssrc": 1,
    "interloper": 1,
    "malformed": 1,
    "rtcp": 2,
    "csrc": 1,
    "extension": 1,
    "padding": 1,
    "empty": 1,
    "odd_length": 1,
    "unknown_pt": 1,
    "tamper": 1,
}


def plan(*, srtp: bool = False) -> StreamPlan:
    return g711_plan(srtp_key=KEY if srtp else None)


def rtp(
    payload: bytes,
    *,
    seq: int,
    ts: int,
    ssrc: int,
    pt: int,
    marker: bool = False,
    csrc: tuple[int, ...] = (),
    extension: bytes | None = None,
    padding: int = 0,
) -> bytes:
    """RFC 3550 §5.1 packet, written out here so the test does not use RtpPacket."""
    first = 0x80 | len(csrc) | (0x10 if extension is not None else 0) | (0x20 if padding else 0)
    head = struct.pack(
        "!BBHII", first, pt | (0x80 if marker else 0), seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc
    )
    head += b"".join(struct.pack("!I", c) for c in csrc)
    if extension is not None:
        head += struct.pack("!HH", 0xBEDE, len(extension) // 4) + extension
    pad = bytes(padding - 1) + bytes([padding]) if padding else b""
    return head + payload + pad


class Sender:
    """An SRC with a random life: what it sends, and when each datagram arrives."""

    def __init__(self, rng: random.Random, roughness: float, srtp: bool) -> None:
        self.rng = rng
        self.roughness = roughness
        self.srtp = SrtpSender(SUITE, KEY) if srtp else None
        self.ssrc = rng.randrange(1 << 32)
        self.seq = rng.choice([rng.randrange(1 << 16), 65_530])  # sometimes wrap early
        self.ts = rng.choice([rng.randrange(1 << 32), (1 << 32) - 1_000])
        self.pt = 0
        self.ptime = 160
        self.t = 1000.0
        self.last: bytes | None = None
        self.out: list[tuple[float, int, bytes, tuple[str, int]]] = []

    def arrival(self, delay: float = 0.0) -> float:
        return self.t + abs(self.rng.gauss(0.0, 0.003)) + delay

    def deliver(self, data: bytes, *, addr: tuple[str, int] = SRC, delay: float = 0.0) -> None:
        self.out.append((self.arrival(delay), len(self.out), data, addr))

    def send(self, packet: bytes, *, delay: float = 0.0, protect: bool = True) -> bytes:
        if self.srtp is not None and protect:
            packet = self.protect(packet)
        self.deliver(packet, delay=delay)
        self.last = packet
        return packet

    def protect(self, packet: bytes) -> bytes:
        assert self.srtp is not None
        try:
            return self.srtp.protect([packet])[0]
        except pylibsrtp.Error:  # an index the sender's own replay list refuses
            self.srtp = SrtpSender(SUITE, KEY)
            return self.srtp.protect([packet])[0]

    def audio(self, **kw: Any) -> None:
        """The next packet of the current talkspurt (``kw`` varies its header)."""
        payload = kw.pop("payload", None)
        if payload is None:
            payload = self.rng.randbytes(self.ptime)
        delay = kw.pop("delay", 0.0)
        pt = kw.pop("pt", self.pt)
        self.send(rtp(payload, seq=self.seq, ts=self.ts, ssrc=self.ssrc, pt=pt, **kw), delay=delay)
        self.advance()

    def advance(self, packets: int = 1) -> None:
        self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + packets * self.ptime) & 0xFFFFFFFF
        self.t += packets * self.ptime / 8000

    def step(self) -> None:
        rng = self.rng
        if rng.random() >= self.roughness:
            self.audio()
            return
        event = rng.choices(list(EVENTS), weights=list(EVENTS.values()))[0]
        getattr(self, "_" + event)()

    # ----------------------------------------------------------------- events
    def _loss(self) -> None:
        self.advance()

    def _burst_loss(self) -> None:
        for _ in range(self.rng.randint(2, 40)):
            self.advance()

    def _reorder(self) -> None:
        self.audio(delay=self.rng.uniform(0.021, 0.12))

    def _late(self) -> None:
        self.audio(delay=self.rng.uniform(0.35, 1.2))  # after the hole was given up

    def _duplicate(self) -> None:
        if self.last is not None:
            self.deliver(self.last, delay=self.rng.uniform(0.0, 0.2))
        self.audio()

    def _dtx(self) -> None:
        skipped = self.rng.randint(1, 30)
        self.ts = (self.ts + skipped * self.ptime) & 0xFFFFFFFF
        self.t += skipped * self.ptime / 8000
        self.audio(marker=True)

    def _ts_jump(self) -> None:
        self.ts = (self.ts + self.rng.randint(1, 5_000)) & 0xFFFFFFFF
        self.audio()

    def _ts_back(self) -> None:
        self.ts = (self.ts - self.rng.randint(1, 5_000)) & 0xFFFFFFFF
        self.audio()

    def _marker(self) -> None:
        self.audio(marker=True)

    def _cn(self) -> None:
        self.audio(pt=13, payload=bytes([40]))  # RFC 3389: noise level only
        skipped = self.rng.randint(0, 20)
        self.ts = (self.ts + skipped * self.ptime) & 0xFFFFFFFF
        self.t += skipped * self.ptime / 8000

    def _dtmf(self) -> None:
        """RFC 4733 §2.5: one event, its updates and three end packets, one timestamp."""
        digit, steps = self.rng.randrange(16), self.rng.randint(1, 6)
        for n in range(steps + 3):
            end = n >= steps
            duration = min(n + 1, steps) * self.ptime
            payload = struct.pack("!BBH", digit, (0x80 if end else 0) | 10, duration)
            packet = rtp(payload, seq=self.seq, ts=self.ts, ssrc=self.ssrc, pt=101, marker=n == 0)
            self.send(packet)
            self.seq = (self.seq + 1) & 0xFFFF
            self.t += self.ptime / 8000
        self.ts = (self.ts + steps * self.ptime) & 0xFFFFFFFF

    def _ssrc(self) -> None:
        self.ssrc = self.rng.randrange(1 << 32)
        self.seq = self.rng.randrange(1 << 16)
        self.ts = self.rng.randrange(1 << 32)
        self.audio(marker=True)

    def _restart(self) -> None:
        self.seq = self.rng.randrange(1 << 16)
        self.audio()

    def _codec(self) -> None:
        self.pt = 8 if self.pt == 0 else 0
        self.audio()

    def _ptime(self) -> None:
        self.ptime = self.rng.choice([80, 160, 240])
        self.audio()

    def _pause(self) -> None:
        self.t += self.rng.uniform(0.5, 3.0)  # the SSRC lock gives way after 1 s
        if self.rng.random() < 0.5:
            self._ssrc()
        else:
            self.audio(marker=True)

    def _foreign_source(self) -> None:
        self.deliver(rtp(self.rng.randbytes(160), seq=1, ts=1, ssrc=self.ssrc, pt=0), addr=FOREIGN)
        self.audio()

    def _foreign_ssrc(self) -> None:
        for _ in range(self.rng.randint(1, 6)):
            other = rtp(self.rng.randbytes(160), seq=self.seq, ts=self.ts, ssrc=7, pt=0)
            self.send(other)
            self.audio()

    def _interloper(self) -> None:
        """The locked SSRC falls silent for over a second, another starts (not yet
        taken: on probation), then the first goes on where it stopped."""
        self.t += self.rng.uniform(1.05, 1.5)
        other = self.rng.randrange(1 << 32)
        for n in range(self.rng.randint(1, 6)):
            packet = rtp(self.rng.randbytes(160), seq=n, ts=160 * n, ssrc=other, pt=0)
            self.send(packet)
            self.t += 0.02
        self.audio()

    def _malformed(self) -> None:
        self.deliver(b"\x80\x00\x01")
        self.audio()

    def _rtcp(self) -> None:
        # RFC 3550 §6.4.1 SR, muxed on the RTP port (RFC 5761).
        ntp = int((self.t + 2_208_988_800) * (1 << 32))
        sr = struct.pack("!BBHIQIII", 0x80, 200, 6, self.ssrc, ntp, self.ts, 0, 0)
        self.deliver(sr if self.srtp is None else self.srtp.protect_rtcp(sr))
        self.audio()

    def _csrc(self) -> None:
        self.audio(csrc=(1, 2))

    def _extension(self) -> None:
        self.audio(extension=b"\x10\xaa\x00\x00")

    def _padding(self) -> None:
        self.audio(padding=4)

    def _empty(self) -> None:
        self.audio(payload=b"")

    def _odd_length(self) -> None:
        self.audio(payload=self.rng.randbytes(self.rng.randint(1, 300)))

    def _unknown_pt(self) -> None:
        self.audio(pt=18)

    def _tamper(self) -> None:
        if self.srtp is None:
            self.audio()
            return
        packet = rtp(self.rng.randbytes(160), seq=self.seq, ts=self.ts, ssrc=self.ssrc, pt=self.pt)
        self.deliver(tamper(self.protect(packet)))  # forged: auth fails
        self.audio()

    def datagrams(self) -> list[Datagram]:
        """What the socket received, in arrival order."""
        return [(data, addr, at) for at, _, data, addr in sorted(self.out)]


def random_stream(seed: int, packets: int, *, srtp: bool = False) -> list[Datagram]:
    rng = random.Random(seed)
    sender = Sender(rng, rng.choice([0.0, 0.005, 0.02, 0.1, 0.3]), srtp)
    for _ in range(packets):
        sender.step()
    return sender.datagrams()


def snapshot(recorder: StreamRecorder, writer: WavWriter) -> dict[str, Any]:
    """Everything either path may change, and what it wrote."""
    keep = ("source", "_ssrc", "_ssrc_seen", "_candidate", "_muted_seqs", "counters")
    return {
        "jitter": {k: v for k, v in vars(recorder.jitter).items() if k != "stats"},
        "stats": dict(vars(recorder.stats)),
        "timeline": {k: v for k, v in vars(recorder.timeline).items() if k != "_packet_duration"},
        "recorder": {k: vars(recorder)[k] for k in keep},
        "dtmf": list(recorder.dtmf_events),
        "report": recorder.report(),
        "writer": (writer.frames, writer.dropped_frames, b"".join(writer._pending)),
    }


class Counting(StreamRecorder):
    """A recorder that counts the packets that took the full path."""

    full = 0

    def _receive(self, *args: Any) -> None:
        self.full += 1
        super()._receive(*args)


def compare(
    seed: int, datagrams: list[Datagram], *, srtp: bool = False, mutes: bool = True
) -> Counting:
    """Feed both paths the same batches (100 ms ticks, sometimes longer, random mutes)
    and compare their state after every batch and their files at the end."""
    rng = random.Random(seed ^ 0x5EED)
    with tempfile.TemporaryDirectory() as directory:
        writers = [WavWriter(Path(directory) / f"{n}.wav", 8000) for n in range(2)]
        fast = Counting(plan(srtp=srtp), writers[0])
        full = StreamRecorder(plan(srtp=srtp), writers[1])
        full.fast_path = False
        recorders: list[StreamRecorder] = [fast, full]
        now = 1000.0
        index = 0
        while index < len(datagrams):
            tick = rng.choice([0.02, 0.1, 0.1, 0.1, 0.1, 0.3, 1.0])
            if mutes and rng.random() < 0.03:  # an operator's pause or resume in this tick
                at = now + rng.uniform(-0.1, tick)
                muted = not fast.muted
                for recorder in recorders:
                    recorder.set_muted(muted, at)
            now += tick
            batch = []
            while index < len(datagrams) and datagrams[index][2] <= now:
                batch.append(datagrams[index])
                index += 1
            for recorder in recorders:
                recorder.process(batch, now)
            assert snapshot(fast, writers[0]) == snapshot(full, writers[1]), f"at {now}"
            if rng.random() < 0.2:
                for writer in writers:
                    writer.sync()
        for recorder in recorders:
            recorder.process([], now + 2.0)
            recorder.finish()
        assert snapshot(fast, writers[0]) == snapshot(full, writers[1])
        for writer in writers:
            writer.close(fsync=False)
        files = [writer.path.read_bytes() for writer in writers]
    assert files[0] == files[1]
    return fast


@pytest.mark.parametrize("seed", range(40))
def test_fast_path_writes_and_counts_what_the_full_path_does(seed: int) -> None:
    compare(seed, random_stream(seed, 1_500))


@pytest.mark.parametrize("seed", range(8))
def test_fast_path_after_srtp_matches_the_full_path(seed: int) -> None:
    compare(seed, random_stream(seed, 600, srtp=True), srtp=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.integers(1, 400), st.booleans())
def test_fast_path_matches_the_full_path_on_drawn_streams(
    seed: int, packets: int, srtp: bool
) -> None:
    compare(seed, random_stream(seed, packets, srtp=srtp), srtp=srtp)


def test_a_clean_stream_takes_the_fast_path() -> None:
    """After the packet that latches the source, every in-order packet is taken fast,
    across 16-bit sequence and 32-bit timestamp wraps (the wrap packet goes the full
    way once: StreamStats counts the cycle there)."""
    rng = random.Random(1)
    sender = Sender(rng, 0.0, srtp=False)
    sender.seq, sender.ts = 65_000, (1 << 32) - 50_000
    for _ in range(1_000):
        sender.step()
    recorder = compare(1, sender.datagrams(), mutes=False)
    assert recorder.full == 2  # the first packet and seq 0 after 65535
    report = recorder.report()
    assert (report["received"], report["lost"], report["expected"]) == (1_000, 0, 1_000)


def test_impairments_fall_back_and_the_fast_path_resumes() -> None:
    rng = random.Random(2)
    sender = Sender(rng, 0.0, srtp=False)
    for n in range(1_000):
        if n % 100 == 50:
            sender._loss()
        elif n % 100 == 80:
            sender._dtx()
        else:
            sender.step()
    recorder = compare(2, sender.datagrams(), mutes=False)
    # A loss holds the packets behind the hole (full path) until it times out.
    assert recorder.full < 250
    assert recorder.report()["lost"] == 10


def test_a_marker_without_a_jump_does_not_teach_the_packet_interval() -> None:
    """RFC 3551 §4.1: a marker starts a talkspurt, so JitterBuffer does not learn the
    packet interval from it; the fast path leaves such packets to the full path."""
    sender = Sender(random.Random(3), 0.0, srtp=False)
    sender.seq = 1_000
    for _ in range(10):
        sender.audio()
    sender.ptime = 80
    for n in range(20):
        sender.audio(marker=n % 5 == 4)  # the last packet of each 100 ms batch
    recorder = compare(3, sender.datagrams(), mutes=False)
    assert recorder.full == 5


# --------------------------------------------------------------- the pure layer
def _pure(
    packets: list[bytes], arrivals: list[float], fast: bool
) -> tuple[JitterBuffer, StreamTimeline, list[tuple[str, int, int, bytes]]]:
    """Jitter buffer + timeline fed per packet, or through InOrderPath where it takes."""
    stats = StreamStats(8000)
    jitter = JitterBuffer(32, 0.3, stats=stats)
    timeline = StreamTimeline(8000, 8000, event_types=(101,), packet_duration=_octets)
    path = InOrderPath(jitter, timeline)
    placed: list[tuple[str, int, int, bytes]] = []

    def place(segment: Segment | AudioRun) -> None:
        if isinstance(segment, AudioRun):
            placed.append(("audio", segment.sample_offset, segment.duration, segment.payload))
        else:
            payload = b"" if segment.packet is None else segment.packet.payload
            placed.append((segment.kind, segment.sample_offset, segment.duration, payload))

    items = iter(zip(packets, [SRC] * len(packets), arrivals, strict=True))
    while True:
        if fast:
            run, item = path.take(items, SRC, 5, float("-inf"), {0, 8})
            if run is not None:
                place(run)
        else:
            item = next(items, None)
        if item is None:
            break
        packet = RtpPacket.parse(item[0])
        for released in jitter.push(packet, item[2]):
            for segment in timeline.push(released, item[2]):
                place(segment)
    return jitter, timeline, _merge(placed)


def _plain_rtp_of_ssrc_5(datagram: Datagram) -> bool:
    """What reaches a jitter buffer after the recorder's checks (source, SSRC lock)."""
    data, addr, _ = datagram
    return addr == SRC and len(data) >= 12 and data[1] < 192 and data[8:12] == bytes([0, 0, 0, 5])


def _octets(packet: RtpPacket) -> int:
    return len(packet.payload) or 160


def _merge(placed: list[tuple[str, int, int, bytes]]) -> list[tuple[str, int, int, bytes]]:
    """Adjacent audio joined, so that runs and single packets compare."""
    out: list[tuple[str, int, int, bytes]] = []
    for kind, offset, duration, payload in placed:
        if out and kind == out[-1][0] == "audio" and out[-1][1] + out[-1][2] == offset:
            last = out.pop()
            out.append((kind, last[1], last[2] + duration, last[3] + payload))
        else:
            out.append((kind, offset, duration, payload))
    return out


@pytest.mark.parametrize("seed", range(10))
def test_in_order_path_leaves_the_state_push_leaves(seed: int) -> None:
    rng = random.Random(seed)
    sender = Sender(rng, 0.05, srtp=False)
    sender.ssrc = 5
    for _ in range(800):
        sender.step()
    datagrams = [d for d in sender.datagrams() if _plain_rtp_of_ssrc_5(d)]
    packets, arrivals = [d[0] for d in datagrams], [d[2] for d in datagrams]
    results = [_pure(packets, arrivals, fast) for fast in (True, False)]
    (jitter_a, timeline_a, placed_a), (jitter_b, timeline_b, placed_b) = results
    assert placed_a == placed_b
    assert {k: v for k, v in vars(jitter_a).items() if k != "stats"} == {
        k: v for k, v in vars(jitter_b).items() if k != "stats"
    }
    assert vars(jitter_a.stats) == vars(jitter_b.stats)
    assert {k: v for k, v in vars(timeline_a).items() if k != "_packet_duration"} == {
        k: v for k, v in vars(timeline_b).items() if k != "_packet_duration"
    }
