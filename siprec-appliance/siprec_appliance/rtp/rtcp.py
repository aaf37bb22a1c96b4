"""RTCP compound packets (RFC 3550 §6): SR, RR, SDES and BYE decoded, the rest raw.

:func:`parse_compound` splits a compound datagram (RFC 3550 §6.1) into packets;
:func:`serialize_compound` joins them again. Every packet type has ``parse`` and
``__bytes__``; canonical input round-trips exactly, including padding (kept raw on
the packet that carries it, normally the last one, RFC 3550 §6.4.1) and SR/RR
profile-specific extensions (kept raw). APP (RFC 3550 §6.7) and feedback or XR
packets become :class:`RawRtcp`. Malformed input raises
:class:`~siprec_appliance.rtp.packet.RtpError` with an exact message.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeAlias

from siprec_appliance.errors import LocalProtocolError
from siprec_appliance.rtp.packet import RtpError

__all__ = [
    "NTP_UNIX_OFFSET",
    "Bye",
    "RawRtcp",
    "ReceiverReport",
    "ReportBlock",
    "RtcpPacket",
    "SdesChunk",
    "SdesItem",
    "SenderReport",
    "SourceDescription",
    "is_rtcp",
    "ntp_to_unix",
    "parse_compound",
    "serialize_compound",
]

# RFC 3550 §12.1 packet types.
SR, RR, SDES, BYE, APP = 200, 201, 202, 203, 204
SDES_CNAME = 1  # RFC 3550 §6.5.1
# Seconds from the NTP epoch (1900) to the Unix epoch (1970), RFC 5905 §6.
NTP_UNIX_OFFSET = 2_208_988_800

_HEADER = struct.Struct("!BBH")
_SENDER_INFO = struct.Struct("!IQIII")  # SSRC, NTP, RTP timestamp, packets, octets
_BLOCK = struct.Struct("!IIIIII")  # RFC 3550 §6.4.1 report block, six words
_BLOCK_SIZE = 24


def is_rtcp(data: bytes) -> bool:
    """Whether a datagram on an rtcp-mux port is RTCP (RFC 5761 §4).

    RTCP packet types 192-223 occupy the second octet, where RTP has the marker
    bit and payload types 64-95, which RFC 5761 §4 keeps out of muxed sessions.
    """
    return len(data) >= 2 and 192 <= data[1] <= 223


def ntp_to_unix(ntp_timestamp: int) -> float:
    """A 64-bit NTP timestamp (RFC 3550 §4) as seconds since the Unix epoch."""
    return ntp_timestamp / 4294967296.0 - NTP_UNIX_OFFSET


def _header(packet_type: int, count: int, body: bytes, padding: bytes) -> bytes:
    """RFC 3550 §6.4.1 common header; the length is in 32-bit words minus one."""
    if (len(body) + len(padding)) % 4 or count > 0x1F:
        raise LocalProtocolError("RTCP body and padding must be whole 32-bit words, count < 32")
    first = 0xA0 | count if padding else 0x80 | count
    size = len(body) + len(padding) + 4
    return _HEADER.pack(first, packet_type, size // 4 - 1) + body + padding


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportBlock:
    """One reception report block (RFC 3550 §6.4.1).

    ``fraction_lost`` is the 8-bit fixed-point fraction, ``cumulative_lost`` the
    signed 24-bit count, ``last_sr`` (LSR) the middle 32 bits of the last SR's NTP
    timestamp and ``delay_since_last_sr`` (DLSR) in units of 1/65536 s.
    """

    ssrc: int
    fraction_lost: int
    cumulative_lost: int
    highest_sequence: int
    jitter: int
    last_sr: int
    delay_since_last_sr: int

    @classmethod
    def parse(cls, data: bytes, offset: int) -> ReportBlock:
        ssrc, lost_word, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(data, offset)
        cumulative = lost_word & 0xFFFFFF
        if cumulative & 0x800000:  # signed 24-bit two's complement
            cumulative -= 0x1000000
        return cls(
            ssrc=ssrc,
            fraction_lost=lost_word >> 24,
            cumulative_lost=cumulative,
            highest_sequence=highest,
            jitter=jitter,
            last_sr=lsr,
            delay_since_last_sr=dlsr,
        )

    def __bytes__(self) -> bytes:
        lost_word = (self.fraction_lost << 24) | (self.cumulative_lost & 0xFFFFFF)
        return _BLOCK.pack(
            self.ssrc,
            lost_word,
            self.highest_sequence,
            self.jitter,
            self.last_sr,
            self.delay_since_last_sr,
        )


def _parse_blocks(body: bytes, offset: int, count: int) -> tuple[ReportBlock, ...]:
    return tuple(ReportBlock.parse(body, offset + _BLOCK_SIZE * i) for i in range(count))


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderReport:
    """RTCP SR (RFC 3550 §6.4.1): the sender's NTP wall clock paired with RTP time."""

    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""
    padding: bytes = b""

    @property
    def ntp_seconds(self) -> float:
        """The NTP timestamp as seconds since 1900 (RFC 3550 §4)."""
        return self.ntp_timestamp / 4294967296.0

    @property
    def unix_time(self) -> float:
        """The NTP timestamp as seconds since the Unix epoch."""
        return ntp_to_unix(self.ntp_timestamp)

    @property
    def compact_ntp(self) -> int:
        """The middle 32 bits of the NTP timestamp: LSR in a report block (§6.4.1)."""
        return (self.ntp_timestamp >> 16) & 0xFFFFFFFF

    @classmethod
    def parse(cls, count: int, body: bytes, padding: bytes = b"") -> SenderReport:
        need = 24 + _BLOCK_SIZE * count
        if len(body) < need:
            raise RtpError(
                f"RTCP SR with {count} report blocks needs {need} bytes, has {len(body)}"
            )
        ssrc, ntp, rtp_ts, packets, octets = _SENDER_INFO.unpack_from(body)
        return cls(
            ssrc=ssrc,
            ntp_timestamp=ntp,
            rtp_timestamp=rtp_ts,
            packet_count=packets,
            octet_count=octets,
            reports=_parse_blocks(body, 24, count),
            extension=body[need:],
            padding=padding,
        )

    def __bytes__(self) -> bytes:
        body = b"".join(
            [
                _SENDER_INFO.pack(
                    self.ssrc,
                    self.ntp_timestamp,
                    self.rtp_timestamp,
                    self.packet_count,
                    self.octet_count,
                ),
                *(bytes(block) for block in self.reports),
                self.extension,
            ]
        )
        return _header(SR, len(self.reports), body, self.padding)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiverReport:
    """RTCP RR (RFC 3550 §6.4.2)."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""
    padding: bytes = b""

    @classmethod
    def parse(cls, count: int, body: bytes, padding: bytes = b"") -> ReceiverReport:
        need = 4 + _BLOCK_SIZE * count
        if len(body) < need:
            raise RtpError(
                f"RTCP RR with {count} report blocks needs {need} bytes, has {len(body)}"
            )
        return cls(
            ssrc=struct.unpack_from("!I", body)[0],
            reports=_parse_blocks(body, 4, count),
            extension=body[need:],
            padding=padding,
        )

    def __bytes__(self) -> bytes:
        body = b"".join(
            [struct.pack("!I", self.ssrc), *(bytes(b) for b in self.reports), self.extension]
        )
        return _header(RR, len(self.reports), body, self.padding)


@dataclass(frozen=True, slots=True)
class SdesItem:
    """One SDES item (RFC 3550 §6.5): type (1 = CNAME) and raw UTF-8 value."""

    type: int
    value: bytes


@dataclass(frozen=True, slots=True)
class SdesChunk:
    """The SDES items of one source (RFC 3550 §6.5)."""

    ssrc: int
    items: tuple[SdesItem, ...] = ()

    @property
    def cname(self) -> str | None:
        for item in self.items:
            if item.type == SDES_CNAME:
                return item.value.decode("utf-8", "replace")
        return None

    def __bytes__(self) -> bytes:
        parts = [struct.pack("!I", self.ssrc)]
        for item in self.items:
            parts.append(bytes((item.type, len(item.value))) + item.value)
        raw = b"".join(parts)
        # §6.5: a null item ends the list, then null octets up to a 32-bit boundary.
        return raw + bytes(4 - len(raw) % 4)


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceDescription:
    """RTCP SDES (RFC 3550 §6.5)."""

    chunks: tuple[SdesChunk, ...] = ()
    padding: bytes = b""

    @classmethod
    def parse(cls, count: int, body: bytes, padding: bytes = b"") -> SourceDescription:
        chunks = []
        offset = 0
        for _ in range(count):
            chunk, offset = _parse_chunk(body, offset)
            chunks.append(chunk)
        return cls(chunks=tuple(chunks), padding=padding)

    def __bytes__(self) -> bytes:
        body = b"".join(bytes(chunk) for chunk in self.chunks)
        return _header(SDES, len(self.chunks), body, self.padding)


def _parse_chunk(body: bytes, offset: int) -> tuple[SdesChunk, int]:
    if offset + 4 > len(body):
        raise RtpError("RTCP SDES chunk overruns the packet")
    ssrc = struct.unpack_from("!I", body, offset)[0]
    offset += 4
    items: list[SdesItem] = []
    while True:
        if offset >= len(body):
            raise RtpError("RTCP SDES chunk has no terminating null item")
        item_type = body[offset]
        if item_type == 0:
            # Skip the null octets up to the next 32-bit boundary (§6.5).
            return SdesChunk(ssrc, tuple(items)), (offset + 4) & ~3
        if offset + 2 > len(body) or offset + 2 + body[offset + 1] > len(body):
            raise RtpError("RTCP SDES item overruns the packet")
        end = offset + 2 + body[offset + 1]
        items.append(SdesItem(item_type, body[offset + 2 : end]))
        offset = end


@dataclass(frozen=True, slots=True, kw_only=True)
class Bye:
    """RTCP BYE (RFC 3550 §6.6): sources leaving, with an optional reason."""

    sources: tuple[int, ...] = ()
    reason: bytes | None = None
    padding: bytes = b""

    @classmethod
    def parse(cls, count: int, body: bytes, padding: bytes = b"") -> Bye:
        need = 4 * count
        if len(body) < need:
            raise RtpError(f"RTCP BYE with {count} sources needs {need} bytes, has {len(body)}")
        sources = struct.unpack_from(f"!{count}I", body)
        reason = None
        if len(body) > need:
            end = need + 1 + body[need]
            if end > len(body):
                raise RtpError("RTCP BYE reason overruns the packet")
            reason = body[need + 1 : end]
        return cls(sources=sources, reason=reason, padding=padding)

    def __bytes__(self) -> bytes:
        body = struct.pack(f"!{len(self.sources)}I", *self.sources)
        if self.reason is not None:
            text = bytes((len(self.reason),)) + self.reason
            body += text + bytes(-len(text) % 4)
        return _header(BYE, len(self.sources), body, self.padding)


@dataclass(frozen=True, slots=True, kw_only=True)
class RawRtcp:
    """An RTCP packet kept undecoded: APP (§6.7), feedback (RFC 4585), XR (RFC 3611).

    ``count`` is the 5-bit field after the P bit (the subtype for APP).
    """

    packet_type: int
    count: int
    body: bytes
    padding: bytes = b""

    def __bytes__(self) -> bytes:
        return _header(self.packet_type, self.count, self.body, self.padding)


RtcpPacket: TypeAlias = SenderReport | ReceiverReport | SourceDescription | Bye | RawRtcp

_PARSERS: dict[int, Callable[[int, bytes, bytes], RtcpPacket]] = {
    SR: SenderReport.parse,
    RR: ReceiverReport.parse,
    SDES: SourceDescription.parse,
    BYE: Bye.parse,
}


def parse_compound(data: bytes) -> list[RtcpPacket]:
    """Split and parse a compound RTCP datagram (RFC 3550 §6.1)."""
    if not data:
        raise RtpError("RTCP compound packet is empty")
    packets: list[RtcpPacket] = []
    offset = 0
    while offset < len(data):
        packet, offset = _parse_one(data, offset)
        packets.append(packet)
    return packets


def _parse_one(data: bytes, offset: int) -> tuple[RtcpPacket, int]:
    left = len(data) - offset
    if left < 4:
        raise RtpError(f"RTCP packet is {left} bytes, shorter than the 4-byte header")
    first, packet_type, words = _HEADER.unpack_from(data, offset)
    if first >> 6 != 2:
        raise RtpError(f"RTCP version is {first >> 6}, expected 2")
    size = 4 * (words + 1)
    if size > left:
        raise RtpError(f"RTCP length of {size} bytes overruns the {left} bytes left")
    end = offset + size
    body_end = end
    if first & 0x20:
        pad = data[end - 1]
        if pad == 0 or pad > size - 4:
            raise RtpError(f"RTCP padding count {pad} does not fit the packet")
        body_end = end - pad
    body = data[offset + 4 : body_end]
    padding = data[body_end:end]
    count = first & 0x1F
    parser = _PARSERS.get(packet_type)
    if parser is None:
        return RawRtcp(packet_type=packet_type, count=count, body=body, padding=padding), end
    return parser(count, body, padding), end


def serialize_compound(packets: Iterable[RtcpPacket]) -> bytes:
    """Join RTCP packets into one compound datagram (RFC 3550 §6.1)."""
    return b"".join(bytes(packet) for packet in packets)
