"""Reception statistics of one RTP stream (RFC 3550 §6.4.1, §A.1, §A.3, §A.8).

:class:`StreamStats` is fed every packet accepted from the network, in arrival
order, with the arrival time ``now`` in seconds. It keeps the RFC 3550 counters
(extended highest sequence number, expected, lost, interval fraction lost,
interarrival jitter). ``duplicated``, ``reordered`` and ``late`` are classified by
the :class:`~siprec_appliance.rtp.jitter.JitterBuffer` that owns these stats,
since only the buffer knows what it has already released.

Deviations from RFC 3550 §A.1, chosen for a recorder whose sources were negotiated
in SDP: a source is valid from its first packet (no MIN_SEQUENTIAL probation), and
an SSRC change or a sequence restart folds the old run into the totals instead of
forgetting it, so ``lost`` covers the whole call.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from siprec_appliance.rtp.packet import RtpPacket

__all__ = ["CODEC_IMPAIRMENTS", "StreamStats", "mos_from_r", "r_factor"]

# RFC 3550 §A.1 constants.
MAX_DROPOUT = 3000
MAX_MISORDER = 100
RTP_SEQ_MOD = 1 << 16

# ITU-T G.113 Appendix I: equipment impairment Ie and packet-loss robustness Bpl,
# by SDP encoding name (lower case). G.711 is taken with packet loss concealment
# (G.711 Appendix I), as every current endpoint has it. Wideband codecs (G.722,
# AMR-WB, Opus, L16) are scored on the narrowband R scale as if they were G.711,
# so their MOS is a lower bound (the wideband E-model of G.107.1 is not modelled).
CODEC_IMPAIRMENTS: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "pcmu": (0.0, 25.1),
        "pcma": (0.0, 25.1),
        "g722": (0.0, 25.1),
        "l16": (0.0, 25.1),
        "opus": (0.0, 25.1),
        "amr-wb": (0.0, 25.1),
        "g729": (11.0, 19.0),  # G.729A + VAD
        "amr": (5.0, 10.0),  # 12.2 kbit/s mode, the GSM-EFR codec
        "gsm": (20.0, 10.0),  # GSM-FR 06.10 (Ie 20)
    }
)


def r_factor(
    codec: str, loss_percent: float, delay_ms: float = 0.0, burst_ratio: float = 1.0
) -> float:
    """A simplified ITU-T G.107 transmission rating R.

    R = 93.2 - Id - Ie_eff, where Ro - Is = 93.2 is the G.107 default with no
    echo, loudness or noise impairment (A = 0). Id uses the common linear fit to
    G.107 for echo-free connections (Cole and Rosenbluth, 2001):
    Id = 0.024 d + 0.11 (d - 177.3) H(d - 177.3), d the one-way delay in ms.
    Ie_eff = Ie + (95 - Ie) Ppl / (Ppl / BurstR + Bpl) as in G.107 §7.4.
    """
    try:
        ie, bpl = CODEC_IMPAIRMENTS[codec.lower()]
    except KeyError:
        raise ValueError(f"no E-model impairment factors for codec {codec!r}") from None
    ppl = max(0.0, loss_percent)
    ie_eff = ie + (95.0 - ie) * ppl / (ppl / burst_ratio + bpl)
    d = max(0.0, delay_ms)
    delay_impairment = 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)
    return 93.2 - delay_impairment - ie_eff


def mos_from_r(r: float) -> float:
    """G.107 Annex B: the conversational MOS estimate for a rating R."""
    if r <= 0.0:
        return 1.0
    if r >= 100.0:
        return 4.5
    return 1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6


class StreamStats:
    """RFC 3550 counters and jitter for one received stream (all its SSRCs)."""

    def __init__(self, clock_rate: int = 8000) -> None:
        if clock_rate <= 0:
            raise ValueError(f"clock_rate must be positive, got {clock_rate}")
        self.clock_rate = clock_rate
        self.received = 0
        self.duplicated = 0
        self.reordered = 0
        self.late = 0
        self.ssrc_changes = 0
        self.jitter = 0.0  # RFC 3550 §A.8 estimate, in timestamp units
        self._ssrc: int | None = None
        # RFC 3550 §A.1 per-run state.
        self._base_seq = 0
        self._max_seq = 0
        self._cycles = 0
        self._bad_seq = RTP_SEQ_MOD + 1
        self._run_received = 0
        # Runs that ended (SSRC change, sequence restart).
        self._old_expected = 0
        self._old_received = 0
        # RFC 3550 §A.3 interval state.
        self._expected_prior = 0
        self._received_prior = 0
        # RFC 3550 §A.8: arrival time and timestamp of the previous packet.
        self._last_arrival: float | None = None
        self._last_ts = 0

    @property
    def ssrc(self) -> int | None:
        return self._ssrc

    @property
    def extended_highest_sequence(self) -> int:
        """RFC 3550 §A.3: cycles plus the highest sequence number of the current run."""
        return self._cycles + self._max_seq

    @property
    def expected(self) -> int:
        """Packets expected over the whole call (RFC 3550 §A.3, summed over runs)."""
        run = self.extended_highest_sequence - self._base_seq + 1 if self._ssrc is not None else 0
        return self._old_expected + run

    @property
    def lost(self) -> int:
        """Cumulative packets lost (RFC 3550 §A.3); negative when duplicates arrive."""
        return self.expected - self._old_received - self._run_received

    @property
    def jitter_ms(self) -> float:
        return self.jitter * 1000.0 / self.clock_rate

    def take_fraction_lost(self) -> int:
        """The 8-bit fraction lost since the previous call (RFC 3550 §A.3)."""
        expected = self.expected
        received = self._old_received + self._run_received
        expected_interval = expected - self._expected_prior
        lost_interval = expected_interval - (received - self._received_prior)
        self._expected_prior = expected
        self._received_prior = received
        if expected_interval <= 0 or lost_interval <= 0:
            return 0
        return min(255, (lost_interval << 8) // expected_interval)

    def on_packet(self, packet: RtpPacket, now: float) -> None:
        """Account one arriving packet (arrival order, ``now`` in seconds)."""
        seq = packet.sequence_number
        last_arrival = self._last_arrival
        if (
            packet.ssrc == self._ssrc
            and 0 < seq - self._max_seq < MAX_DROPOUT
            and last_arrival is not None
        ):
            # Fast path, the common case: the same run, ahead without a wrap.
            self._max_seq = seq
            self.received += 1
            self._run_received += 1
            timestamp = packet.timestamp
            ts_delta = (timestamp - self._last_ts + 0x80000000) % 0x100000000 - 0x80000000
            d = (now - last_arrival) * self.clock_rate - ts_delta
            self.jitter += (abs(d) - self.jitter) / 16.0
            self._last_arrival = now
            self._last_ts = timestamp
            return
        if packet.ssrc != self._ssrc:
            if self._ssrc is not None:
                self.ssrc_changes += 1
                self._fold_run()
            self._ssrc = packet.ssrc
            self._init_seq(packet.sequence_number)
            self._last_arrival = None
        elif not self._update_seq(packet.sequence_number):
            return
        self.received += 1
        self._run_received += 1
        self._update_jitter(packet.timestamp, now)

    def _init_seq(self, seq: int) -> None:
        # RFC 3550 §A.1 init_seq().
        self._base_seq = seq
        self._max_seq = seq
        self._bad_seq = RTP_SEQ_MOD + 1
        self._cycles = 0
        self._run_received = 0

    def _fold_run(self) -> None:
        self._old_expected += self.extended_highest_sequence - self._base_seq + 1
        self._old_received += self._run_received

    def _update_seq(self, seq: int) -> bool:
        # RFC 3550 §A.1 update_seq(), without the probation of a new source.
        udelta = (seq - self._max_seq) % RTP_SEQ_MOD
        if udelta < MAX_DROPOUT:
            if seq < self._max_seq:
                self._cycles += RTP_SEQ_MOD  # the sequence number wrapped
            self._max_seq = seq
        elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
            # A very large jump: accept it only when the next packet follows it,
            # which means the sender restarted its sequence numbers.
            if seq != self._bad_seq:
                self._bad_seq = (seq + 1) % RTP_SEQ_MOD
                return False
            self._fold_run()
            self._init_seq(seq)
            self._last_arrival = None
        # else: a duplicate or reordered packet, counted as received (§A.1).
        return True

    def _update_jitter(self, timestamp: int, now: float) -> None:
        # RFC 3550 §A.8 and §6.4.1: D(i-1,i) = (Ri - Ri-1) - (Si - Si-1) in timestamp
        # units, J += (|D| - J) / 16. The timestamp difference is taken modulo 2^32
        # as a signed number, so a timestamp wrap does not look like jitter.
        if self._last_arrival is not None:
            ts_delta = (timestamp - self._last_ts + 0x80000000) % 0x100000000 - 0x80000000
            d = (now - self._last_arrival) * self.clock_rate - ts_delta
            self.jitter += (abs(d) - self.jitter) / 16.0
        self._last_arrival = now
        self._last_ts = timestamp

    def loss_percent(self) -> float:
        """Packets that did not make it into the recording (lost or late), in %."""
        expected = self.expected
        if expected <= 0:
            return 0.0
        return 100.0 * max(0, self.lost + self.late) / expected

    def mos(self, codec: str = "pcmu", *, delay_ms: float | None = None) -> float:
        """A MOS estimate by the simplified E-model of :func:`r_factor`.

        Loss is :meth:`loss_percent` with random loss (BurstR = 1). A recorder
        cannot see the mouth-to-ear delay, so ``delay_ms`` defaults to twice the
        jitter (a typical jitter-buffer allowance); pass a measured value if known.
        """
        delay = 2.0 * self.jitter_ms if delay_ms is None else delay_ms
        return mos_from_r(r_factor(codec, self.loss_percent(), delay))
