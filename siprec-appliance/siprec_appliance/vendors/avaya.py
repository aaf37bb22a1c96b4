"""Avaya Universal Call ID (UCID) in every form SRCs pass it on.

UCID layout (docs/vendors.md, "Avaya UCID"): 8 bytes = 2-byte network node id,
2-byte sequence number, 4-byte timestamp in seconds since 1970 (UTC). Its ASCII
form is 20 decimal digits ``NNNNNSSSSSTTTTTTTTTT``.

In SIP it travels in the User-to-User header (RFC 7433) as hex: an optional
protocol discriminator byte (``00``, or ``04`` as AudioCodes adds by default),
then Avaya "shared UUI" items of (id, length, value); the UCID is item ``FA`` with
length ``08``, so the header starts ``00FA08`` or ``04FA08``. Oracle copies the
header value into ``apkt:ucid``, AudioCodes into ``ac:AvayaUCID`` (without the
discriminator), and Avaya SBCE has been seen using it as the metadata session_id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from siprec_appliance.vendors.context import CallInputs, FactSink

__all__ = ["Ucid", "UuiError", "decode_ucid", "extract_avaya"]

_UCID_ITEM = 0xFA  # Avaya shared-UUI item id 250: the UCID
_UCID_LENGTH = 8
_ASCII_UCID = re.compile(r"[0-9]{20}")
_HEX = re.compile(r"[0-9A-Fa-f]*")
_SESSION_ID_UCID = re.compile(r"(?:00|04)?FA08[0-9A-F]{16}", re.IGNORECASE)
_MAX_NODE = 0xFFFF
_UINT32 = 2**32
_EPOCH = datetime(1970, 1, 1)  # naive: isoformat() then has no offset


class UuiError(ValueError):
    """A User-to-User value that claims to be hex but cannot be decoded."""


@dataclass(frozen=True, slots=True)
class Ucid:
    """One decoded UCID."""

    node: int
    sequence: int
    timestamp: int

    @property
    def hex(self) -> str:
        """The 8 bytes as 16 upper-case hex digits."""
        return f"{self.node:04X}{self.sequence:04X}{self.timestamp:08X}"

    @property
    def ascii(self) -> str:
        """Avaya's 20-digit decimal form ``NNNNNSSSSSTTTTTTTTTT``."""
        return f"{self.node:05d}{self.sequence:05d}{self.timestamp:010d}"

    @property
    def iso_time(self) -> str:
        if isinstance(self.timestamp, int) and 0 <= self.timestamp < _UINT32:  # a UCID
            return (_EPOCH + timedelta(seconds=self.timestamp)).isoformat() + "Z"  # 2x strftime
        return datetime.fromtimestamp(self.timestamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @classmethod
    def from_bytes(cls, data: bytes) -> Ucid:
        return cls(
            int.from_bytes(data[0:2], "big"),
            int.from_bytes(data[2:4], "big"),
            int.from_bytes(data[4:8], "big"),
        )

    @classmethod
    def from_ascii(cls, text: str) -> Ucid | None:
        """Parse the 20-digit form; None when it is not one (or a field overflows)."""
        if not _ASCII_UCID.fullmatch(text):
            return None
        node, sequence, timestamp = int(text[:5]), int(text[5:10]), int(text[10:])
        if node > _MAX_NODE or sequence > _MAX_NODE or timestamp >= 2**32:
            return None
        return cls(node, sequence, timestamp)


def decode_ucid(value: str) -> Ucid | None:
    """The UCID in a User-to-User value (``04FA08...;encoding=hex``), if it has one.

    Returns None for UUI that is not Avaya shared UUI; raises :class:`UuiError` when
    the value is not valid hex or an item is truncated.
    """
    data_text, _, param_text = value.strip().partition(";")
    params = {
        k.strip().lower(): v.strip().lower()
        for k, _, v in (p.partition("=") for p in param_text.split(";"))
        if k.strip()
    }
    if params.get("encoding", "hex") != "hex":  # RFC 7433 §4.1: hex is the default
        return None
    data_text = "".join(data_text.split())
    if not data_text:
        return None
    if len(data_text) % 2 or not _HEX.fullmatch(data_text):
        raise UuiError(f"not hex: {data_text[:40]!r}")
    data = bytes.fromhex(data_text)
    if data[0] == _UCID_ITEM:
        index = 0
    elif len(data) > 1 and data[1] == _UCID_ITEM:
        index = 1  # skip the protocol discriminator
    else:
        return None
    while index < len(data):
        if index + 1 >= len(data):
            raise UuiError(f"shared-UUI item {data[index]:02X} has no length byte")
        item, length = data[index], data[index + 1]
        item_value = data[index + 2 : index + 2 + length]
        if len(item_value) < length:
            raise UuiError(f"shared-UUI item {item:02X} truncated ({len(item_value)}/{length})")
        if item == _UCID_ITEM:
            if length != _UCID_LENGTH:
                raise UuiError(f"UCID item is {length} bytes, expected {_UCID_LENGTH}")
            return Ucid.from_bytes(item_value)
        index += 2 + length
    return None


def _record(sink: FactSink, ucid: Ucid, source: str) -> None:
    existing = sink.values.get("avaya.ucid_hex")
    if existing is None:
        sink.set("avaya.ucid", ucid.ascii, source)
        sink.set("avaya.ucid_hex", ucid.hex, source)
        sink.set("avaya.ucid_node", ucid.node, source)
        sink.set("avaya.ucid_sequence", ucid.sequence, source)
        sink.set("avaya.ucid_timestamp", ucid.iso_time, source)
        sink.set("avaya.ucid_source", source, source)
    elif existing != ucid.hex:
        sink.warn(
            f"avaya.ucid: {source} carries {ucid.hex} but "
            f"{sink.values.get('avaya.ucid_source')} carried {existing}; kept the first"
        )


def _try_hex(sink: FactSink, value: str, source: str) -> None:
    try:
        ucid = decode_ucid(value)
    except UuiError as exc:
        sink.warn(f"{source}: cannot decode UCID ({exc})")
        return
    if ucid is not None:
        _record(sink, ucid, source)


def extract_avaya(inputs: CallInputs, sink: FactSink) -> None:
    """``avaya.*`` from User-to-User, ac:AvayaUCID, apkt:ucid, X-*-UCID, session_id."""
    for value in inputs.header_values("User-to-User"):
        sink.set("avaya.uui", value.strip(), "User-to-User header")
        _try_hex(sink, value, "User-to-User header")
    for owned in inputs.nodes_named("AvayaUCID"):
        _try_hex(sink, owned.node.text, "ac:AvayaUCID")
    for owned in inputs.nodes_named("ucid"):
        if owned.node.namespace and "acmepacket" in owned.node.namespace:
            text = owned.node.text
            if "FA08" in text.upper():
                _try_hex(sink, text, "apkt:ucid")
    for name in ("X-Avaya-UCID", "X-UCID"):
        header_value = inputs.header(name)
        if header_value:
            ascii_ucid = Ucid.from_ascii(header_value.strip())
            if ascii_ucid is not None:
                _record(sink, ascii_ucid, f"{name} header")
            else:
                _try_hex(sink, header_value, f"{name} header")
    if inputs.metadata is not None:
        for session in inputs.metadata.sessions:
            if _SESSION_ID_UCID.fullmatch(session.id):
                _try_hex(sink, session.id, "metadata session_id")
