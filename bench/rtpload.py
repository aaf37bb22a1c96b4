"""What the media benches send and the process that sends it.

:class:`MediaSpec` says what each call's two streams carry (codec, SRTP, sending
speed, a marker tone); :class:`Traffic` turns it into one level's SDP offers and
the sender's inputs; :class:`Sender` runs ``bench/rtpblast.c`` (compiled at run
time by :func:`build_blaster`; a ``sendmmsg`` sender, because a Python sender takes
most of a core at 100,000 packets/s, on a 2-core machine the appliance's), or a
Python process for plain real-time PCMU when there is no C compiler.

SRTP: each stream's packets are protected in advance with the key of its own
``a=crypto`` line (pylibsrtp via ``tests/support/rtp_sender.SrtpSender``, ≈5-7 µs a
packet, done before the calls are set up) and written tick by tick to a file that
the C sender replays (``rtpblast -r``): the sender then costs what it costs for
plain RTP. The file holds calls x 2 x seconds x 50 packets of 182 bytes (≈180 MB
for 1,000 calls and 10 s), and the sender holds it in memory.

Used by ``bench/rtp_capacity.py``, ``bench/signaling_under_load.py`` and
``bench/long_calls.py``.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from sipload import body

PTIME = 0.02  # seconds of audio per packet; RTP timestamps 160 apart (8000 Hz clock)
PAYLOAD = bytes([0xFF]) * 160  # 20 ms of PCMU silence-level samples
BLAST_SOURCE = Path(__file__).with_name("rtpblast.c")
SRTP_SUITE = "AES_CM_128_HMAC_SHA1_80"


def build_blaster(directory: Path) -> Path | None:
    """Compile bench/rtpblast.c (sendmmsg sender) when a C compiler is there."""
    binary = directory / "rtpblast"
    try:
        subprocess.run(
            ["cc", "-O2", "-o", str(binary), str(BLAST_SOURCE)], check=True, capture_output=True
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"# no C sender ({exc}); using the Python sender", file=sys.stderr)
        return None
    return binary


# ------------------------------------------------------------------ what is sent
@dataclass(frozen=True, slots=True)
class Codec:
    """One offered codec: SDP name for sipload, RTP payload type, the recorded file's
    sample rate and one 20 ms payload."""

    sdp_name: str
    payload_type: int
    sample_rate: int
    payload: bytes


def g722_silence() -> bytes:
    """20 ms of silence as PyAV's G.722 encoder writes it (160 bytes at 64 kbit/s)."""
    import av
    import numpy as np

    context = av.CodecContext.create("g722", "w")
    context.sample_rate, context.layout, context.format = 16000, "mono", "s16"
    context.open()
    frame = av.AudioFrame.from_ndarray(np.zeros((1, 320), np.int16), format="s16", layout="mono")
    frame.sample_rate = 16000
    encoded = b"".join(bytes(p) for p in [*context.encode(frame), *context.encode(None)])
    return encoded[:160]


def codec_for(name: str) -> Codec:
    if name == "pcmu":
        return Codec("PCMU", 0, 8000, PAYLOAD)
    if name == "g722":  # RFC 3551 §4.5.2: RTP clock 8000, audio 16 kHz
        return Codec("G722", 9, 16000, g722_silence())
    raise ValueError(f"unknown codec {name!r}")


@dataclass(frozen=True, slots=True)
class Marker:
    """Packets ``n >= first`` with ``(n - first) % every < count`` carry ``payload``
    on every stream: a tone at the same RTP time on both legs."""

    payload: bytes
    first: int
    count: int
    every: int

    def covers(self, n: int) -> bool:
        return n >= self.first and (n - self.first) % self.every < self.count


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaSpec:
    """What each call's two streams carry and how fast they are sent."""

    codec: str = "pcmu"
    srtp: bool = False
    speed: float = 1.0  # packets 20 ms apart in RTP time, sent every 20 / speed ms
    marker: Marker | None = None
    first_seq: int = 0  # RTP sequence number and timestamp of the first packet
    first_ts: int = 0


class Traffic:
    """One level's RTP: the calls' offers and what the sender needs.

    Stream ``i`` (call ``i // 2``, m= line ``i % 2``) has SSRC ``0x1000 + i`` and,
    with SRTP, key ``keys[i]``. Call :meth:`prepare` before the calls are set up
    (the SRTP packets take seconds to protect).
    """

    def __init__(
        self, spec: MediaSpec, count: int, seconds: float, workdir: Path, blaster: Path | None
    ) -> None:
        self.spec = spec
        self.count = count
        self.ticks = round(seconds / PTIME)
        self.codec = codec_for(spec.codec)
        self.keys = [os.urandom(30) for _ in range(2 * count)] if spec.srtp else None
        self.workdir = workdir
        self.blaster = blaster
        self._options: list[str] | None = None

    @property
    def audio_seconds(self) -> float:
        return self.ticks * PTIME

    @property
    def interval(self) -> float:
        """Wall seconds between ticks."""
        return PTIME / self.spec.speed

    @property
    def duration(self) -> float:
        """Wall seconds the sender sends."""
        return self.ticks * self.interval

    @property
    def per_call(self) -> float:
        """Packets per second of one call (two streams)."""
        return 2 / self.interval

    @property
    def plain(self) -> bool:
        """What the Python fallback sender can send."""
        return self.spec == MediaSpec()  # (no -s either: the Python sender starts at 0)

    def offer(self, n: int) -> bytes:
        keys = None if self.keys is None else self.keys[2 * n : 2 * n + 2]
        return body(codec=self.codec.sdp_name, keys=keys)

    def prepare(self) -> None:
        """Write the sender's payload, marker and SRTP files (once)."""
        if self._options is not None:
            return
        spec = self.spec
        options = ["-i", f"{self.interval:.9f}", "-t", str(self.codec.payload_type)]
        options += ["-s", f"{spec.first_seq}:{spec.first_ts}"]
        payload = self.workdir / f"payload-{id(self)}"
        payload.write_bytes(self.codec.payload)
        options += ["-p", str(payload)]
        marker = self.spec.marker
        if marker is not None:
            path = self.workdir / f"marker-{id(self)}"
            path.write_bytes(marker.payload)
            options += ["-m", f"{path}:{marker.first}:{marker.count}:{marker.every}"]
        if self.keys is not None:
            replay, size = self._protect()
            options += ["-r", f"{replay}:{size}"]
        self._options = options

    def sender_options(self) -> list[str]:
        self.prepare()
        assert self._options is not None
        return self._options

    def _protect(self) -> tuple[Path, int]:
        """SRTP-protect every packet of every stream with its offered key (RFC 4568:
        the offer's key is the SRC's sending key), tick-major, for ``rtpblast -r``."""
        from support.rtp_sender import SrtpSender

        assert self.keys is not None
        started = time.perf_counter()
        senders = [SrtpSender(SRTP_SUITE, key).session for key in self.keys]
        header = struct.Struct("!BBHII")
        pt, spec, marker = self.codec.payload_type, self.spec, self.spec.marker
        path = self.workdir / f"srtp-{id(self)}"
        size = 0
        with path.open("wb") as out:
            for n in range(self.ticks):
                marked = marker is not None and marker.covers(n)
                payload = marker.payload if marker is not None and marked else self.codec.payload
                seq = (spec.first_seq + n) & 0xFFFF
                ts = (spec.first_ts + n * 160) & 0xFFFFFFFF
                rows = [
                    header.pack(0x80, pt, seq, ts, 0x1000 + i) + payload
                    for i in range(len(senders))
                ]
                protected = [bytes(s.protect(row)) for s, row in zip(senders, rows, strict=True)]
                size = len(protected[0])
                out.write(b"".join(protected))
        print(
            f"# SRTP: {self.ticks * len(senders):,} packets protected in "
            f"{time.perf_counter() - started:.1f} s ({path.stat().st_size / 1e6:.0f} MB)",
            flush=True,
        )
        return path, size


class Sender:
    """The RTP sender of one level: the C blaster, else (plain PCMU only) Python."""

    def __init__(self, targets: list[tuple[int, int]], traffic: Traffic, start_at: float) -> None:
        self.kind = "python"
        self.cpu_pct = float("nan")
        self.late_max_ms = float("nan")
        self.late_at_s = float("nan")  # when the worst tick was due, from the start
        self._interval = traffic.interval
        self._process: multiprocessing.Process | subprocess.Popen[bytes] | None = None
        self._wall = traffic.duration + max(0.0, start_at - time.time())
        seconds = traffic.audio_seconds
        if traffic.blaster is not None:
            fd, name = tempfile.mkstemp(suffix=".targets", dir=traffic.workdir)
            os.close(fd)
            Path(name).write_text("".join(f"{port} {ssrc}\n" for port, ssrc in targets))
            self.kind = "c-sendmmsg"
            self._process = subprocess.Popen(
                [
                    str(traffic.blaster),
                    *traffic.sender_options(),
                    name,
                    f"{seconds:.3f}",
                    f"{start_at:.6f}",
                ],
                stdout=subprocess.PIPE,
            )
        elif traffic.plain:
            self._process = multiprocessing.Process(
                target=send_rtp, args=(targets, seconds, start_at)
            )
            self._process.start()
        else:
            raise RuntimeError("codec, SRTP, speed and marker options need the C sender (cc)")
        assert self._process.pid is not None
        self._pid: int = self._process.pid

    def join(self) -> None:
        if isinstance(self._process, subprocess.Popen):
            _, status, usage = os.wait4(self._pid, 0)
            self._process.returncode = os.waitstatus_to_exitcode(status)
            self.cpu_pct = 100 * (usage.ru_utime + usage.ru_stime) / self._wall
            assert self._process.stdout is not None
            said = self._process.stdout.read().decode().split()
            if "late_max_ms" in said:
                self.late_max_ms = float(said[said.index("late_max_ms") + 1])
                self.late_at_s = int(said[said.index("late_tick") + 1]) * self._interval
            if self._process.returncode != 0:
                raise RuntimeError(f"the sender exited with {self._process.returncode}")
        elif self._process is not None:
            self._process.join()


def send_rtp(targets: list[tuple[int, int]], seconds: float, start_at: float) -> None:
    """Sender process: one packet per stream every 20 ms, paced on absolute time."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    packets = round(seconds / PTIME)
    header = struct.Struct("!BBHII")
    while time.time() < start_at:
        time.sleep(0.001)
    for n in range(packets):
        due = start_at + n * PTIME
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        for port, ssrc in targets:
            data = header.pack(0x80, 0, n & 0xFFFF, (n * 160) & 0xFFFFFFFF, ssrc) + PAYLOAD
            while True:
                try:
                    sock.sendto(data, ("127.0.0.1", port))
                    break
                except BlockingIOError:  # pragma: no cover - sender buffer full
                    time.sleep(0.0005)
    sock.close()
