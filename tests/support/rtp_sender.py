"""A tiny RTP sender for tests: G.711 µ-law encoding, RTP packing, paced sending.

Independent of the appliance's own RTP code, so a test never checks the receiver
against itself.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pylibsrtp

RATE = 8000
PTIME = 0.02
SAMPLES_PER_PACKET = int(RATE * PTIME)


def ulaw_encode(samples: np.ndarray) -> bytes:
    """16-bit linear to G.711 µ-law (the classic Sun ``linear2ulaw``, bias 0x84)."""
    value = samples.astype(np.int32)
    sign = np.where(value < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(value), 32635) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7  # 0..7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    code = ~(sign | (exponent << 4) | mantissa) & 0xFF
    return code.astype(np.uint8).tobytes()


def tone(frequency: float, seconds: float, amplitude: float = 8000.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


def rtp_packet(
    payload: bytes, *, seq: int, timestamp: int, ssrc: int, pt: int = 0, marker: bool = False
) -> bytes:
    """RFC 3550 §5.1 fixed header (V=2, no CSRC, no extension) and the payload."""
    second = (0x80 if marker else 0) | pt
    return struct.pack("!BBHII", 0x80, second, seq & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc) + payload


@dataclass
class Stream:
    """One RTP stream: where it goes and the packets, one per 20 ms tick."""

    target: tuple[str, int]
    packets: list[bytes]


def g711_stream(
    target: tuple[str, int], frequency: float, seconds: float, *, ssrc: int, seq: int = 1000
) -> Stream:
    audio = tone(frequency, seconds)
    packets = []
    for n in range(len(audio) // SAMPLES_PER_PACKET):
        chunk = audio[n * SAMPLES_PER_PACKET : (n + 1) * SAMPLES_PER_PACKET]
        packets.append(
            rtp_packet(
                ulaw_encode(chunk),
                seq=seq + n,
                timestamp=12345 + n * SAMPLES_PER_PACKET,
                ssrc=ssrc,
                marker=n == 0,
            )
        )
    return Stream(target, packets)


# SDP suite name -> libsrtp profile, written out here rather than taken from the
# appliance so that a test never checks the receiver against itself.
SRTP_SUITES = {
    "AES_CM_128_HMAC_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    "AEAD_AES_128_GCM": pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    "AEAD_AES_256_GCM": pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
}


class SrtpSender:
    """Protects RTP and RTCP as an SRC would, with the key of its own a=crypto line
    (RFC 4568: the key in an offer is the offerer's sending key)."""

    def __init__(self, suite: str, key_salt: bytes) -> None:
        policy = pylibsrtp.Policy(
            key=key_salt,
            ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
            srtp_profile=SRTP_SUITES[suite],
        )
        self.session = pylibsrtp.Session(policy)

    def protect(self, packets: Sequence[bytes]) -> list[bytes]:
        return [bytes(self.session.protect(p)) for p in packets]

    def protect_rtcp(self, packet: bytes) -> bytes:
        return bytes(self.session.protect_rtcp(packet))


def add_mki(packet: bytes, mki: bytes, tag_length: int) -> bytes:
    """Insert an MKI field just before the authentication tag (RFC 3711 §3.1, §3.4)."""
    return packet[:-tag_length] + mki + packet[-tag_length:]


def tamper(packet: bytes) -> bytes:
    """Flip one bit of the last payload byte before the tag: authentication must fail."""
    data = bytearray(packet)
    data[-11] ^= 0x01
    return bytes(data)


def impair(
    packets: list[bytes],
    *,
    lose: Sequence[int] = (),
    swap: Sequence[int] = (),
    duplicate: Sequence[int] = (),
) -> list[bytes]:
    """Drop packets ``lose``, swap each ``i`` in ``swap`` with ``i + 1``, send ``duplicate``
    twice (indices into the original list)."""
    order = list(range(len(packets)))
    for i in swap:
        a, b = order.index(i), order.index(i + 1)
        order[a], order[b] = order[b], order[a]
    out: list[bytes] = []
    for i in order:
        if i in lose:
            continue
        out.append(packets[i])
        if i in duplicate:
            out.append(packets[i])
    return out


def send_paced(
    streams: Sequence[Stream],
    stop: threading.Event | None = None,
    *,
    sockets: Sequence[socket.socket] | None = None,
) -> int:
    """Send tick ``n`` of every stream at start + n * 20 ms, each from its own socket
    (``sockets``: the caller's, kept open, so a later part comes from the same port).

    Returns the number of ticks sent (fewer when ``stop`` was set).
    """
    owned = sockets is None
    if sockets is None:
        sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in streams]
    try:
        start = time.monotonic()
        ticks = max(len(s.packets) for s in streams)
        for n in range(ticks):
            if stop is not None and stop.is_set():
                return n
            delay = start + n * PTIME - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            for sock, stream in zip(sockets, streams, strict=True):
                if n < len(stream.packets):
                    sock.sendto(stream.packets[n], stream.target)
        return ticks
    finally:
        for sock in sockets if owned else ():
            sock.close()
