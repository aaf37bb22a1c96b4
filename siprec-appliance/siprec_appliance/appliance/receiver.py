"""RTP reception: a socket's datagrams in, placed and decoded audio out.

Two halves, so that the per-packet path stays as short as Python allows:

* :class:`StreamReceiver` is the ``asyncio.DatagramProtocol`` of one socket (an RTP
  port, or its RTCP port). ``datagram_received`` only appends ``(data, addr,
  arrival)`` to a list.
* :class:`StreamRecorder` is one recorded stream (one ``m=`` line). The server
  calls :meth:`StreamReceiver.process` every ``PROCESS_SECONDS`` for every
  receiver; the batch goes to the receiver's recorder, which runs the recipe of
  :mod:`siprec_appliance.rtp`: parse, latch the source, lock the SSRC,
  ``JitterBuffer.push`` -> ``StreamTimeline.push_all``, then decode each payload
  type's packets in one batch (:mod:`siprec_appliance.codecs`) and write them at
  the timeline's sample offsets into an :class:`AudioSink`.
  Runs of in-order G.711 packets (the common case) take the fast path instead,
  :class:`~siprec_appliance.rtp.timeline.InOrderPath`: no packet or segment
  object per packet, one table lookup and one write per run, the same state left
  in the jitter buffer, stats and timeline; anything else goes the full way.
  A recorder outlives its ports: a re-INVITE may move the stream to a new port,
  and the same recorder (and file) continues there.

Arrival times are Unix time (``time.time()``) so that RTCP sender reports and
arrivals are on one scale (see :mod:`siprec_appliance.rtp.timeline`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any, Protocol, cast

import numpy as np
import numpy.typing as npt
import pylibsrtp

from siprec_appliance.appliance.lanes import INLINE, Lane
from siprec_appliance.codecs import Decoder, decoder_for
from siprec_appliance.codecs.g711 import G711Decoder
from siprec_appliance.rtp import (
    CODEC_IMPAIRMENTS,
    AudioRun,
    DtmfAggregator,
    DtmfEvent,
    InOrderPath,
    JitterBuffer,
    Released,
    RtpError,
    RtpPacket,
    Segment,
    SenderReport,
    StreamStats,
    StreamTimeline,
    is_rtcp,
    mos_from_r,
    parse_compound,
    r_factor,
)
from siprec_appliance.rtp.timeline import PT_CN
from siprec_appliance.sdp.answer import StreamPlan
from siprec_appliance.sdp.crypto import SUITES, CryptoAttribute

log = logging.getLogger("siprec.media")

PROCESS_SECONDS = 0.1  # a batch per socket this often (SYNC_SECONDS stays the bound)
G711_RATE = 8000  # the format of a stream with no decodable codec
PTIME = 0.02  # assumed packet length when a payload does not say
JITTER_PACKETS = 32  # packets held behind a hole before it is declared lost
JITTER_DELAY = 0.3  # seconds a hole may wait for a late packet
SSRC_SILENCE = 1.0  # the locked SSRC must be silent this long before another is taken
SSRC_PROBATION = 5  # packets a new SSRC must send before it is taken
_NEVER = float("-inf")
_clock = time.time

Address = tuple[Any, ...]
Arrival = tuple[bytes, Address, float]
# What the lane writes: (payload type, payload, sample offset, duration) of audio to
# decode, or (-1, b"", offset, duration) for silence. One entry may be a whole run of
# in-order packets (their payloads joined).
Placed = tuple[int, bytes, int, int]

# SDP crypto suite (RFC 4568 §6.2, RFC 7714 §14.2) -> libsrtp profile.
SRTP_PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    "AEAD_AES_128_GCM": pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    "AEAD_AES_256_GCM": pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
}
# libsrtp's error texts (pylibsrtp.Error) for the two counted refusals.
_AUTH_FAILURE = "authentication failure"
_REPLAY = ("replay check failed (bad index)", "replay check failed (index too old)")


def srtp_session(crypto: CryptoAttribute) -> pylibsrtp.Session:
    """An inbound SRTP/SRTCP context keyed with the SRC's offered master key.

    RFC 4568 §6.1: the key of an ``a=crypto`` line is its sender's, so the SRC's
    offer carries the key of the media we receive. One context serves every SSRC
    of the stream (libsrtp ``ssrc_any_inbound``) and both SRTP and SRTCP, which
    derive their own session keys from the same master key (RFC 3711 §4.3).
    """
    policy = pylibsrtp.Policy(
        key=crypto.key_salt,
        ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
        srtp_profile=SRTP_PROFILES[crypto.suite],
    )
    if crypto.window_size is not None:
        policy.window_size = crypto.window_size  # RFC 4568 §6.3.7 WSH
    return pylibsrtp.Session(policy)


class AudioSink(Protocol):
    """Where a recorder writes 16-bit samples by frame offset (a ``WavWriter``)."""

    def write_at(self, offset: int, samples: npt.NDArray[np.int16]) -> None: ...

    def pad_to(self, offset: int) -> None: ...


def stream_decoders(plan: StreamPlan) -> dict[int, Decoder]:
    """A fresh decoder per decodable payload type of the plan, in answer order."""
    fmtps = dict(plan.fmtps)
    decoders: dict[int, Decoder] = {}
    for pt, codec in zip(plan.payload_types, plan.codecs, strict=False):
        decoder = decoder_for(codec, fmtps.get(pt))
        if decoder is not None:
            decoders[pt] = decoder
    return decoders


def audio_format(plan: StreamPlan) -> tuple[int, int] | None:
    """``(sample_rate, channels)`` of the stream's recording, from its first decodable
    codec (8 kHz G.711/G.729/AMR, 16 kHz G.722/AMR-WB, 48 kHz Opus, L16 as given);
    None when nothing in the plan can be decoded."""
    first = next(iter(stream_decoders(plan).values()), None)
    return None if first is None else (first.sample_rate, first.channels)


def _write_run(sink: AudioSink, offset: int, run: list[npt.NDArray[np.int16]]) -> None:
    """Write consecutive exact packets' samples at ``offset`` in one call."""
    if run:
        sink.write_at(offset, run[0] if len(run) == 1 else np.concatenate(run))


class StreamReceiver(asyncio.DatagramProtocol):
    """One socket: collects datagrams for :meth:`process`, counts them."""

    def __init__(self, port: int, *, rtcp: bool = False) -> None:
        self.port = port
        self.rtcp = rtcp  # the RTCP port of a pair: everything here is RTCP
        self.batch: list[Arrival] = []
        self.recorder: StreamRecorder | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.unclaimed = 0  # datagrams no recorder took (before the session was answered)
        self._taken = 0

    @property
    def packets(self) -> int:
        """Datagrams received so far (the session timer's keepalive uses this)."""
        return self._taken + len(self.batch)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # CPython's selector datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        # Per datagram, as uvloop calls it: time.time() is the cheapest clock call
        # (about as cheap as monotonic, and on the Unix scale of RTCP SRs).
        self.batch.append((data, addr, _clock()))

    def error_received(self, exc: Exception) -> None:
        log.debug("RTP port %d: %s", self.port, exc)

    def take(self) -> list[Arrival]:
        """The datagrams received since the last call."""
        batch = self.batch
        if batch:
            self.batch = []
            self._taken += len(batch)
        return batch

    def process(self, now: float) -> None:
        """Hand the batch to the recorder (and let its jitter buffer time out holes)."""
        batch = self.take()
        recorder = self.recorder
        if recorder is None:
            self.unclaimed += len(batch)
        elif self.rtcp:
            recorder.receive_rtcp(batch)
        else:
            recorder.process(batch, now)


class StreamRecorder:
    """One recorded stream: source and SSRC policy, jitter buffer, timeline, decoding.

    The recording's format is fixed by the first decodable codec of the first plan
    (:func:`audio_format`): ``sample_rate``, ``channels`` and the RTP
    ``clock_rate`` of the timeline. A payload type whose decoder has another format
    (say G.722 next to PCMU) is received and counted as ``not_decoded``.

    In-order G.711 packets take :class:`~siprec_appliance.rtp.timeline.InOrderPath`
    (no per-packet objects, one decode and one write per run); set ``fast_path``
    False (on the class or an instance) to send every packet the full way, which
    gives the same files and stats.
    """

    fast_path: bool = True

    def __init__(
        self,
        plan: StreamPlan,
        sink: AudioSink | None,
        *,
        session_id: str = "",
        lane: Lane = INLINE,
    ) -> None:
        self.index = plan.index
        self.lane = lane  # where decoding and writing run (a worker thread in the daemon)
        self.label = plan.label
        self.session_id = session_id
        self.sink = sink
        first = next(iter(stream_decoders(plan).values()), None)
        self.sample_rate = first.sample_rate if first is not None else G711_RATE
        self.clock_rate = first.clock_rate if first is not None else G711_RATE
        self.channels = first.channels if first is not None else 1
        self.stats = StreamStats(self.clock_rate)
        self.jitter = JitterBuffer(JITTER_PACKETS, JITTER_DELAY, stats=self.stats)
        self.dtmf = DtmfAggregator()
        self.dtmf_events: list[dict[str, Any]] = []
        self.counters = dict.fromkeys(
            (
                "malformed",
                "foreign_source",
                "foreign_ssrc",
                "rtcp",
                "not_decoded",
                "unknown_payload_type",
                "corrupt_payloads",
                "srtp_auth_failures",
                "srtp_replays",
            ),
            0,
        )
        self.source: Address | None = None
        self.pauses: list[dict[str, Any]] = []
        self.muted = False  # an operator's pause (API): audio arriving now is not written
        self._muted_seqs: set[int] = set()  # admitted while muted, maybe still in the buffer
        self._unmuted_at = 0.0
        self._mute_spans: list[list[float]] = []  # [paused at, resumed at or inf]
        self._ssrc: int | None = None
        self._ssrc_seen = 0.0
        self._candidate: list[tuple[RtpPacket, float]] = []
        self._warned: set[str] = set()
        self.decoders: dict[int, Decoder] = {}
        self.encodings: dict[int, str] = {}
        self._codecs: dict[int, tuple[str, str | None]] = {}
        self._event_rate = G711_RATE
        self._crypto: CryptoAttribute | None = None
        self._srtp: pylibsrtp.Session | None = None
        self._mki: tuple[int, int] | None = None
        self._octet_decoders: dict[int, G711Decoder] = {}
        self._quiet_from = _NEVER  # arrivals from here on are in no mute span
        self.set_plan(plan)
        self.timeline = StreamTimeline(
            self.clock_rate,
            self.sample_rate,
            event_types=self._event_types,
            packet_duration=self._duration,
        )
        self._in_order = InOrderPath(self.jitter, self.timeline)

    # ------------------------------------------------------------ negotiation
    def set_plan(self, plan: StreamPlan) -> None:
        """The payload types of the answered SDP (RFC 4566 rtpmap) -> decoders.

        A payload type keeps its decoder (and its state) while its codec and fmtp
        stay the same across re-INVITEs.
        """
        if plan.crypto != self._crypto:  # RFC 4568 §7.1.4: new key, new context
            self._crypto = plan.crypto
            self._srtp = None if plan.crypto is None else srtp_session(plan.crypto)
            self._mki = None if plan.crypto is None else plan.crypto.mki
        fmtps = dict(plan.fmtps)
        codecs = {
            pt: (codec, fmtps.get(pt))
            for pt, codec in zip(plan.payload_types, plan.codecs, strict=False)
        }
        self.encodings = {pt: codec.split("/", 1)[0].lower() for pt, (codec, _) in codecs.items()}
        decoders: dict[int, Decoder] = {}
        for pt, (codec, fmtp) in codecs.items():
            decoder = self.decoders.get(pt) if self._codecs.get(pt) == (codec, fmtp) else None
            if decoder is None:
                decoder = decoder_for(codec, fmtp)
            if decoder is not None and self._fits(decoder):
                decoders[pt] = decoder
        self.decoders = decoders
        self._codecs = codecs
        self._event_types = frozenset(
            pt for pt, name in self.encodings.items() if name == "telephone-event"
        )
        for pt in self._event_types:  # RFC 4733 §7.1.1: telephone-event/<clock>
            fields = codecs[pt][0].split("/")
            if len(fields) > 1 and fields[1].isdigit() and int(fields[1]) > 0:
                self._event_rate = int(fields[1])
        # The fast path's payload types: one octet, one clock unit, one sample.
        self._octet_decoders = {
            pt: decoder
            for pt, decoder in decoders.items()
            if isinstance(decoder, G711Decoder) and pt not in self._event_types and pt != PT_CN
        }

    def _fits(self, decoder: Decoder) -> bool:
        """Whether the decoder's output goes into this stream's file and timeline."""
        return (decoder.sample_rate, decoder.channels, decoder.clock_rate) == (
            self.sample_rate,
            self.channels,
            self.clock_rate,
        )

    def renegotiated(self, plan: StreamPlan) -> None:
        """A re-INVITE or UPDATE: new codec map, and a new source or SSRC may start."""
        self.set_plan(plan)
        self.source = None
        self._ssrc = None
        self._candidate = []

    def note_pause(self, paused: bool, at: float, *, by: str | None = None) -> None:
        """Pause/resume (RFC 7866 §7.1.1): the timeline leaves silence for the gap."""
        event: dict[str, Any] = {"paused" if paused else "resumed": at}
        if by is not None:
            event["by"] = by
        self.pauses.append(event)

    def set_muted(self, muted: bool, at: float) -> None:
        """An operator's pause (say while a card number is read, PCI DSS): the SRC
        keeps sending, but packets that arrive while muted are written as silence,
        also when the jitter buffer releases them after :meth:`set_muted` (False),
        and their RFC 4733 digits are not recorded."""
        if self.muted and not muted:
            self._unmuted_at = at
            self._mute_spans[-1][1] = at
        elif muted and not self.muted:
            self._mute_spans.append([at, float("inf")])
        self.muted = muted
        if self._mute_spans:  # _arrived_muted looks at these: no arrival after is in one
            self._quiet_from = max(end for _, end in self._mute_spans[-4:])

    def _arrived_muted(self, arrival: float) -> bool:
        """Did this packet arrive during an operator's pause? Decided by arrival time,
        not by when the batch is processed: a packet that arrived while paused and is
        processed after the resume is still silence."""
        return any(start <= arrival < end for start, end in self._mute_spans[-4:])

    # ---------------------------------------------------------------- packets
    def process(self, batch: Iterable[Arrival], now: float) -> None:
        """Everything one socket received since the last call, then jitter timeouts.

        In-order packets go through :meth:`_take_in_order` in runs; the first
        packet of anything else goes the full way (:meth:`_receive`), then the
        fast path is tried again.
        """
        segments: list[Segment | AudioRun] = []
        items = iter(batch) if self._srtp is None else self._unprotected(batch)
        item = self._take_in_order(items, segments)
        while item is not None:
            raw, addr, arrival = item
            if is_rtcp(raw):  # RFC 5761 §4: RTCP multiplexed on the RTP port
                self._rtcp(raw, addr)
            else:
                self._receive(raw, addr, arrival, segments)
            item = self._take_in_order(items, segments)
        timed_out = self.jitter.poll(now)
        if timed_out:
            self._place(timed_out, now, segments)
        if segments and self.sink is not None:
            self._write(segments, self.sink)
        if self._muted_seqs and not self.muted and now - self._unmuted_at > 2 * JITTER_DELAY:
            self._muted_seqs.clear()  # whatever the buffer held from the pause is out

    def _unprotected(self, batch: Iterable[Arrival]) -> Iterator[Arrival]:
        """RFC 3711 §3.3: authenticate and decrypt first; nothing unauthenticated may
        latch the source, lock the SSRC or reach the jitter buffer. RTCP comes out
        as it is (:meth:`_rtcp` unprotects it), in its place in the batch."""
        for raw, addr, arrival in batch:
            if is_rtcp(raw):
                yield raw, addr, arrival
                continue
            data = self._unprotect(raw, rtcp=False)
            if data is not None:
                yield data, addr, arrival

    def _take_in_order(
        self, items: Iterator[Arrival], segments: list[Segment | AudioRun]
    ) -> Arrival | None:
        """Let the fast path take what is in order; the next item for the full path.

        Here the recorder's own policies must be quiet: the source latched, the SSRC
        locked with no candidate on probation, not muted and nothing from a muted
        span still in the jitter buffer. Arrivals before the end of the last mute
        spans are left to the full path (which decides them by :meth:`_arrived_muted`).
        """
        ssrc = self._ssrc
        if (
            ssrc is None
            or self.source is None
            or self.muted
            or self._muted_seqs
            or self._candidate
            or not self._octet_decoders
            or not self.fast_path
        ):
            return next(items, None)
        run, left = self._in_order.take(
            items, self.source, ssrc, self._quiet_from, self._octet_decoders
        )
        if run is not None:
            segments.append(run)
            self._ssrc_seen = self._in_order.last_arrival
        return left

    def _receive(
        self, data: bytes, addr: Address, arrival: float, segments: list[Segment | AudioRun]
    ) -> None:
        """The full path of one (unprotected) RTP packet."""
        try:
            packet = RtpPacket.parse(data)
        except RtpError:
            self.counters["malformed"] += 1
            return
        if self.source is None:
            self.source = addr  # latch on the first valid packet
        elif addr != self.source:
            self.counters["foreign_source"] += 1
            return
        jitter_push = self.jitter.push
        if packet.ssrc == self._ssrc:  # the locked SSRC: what _admit would do
            self._ssrc_seen = arrival
            if self._candidate:
                self._candidate = []
            if self._mute_spans and self._arrived_muted(arrival):
                self._muted_seqs.add(packet.sequence_number)
            released = jitter_push(packet, arrival)
            if released:
                self._place(released, arrival, segments)
            return
        for accepted, at in self._admit(packet, arrival):
            if self._mute_spans and self._arrived_muted(at):
                self._muted_seqs.add(accepted.sequence_number)
            self._place(jitter_push(accepted, at), at, segments)

    def receive_rtcp(self, batch: Iterable[Arrival]) -> None:
        for data, addr, _ in batch:
            self._rtcp(data, addr)

    def finish(self) -> None:
        """End of the session: release what the jitter buffer holds, close DTMF."""
        segments: list[Segment | AudioRun] = []
        self._place(self.jitter.flush(), time.time(), segments)
        if segments and self.sink is not None:
            self._write(segments, self.sink)
        for event in self.dtmf.flush():
            self._record_dtmf(event)

    def _admit(self, packet: RtpPacket, arrival: float) -> list[tuple[RtpPacket, float]]:
        """SSRC lock: another SSRC only after the locked one fell silent (see module)."""
        if packet.ssrc == self._ssrc or self._ssrc is None:
            self._ssrc = packet.ssrc
            self._ssrc_seen = arrival
            self._candidate = []
            return [(packet, arrival)]
        if arrival - self._ssrc_seen <= SSRC_SILENCE:
            self.counters["foreign_ssrc"] += 1
            return []
        if self._candidate and self._candidate[0][0].ssrc != packet.ssrc:
            self.counters["foreign_ssrc"] += len(self._candidate)
            self._candidate = []
        self._candidate.append((packet, arrival))
        if len(self._candidate) < SSRC_PROBATION:
            return []
        log.info(
            "session %s stream %d: SSRC %08x replaces %08x",
            self.session_id,
            self.index,
            packet.ssrc,
            self._ssrc,
        )
        taken, self._candidate = self._candidate, []
        self._ssrc = packet.ssrc
        self._ssrc_seen = arrival
        return taken

    def _unprotect(self, data: bytes, *, rtcp: bool) -> bytes | None:
        """SRTP/SRTCP to RTP/RTCP (RFC 3711 §3.3, §3.4); None when the packet is dropped.

        Authentication failures and replays (RFC 3711 §3.3.2) are counted apart;
        anything else libsrtp refuses (too short, unknown context) counts as
        malformed.
        """
        assert self._srtp is not None
        if self._mki is not None:
            stripped = self._strip_mki(data, rtcp=rtcp)
            if stripped is None:
                return None
            data = stripped
        try:
            return self._srtp.unprotect_rtcp(data) if rtcp else self._srtp.unprotect(data)
        except pylibsrtp.Error as exc:
            message = str(exc)
            if message == _AUTH_FAILURE:
                self.counters["srtp_auth_failures"] += 1
            elif message in _REPLAY:
                self.counters["srtp_replays"] += 1
            else:
                self.counters["malformed"] += 1
        except ValueError:  # longer than pylibsrtp's 1500-byte buffer
            self.counters["malformed"] += 1
        return None

    def _strip_mki(self, data: bytes, *, rtcp: bool) -> bytes | None:
        """Take the MKI out (RFC 3711 §3.1, §3.4: it sits just before the auth tag,
        and is not authenticated); libsrtp is set up without one. A packet with
        another MKI was protected with a key we do not have."""
        assert self._mki is not None and self._crypto is not None
        value, length = self._mki
        tag = SUITES[self._crypto.suite].tag_length
        header = 8 + 4 if rtcp else 12  # RTCP header + SRTCP index, or RTP header
        if len(data) < header + length + tag:
            self.counters["malformed"] += 1
            return None
        end = len(data) - tag
        if int.from_bytes(data[end - length : end], "big") != value:
            self.counters["srtp_auth_failures"] += 1
            return None
        return data[: end - length] + data[end:]

    def _rtcp(self, raw: bytes, addr: Address) -> None:
        if self.source is not None and addr[0] != self.source[0]:
            self.counters["foreign_source"] += 1
            return
        data = raw if self._srtp is None else self._unprotect(raw, rtcp=True)  # §3.4
        if data is None:
            return
        try:
            packets = parse_compound(data)
        except RtpError:
            self.counters["malformed"] += 1
            return
        self.counters["rtcp"] += 1
        for packet in packets:
            if isinstance(packet, SenderReport) and packet.ssrc == self._ssrc:
                self.timeline.on_sender_report(packet)

    # ------------------------------------------------------ placing, decoding
    def _duration(self, packet: RtpPacket) -> int:
        """A packet's length in RTP clock units, from its payload where it says.

        A payload without audio frames (an empty G.729 or Opus DTX packet) still
        stands for one packet time of silence.
        """
        decoder = self.decoders.get(packet.payload_type)
        frames = 0 if decoder is None else decoder.duration(packet.payload)
        if frames <= 0:
            return round(self.clock_rate * PTIME)
        return frames * self.clock_rate // self.sample_rate

    def _place(
        self, released: list[Released], at: float, segments: list[Segment | AudioRun]
    ) -> None:
        """Released packets and gaps (released at ``at``) to the timeline's segments."""
        event_types = self._event_types
        push = self.timeline.push
        for item in released:
            if (
                event_types
                and isinstance(item, RtpPacket)
                and item.payload_type in event_types
                and not self._is_muted(item)
            ):
                self._telephone_event(item)
            segments += push(item, at)

    def _write(self, segments: list[Segment | AudioRun], sink: AudioSink) -> None:
        """Decide on the loop what each segment is; decode and write on the lane.

        A segment becomes audio when its payload type has a decoder and it did not
        arrive during an operator's pause; anything else (loss, DTX silence, muted
        or undecodable packets) is silence of its exact length. Which it is depends
        on state the loop changes (mute spans, the codec map), so it is settled
        here; the job gets the decoders of this moment. An :class:`AudioRun` is
        audio already: the fast path only takes decodable packets while not muted.
        """
        decoders = self.decoders
        run = segments[0]
        if len(segments) == 1 and isinstance(run, AudioRun):
            # The common case: one in-order G.711 run, exact, one lookup and one write.
            decoder = self._octet_decoders[run.payload_type]
            offset, payload = run.sample_offset, run.payload
            if self.lane is INLINE:
                sink.write_at(offset, decoder.samples(payload))
            else:
                self.lane.run(lambda: sink.write_at(offset, decoder.samples(payload)))
            return
        placed: list[Placed] = []
        for segment in segments:
            if isinstance(segment, AudioRun):
                placed.append(
                    (segment.payload_type, segment.payload, segment.sample_offset, segment.duration)
                )
                continue
            packet = segment.packet
            offset, duration = segment.sample_offset, segment.duration
            if segment.kind == "audio" and packet is not None and not self._is_muted(packet):
                if packet.payload_type in decoders:
                    placed.append((packet.payload_type, packet.payload, offset, duration))
                    continue
                self._not_decoded(packet.payload_type)
            placed.append((-1, b"", offset, duration))
        self.lane.run(lambda: self._decode_and_write(placed, decoders, sink))

    def _decode_and_write(
        self, placed: list[Placed], decoders: dict[int, Decoder], sink: AudioSink
    ) -> None:
        """One decoder call per payload type and batch, then every segment in order.

        Writing follows the segments' order, so audio before a gap in the same batch
        is written before the gap's silence (the sink never goes backwards).
        Packets that follow each other exactly go to the sink in one write; a
        packet that decodes short is padded to its segment's length.
        """
        pieces = self._decode_batch(placed, decoders)
        channels = self.channels
        run: list[npt.NDArray[np.int16]] = []  # exact packets not yet written
        run_offset = run_end = -1
        for (_, _, offset, duration), piece in zip(placed, pieces, strict=True):
            if piece is not None and len(piece) == duration * channels:
                if offset == run_end:
                    run.append(piece)
                    run_end += duration
                    continue
                _write_run(sink, run_offset, run)
                run, run_offset, run_end = [piece], offset, offset + duration
                continue
            _write_run(sink, run_offset, run)
            run, run_end = [], -1
            if piece is not None:
                sink.write_at(offset, piece)
            sink.pad_to(offset + duration)
        _write_run(sink, run_offset, run)

    def _decode_batch(
        self, placed: list[Placed], decoders: dict[int, Decoder]
    ) -> list[npt.NDArray[np.int16] | None]:
        """Each audio segment's samples (interleaved), None for silence."""
        pieces: list[npt.NDArray[np.int16] | None] = [None] * len(placed)
        by_type: dict[int, list[int]] = {}
        for n, entry in enumerate(placed):
            if entry[0] >= 0:
                by_type.setdefault(entry[0], []).append(n)
        for payload_type, indexes in by_type.items():
            payloads = [placed[n][1] for n in indexes]
            decoder = decoders[payload_type]
            if isinstance(decoder, G711Decoder):
                # Stateless, one sample per octet: one table lookup, sliced in Python.
                samples = decoder.samples(payloads[0] if len(payloads) == 1 else b"".join(payloads))
                start = 0
                for n, payload in zip(indexes, payloads, strict=True):
                    end = start + len(payload)
                    pieces[n] = samples if len(indexes) == 1 else samples[start:end]
                    start = end
                continue
            decoded = decoder.decode(payloads)
            self.counters["corrupt_payloads"] += decoded.corrupt
            samples, step = decoded.samples, decoded.channels
            offsets = decoded.offsets.tolist()
            for k, n in enumerate(indexes):
                pieces[n] = samples[offsets[k] * step : offsets[k + 1] * step]
        return pieces

    def _is_muted(self, packet: RtpPacket) -> bool:
        return self.muted or packet.sequence_number in self._muted_seqs

    def _not_decoded(self, payload_type: int) -> None:
        self.counters["not_decoded"] += 1
        name = self.encodings.get(payload_type)
        if name is None:
            self.counters["unknown_payload_type"] += 1
            name = f"payload type {payload_type}"
        if name not in self._warned:
            self._warned.add(name)
            if (
                payload_type in self._codecs
                and decoder_for(*self._codecs[payload_type]) is not None
            ):
                name = f"{name} (other format than {self.sample_rate} Hz x{self.channels})"
            log.warning(
                "session %s stream %d: codec %s not decoded yet",
                self.session_id,
                self.index,
                name,
            )

    def _telephone_event(self, packet: RtpPacket) -> None:
        try:
            events = self.dtmf.push(packet)
        except RtpError:
            self.counters["malformed"] += 1
            return
        for event in events:
            self._record_dtmf(event)

    def _record_dtmf(self, event: DtmfEvent) -> None:
        offset = (
            self.timeline.offset_of(event.start_timestamp)
            if self.timeline.ssrc is not None
            else None
        )
        self.dtmf_events.append(
            {
                "key": event.name,
                "event": event.event,
                "at": None if offset is None else round(offset / self.sample_rate, 3),
                "duration_ms": round(event.duration * 1000 / self._event_rate),
                "end": event.end,
                "volume": event.volume,
                "ssrc": event.ssrc,
            }
        )

    # ------------------------------------------------------------------ report
    def report(self) -> dict[str, Any]:
        """Stats for ``session.json``.

        ``lost`` counts sequence numbers never received: the RFC 3550 §A.3 cumulative
        loss without duplicates offsetting it. ``loss_percent`` is lost plus late
        (given up on, then arrived) over expected: what is missing from the file.
        ``mos`` is the simplified E-model of :func:`~siprec_appliance.rtp.r_factor`.
        """
        stats = self.stats
        lost = max(0, stats.lost + stats.duplicated)
        loss = 100.0 * (lost + stats.late) / stats.expected if stats.expected > 0 else 0.0
        codec = next((n for n in self.encodings.values() if n in CODEC_IMPAIRMENTS), None)
        mos = None
        if codec is not None and stats.received:
            mos = round(mos_from_r(r_factor(codec, loss, 2.0 * stats.jitter_ms)), 2)
        return {
            "index": self.index,
            "label": self.label,
            "codecs": sorted(set(self.encodings.values())),
            "srtp_suite": None if self._crypto is None else self._crypto.suite,
            "source": None if self.source is None else f"{self.source[0]}:{self.source[1]}",
            "ssrc": stats.ssrc,
            "received": stats.received,
            "expected": stats.expected,
            "lost": lost,
            "duplicated": stats.duplicated,
            "reordered": stats.reordered,
            "late": stats.late,
            "ssrc_changes": stats.ssrc_changes,
            "jitter_ms": round(stats.jitter_ms, 2),
            "loss_percent": round(loss, 2),
            "mos": mos,
            "sub_timelines": self.timeline.sub_timelines,
            **self.counters,
            "pauses": self.pauses,
            "dtmf": self.dtmf_events,
        }

    @property
    def start_wall_time(self) -> float | None:
        """Wall-clock time (Unix seconds) of sample offset 0 of this stream's file.

        From the latest RTCP SR of the current SSRC when there is one (the sender's
        clock: ``timeline.wall_clock_source == "rtcp"``), else the arrival time of the
        first packet (``timeline.origin_arrival``). None before the first packet.
        """
        timeline = self.timeline
        if timeline.ssrc is None:
            return None
        if timeline.wall_clock_source == "arrival":
            return timeline.origin_arrival
        # The current sub-timeline starts at output offset _base_offset with RTP _base_ts.
        base_wall = timeline.map_rtp_to_wall(timeline._base_ts)
        return base_wall - timeline._base_offset / self.sample_rate
