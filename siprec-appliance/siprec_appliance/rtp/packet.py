"""RTP data packets (RFC 3550 §5.1): parse and serialize, header extension kept raw.

The receive path calls :meth:`RtpPacket.parse` once per datagram, so it is written
for speed: one ``struct.unpack_from`` for the fixed header, a fast path for the
common 12-byte header, and the slots of the frozen dataclass filled directly (the
generated ``__init__`` of a frozen dataclass costs one ``object.__setattr__`` per
field, about twice the time of the whole parse). The public constructor validates
its arguments; ``parse`` does not need to, because every field comes from a
fixed-width bit field of the wire format.

Malformed input raises :class:`RtpError`, a ``ValueError`` whose message is exact
and stable: the receive path catches it, counts the packet and drops it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from siprec_appliance.errors import LocalProtocolError, SiprecError

__all__ = ["RtpError", "RtpPacket"]

# RFC 3550 §5.1: V=2, P, X, CC (4 bits), M, PT (7 bits), sequence number,
# timestamp, SSRC.
_FIXED = struct.Struct("!BBHII")
_FIXED_SIZE = 12
_UINT32 = 0xFFFFFFFF
_MAX_CSRC = 15


class RtpError(SiprecError, ValueError):
    """An RTP or RTCP packet from the network is malformed (drop it and count it)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RtpPacket:
    """One RTP data packet (RFC 3550 §5.1).

    ``extension_profile`` is None when the X bit is clear; ``extension`` is the raw
    extension body (RFC 3550 §5.3.1, whole 32-bit words, RFC 8285 elements not
    decoded). ``padding`` is the raw padding including its final count octet, empty
    when the P bit is clear, so that ``bytes(RtpPacket.parse(d)) == d`` always.
    """

    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension_profile: int | None = None
    extension: bytes = b""
    padding: bytes = b""

    def __post_init__(self) -> None:
        _check_range("payload_type", self.payload_type, 0x7F)
        _check_range("sequence_number", self.sequence_number, 0xFFFF)
        _check_range("timestamp", self.timestamp, _UINT32)
        _check_range("ssrc", self.ssrc, _UINT32)
        if len(self.csrc) > _MAX_CSRC:
            raise LocalProtocolError(f"RTP allows at most 15 CSRCs, got {len(self.csrc)}")
        for csrc in self.csrc:
            _check_range("csrc", csrc, _UINT32)
        if self.extension_profile is None:
            if self.extension:
                raise LocalProtocolError("RTP extension body needs an extension_profile")
        else:
            _check_range("extension_profile", self.extension_profile, 0xFFFF)
            if len(self.extension) % 4 or len(self.extension) > 4 * 0xFFFF:
                raise LocalProtocolError("RTP extension body must be whole 32-bit words")
        if self.padding and (len(self.padding) > 0xFF or self.padding[-1] != len(self.padding)):
            raise LocalProtocolError("RTP padding must end with its own length (1-255)")

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse one RTP packet; raise :class:`RtpError` if it is malformed."""
        size = len(data)
        if size < _FIXED_SIZE:
            raise RtpError(f"RTP packet is {size} bytes, shorter than the 12-byte header")
        first, second, seq, timestamp, ssrc = _FIXED.unpack_from(data)
        if first >> 6 != 2:
            raise RtpError(f"RTP version is {first >> 6}, expected 2")
        if 192 <= second <= 223:
            raise RtpError(f"RTP second octet {second} is an RTCP packet type (RFC 5761 §4)")
        packet = _new(cls)
        _set_pt(packet, second & 0x7F)
        _set_seq(packet, seq)
        _set_ts(packet, timestamp)
        _set_ssrc(packet, ssrc)
        _set_marker(packet, second > 0x7F)
        if first == 0x80:  # no padding, no extension, no CSRC: the common case
            _set_payload(packet, data[_FIXED_SIZE:])
            _set_csrc(packet, ())
            _set_profile(packet, None)
            _set_extension(packet, b"")
            _set_padding(packet, b"")
            return packet
        _parse_variable(packet, data, first)
        return packet

    def __bytes__(self) -> bytes:
        first = 0x80 | len(self.csrc)
        if self.padding:
            first |= 0x20
        if self.extension_profile is not None:
            first |= 0x10
        second = self.payload_type | 0x80 if self.marker else self.payload_type
        header = _FIXED.pack(first, second, self.sequence_number, self.timestamp, self.ssrc)
        if first == 0x80:
            return header + self.payload
        parts = [header]
        if self.csrc:
            parts.append(struct.pack(f"!{len(self.csrc)}I", *self.csrc))
        if self.extension_profile is not None:
            parts.append(struct.pack("!HH", self.extension_profile, len(self.extension) // 4))
            parts.append(self.extension)
        parts.append(self.payload)
        parts.append(self.padding)
        return b"".join(parts)


def _parse_variable(packet: RtpPacket, data: bytes, first: int) -> None:
    """The CSRC list, header extension and padding (RFC 3550 §5.1, §5.3.1)."""
    size = len(data)
    count = first & 0x0F
    offset = _FIXED_SIZE + 4 * count
    if offset > size:
        raise RtpError(f"RTP CSRC list of {count} entries overruns the {size}-byte packet")
    _set_csrc(packet, struct.unpack_from(f"!{count}I", data, _FIXED_SIZE) if count else ())
    if first & 0x10:
        if offset + 4 > size:
            raise RtpError("RTP header extension overruns the packet")
        profile, words = struct.unpack_from("!HH", data, offset)
        start = offset + 4
        offset = start + 4 * words
        if offset > size:
            raise RtpError("RTP header extension overruns the packet")
        _set_profile(packet, profile)
        _set_extension(packet, data[start:offset])
    else:
        _set_profile(packet, None)
        _set_extension(packet, b"")
    end = size
    if first & 0x20:
        # RFC 3550 §5.1: the last octet counts the padding octets, itself included.
        pad = data[-1] if size > offset else 0
        if pad == 0 or offset + pad > size:
            raise RtpError(f"RTP padding count {pad} does not fit the packet")
        end = size - pad
        _set_padding(packet, data[end:])
    else:
        _set_padding(packet, b"")
    _set_payload(packet, data[offset:end])


def _check_range(name: str, value: int, maximum: int) -> None:
    if not 0 <= value <= maximum:
        raise LocalProtocolError(f"RTP {name} {value} is out of range 0..{maximum}")


def _slot_setter(name: str) -> Any:
    return RtpPacket.__dict__[name].__set__


_new = object.__new__
_set_pt = _slot_setter("payload_type")
_set_seq = _slot_setter("sequence_number")
_set_ts = _slot_setter("timestamp")
_set_ssrc = _slot_setter("ssrc")
_set_payload = _slot_setter("payload")
_set_marker = _slot_setter("marker")
_set_csrc = _slot_setter("csrc")
_set_profile = _slot_setter("extension_profile")
_set_extension = _slot_setter("extension")
_set_padding = _slot_setter("padding")
