"""Framing SIP messages on a byte stream (TCP, TLS): RFC 3261 §18.3.

Messages are cut by Content-Length; several messages may arrive in one read and one
message may span many reads. A lone CRLFCRLF is a keep-alive ping (RFC 5626 §3.5.1).
"""

from __future__ import annotations

import re
from typing import Final

from siprec_appliance.errors import SipProtocolError

PING: Final = b"\r\n\r\n"
MAX_HEADER_BYTES: Final = 64 * 1024
MAX_MESSAGE_BYTES: Final = 4 * 1024 * 1024

_CONTENT_LENGTH = re.compile(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)")


class StreamFramer:
    """Turns stream reads into whole messages. Pure: no I/O, no clock."""

    __slots__ = ("_buffer", "_max_message", "_scan_from")

    def __init__(self, max_message: int = MAX_MESSAGE_BYTES) -> None:
        self._buffer = bytearray()
        self._scan_from = 0
        self._max_message = max_message

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes; return every complete message, and ``PING`` for each keep-alive.

        Raises :class:`SipProtocolError` when the stream cannot be framed any more
        (the connection must then be closed).
        """
        self._buffer += data
        out: list[bytes] = []
        while True:
            item = self._next()
            if item is None:
                return out
            out.append(item)

    def _next(self) -> bytes | None:
        buf = self._buffer
        if buf.startswith(PING):
            del buf[:4]
            self._scan_from = 0
            return PING
        skip = 0
        while skip < len(buf) and buf[skip] in (0x0D, 0x0A):
            skip += 1
        if skip == len(buf) and skip < 4:
            return None  # maybe the start of a ping: wait
        if skip:
            del buf[:skip]
            self._scan_from = 0
        end, sep_len = self._find_head_end()
        if end < 0:
            if len(buf) > MAX_HEADER_BYTES:
                raise SipProtocolError("header section larger than 64 KiB", 513)
            return None
        length = self._content_length(bytes(buf[:end]))
        total = end + sep_len + length
        if total > self._max_message:
            raise SipProtocolError(f"message of {total} bytes is too large", 513)
        if len(buf) < total:
            return None
        message = bytes(buf[:total])
        del buf[:total]
        self._scan_from = 0
        return message

    def _find_head_end(self) -> tuple[int, int]:
        buf = self._buffer
        start = max(0, self._scan_from - 3)
        crlf = buf.find(b"\r\n\r\n", start)
        lf = buf.find(b"\n\n", start)
        if crlf < 0 and lf < 0:
            self._scan_from = len(buf)
            return -1, 0
        if lf >= 0 and (crlf < 0 or lf < crlf):
            return lf, 2
        return crlf, 4

    @staticmethod
    def _content_length(head: bytes) -> int:
        match = _CONTENT_LENGTH.search(head)
        if match is None:
            return 0  # RFC 3261 §18.3 makes it mandatory on streams; absent means no body
        value = match.group(1).strip()
        if not value.isdigit() or len(value) > 9:
            text = value[:20].decode("ascii", "replace")
            raise SipProtocolError(f"malformed Content-Length {text!r}", 400)
        return int(value)
