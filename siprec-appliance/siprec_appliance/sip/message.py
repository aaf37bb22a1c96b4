"""SIP messages (RFC 3261 §7): tolerant parsing and strict serialising.

Accepted from real SBCs: bare LF line ends, folded header lines, compact header
names, any header case, no space after the colon, repeated headers, leading CRLFs.
Anything else either parses or raises :class:`SipProtocolError`, never another error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from siprec_appliance.errors import SipProtocolError
from siprec_appliance.sip.headers import NameAddress, Via, canonical_name, is_digits, split_list

# RFC 3261 §25.1 token characters, for method names.
_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")
# Largest UDP payload over IPv4; a SIP message over UDP cannot be larger (RFC 768).
MAX_DATAGRAM = 65507

REASON_PHRASES: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    422: "Session Interval Too Small",
    481: "Call/Transaction Does Not Exist",
    483: "Too Many Hops",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "Version Not Supported",
    513: "Message Too Large",
}


class Headers:
    """An ordered, case-insensitive multi-map of header fields (RFC 3261 §7.3)."""

    __slots__ = ("_items",)

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str]] = [
            (canonical_name(name), value) for name, value in (items or [])
        ]

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name`` (compact or long form), or ``default``."""
        key = canonical_name(name)
        for item_name, value in self._items:
            if item_name == key:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` in order, one per header line."""
        key = canonical_name(name)
        return [value for item_name, value in self._items if item_name == key]

    def get_list(self, name: str) -> list[str]:
        """Every comma-separated element of every ``name`` line (RFC 3261 §7.3.1)."""
        result: list[str] = []
        for value in self.get_all(name):
            result.extend(split_list(value))
        return result

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def add(self, name: str, value: str) -> None:
        self._items.append((canonical_name(name), value))

    def set(self, name: str, value: str) -> None:
        """Replace every ``name`` line with one line holding ``value``."""
        key = canonical_name(name)
        for index, (item_name, _) in enumerate(self._items):
            if item_name == key:
                self._items[index] = (key, value)
                self._items = [
                    item for i, item in enumerate(self._items) if i <= index or item[0] != key
                ]
                return
        self._items.append((key, value))

    def remove(self, name: str) -> None:
        key = canonical_name(name)
        self._items = [item for item in self._items if item[0] != key]

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def copy(self) -> Headers:
        new = Headers()
        new._items = list(self._items)
        return new

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(slots=True)
class _Message:
    headers: Headers
    body: bytes
    version: str

    @property
    def call_id(self) -> str:
        return self.headers.get("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        """(sequence number, method) from CSeq (RFC 3261 §20.16)."""
        return parse_cseq(self.headers.get("CSeq"))

    @property
    def from_tag(self) -> str | None:
        value = self.headers.get("From")
        return NameAddress.parse(value).tag if value else None

    @property
    def to_tag(self) -> str | None:
        value = self.headers.get("To")
        return NameAddress.parse(value).tag if value else None

    @property
    def top_via(self) -> Via:
        values = self.headers.get_list("Via")
        if not values:
            raise SipProtocolError("missing Via", 400)
        return Via.parse(values[0])

    @property
    def content_type(self) -> str:
        """The media type of the body, lower case, without parameters."""
        value = self.headers.get("Content-Type") or ""
        return value.split(";", 1)[0].strip().lower()

    def _serialise(self, start_line: str) -> bytes:
        lines = [start_line]
        lines.extend(f"{name}: {value}" for name, value in self.headers if name != "Content-Length")
        lines.append(f"Content-Length: {len(self.body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("utf-8", "surrogateescape") + self.body


@dataclass(slots=True)
class Request(_Message):
    method: str = "INVITE"
    uri: str = ""

    def to_bytes(self) -> bytes:
        return self._serialise(f"{self.method} {self.uri} {self.version}")

    def __bytes__(self) -> bytes:
        return self.to_bytes()


@dataclass(slots=True)
class Response(_Message):
    status: int = 200
    reason: str = "OK"

    def to_bytes(self) -> bytes:
        return self._serialise(f"{self.version} {self.status} {self.reason}")

    def __bytes__(self) -> bytes:
        return self.to_bytes()


Message = Request | Response


@dataclass(slots=True)
class ParseResult:
    """A parsed message and the tolerances applied to it (logged by the caller)."""

    message: Message
    warnings: list[str] = field(default_factory=list)


def parse_cseq(value: str | None) -> tuple[int, str]:
    if not value:
        raise SipProtocolError("missing CSeq", 400)
    parts = value.split()
    if len(parts) != 2 or not is_digits(parts[0]) or len(parts[0]) > 10:
        raise SipProtocolError(f"malformed CSeq {value!r}", 400)
    number = int(parts[0])
    if number >= 2**31:
        raise SipProtocolError(f"CSeq number {number} out of range", 400)
    return number, parts[1]


def _split_head(data: bytes) -> tuple[bytes, bytes, bool]:
    """Split at the first empty line (CRLFCRLF or bare LF LF); report if one was found."""
    crlf = data.find(b"\r\n\r\n")
    lf = data.find(b"\n\n")
    if crlf < 0 and lf < 0:
        return data, b"", False
    if lf >= 0 and (crlf < 0 or lf < crlf):
        return data[:lf], data[lf + 2 :], True
    return data[:crlf], data[crlf + 4 :], True


def _header_lines(text: str) -> list[str]:
    """Split into lines on CRLF or LF and unfold continuation lines (RFC 3261 §7.3.1)."""
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.rstrip("\r")
        if line[:1] in (" ", "\t") and lines:
            lines[-1] = lines[-1].rstrip() + " " + line.strip()
        else:
            lines.append(line)
    return lines


def _parse_start_line(line: str) -> tuple[str, str, str] | tuple[str, int, str]:
    if line[:4].upper() == "SIP/":
        version, _, rest = line.partition(" ")
        code, _, reason = rest.strip().partition(" ")
        if len(code) != 3 or not is_digits(code) or not 100 <= int(code) <= 699:
            raise SipProtocolError(f"malformed status line {line[:80]!r}", 400)
        return version.upper(), int(code), reason.strip()
    parts = line.split()
    if len(parts) != 3:
        raise SipProtocolError(f"malformed request line {line[:80]!r}", 400)
    method, uri, version = parts
    if not set(method) <= _TOKEN_CHARS:
        raise SipProtocolError(f"malformed method {method[:40]!r}", 400)
    if version.upper() != "SIP/2.0":
        raise SipProtocolError(f"unsupported SIP version {version[:20]!r}", 505)
    if ":" not in uri:
        raise SipProtocolError(f"malformed Request-URI {uri[:80]!r}", 400)
    return method, uri, version.upper()


def parse_message(data: bytes, *, datagram: bool = True) -> ParseResult:
    """Parse one SIP message.

    ``datagram`` means the bytes are a whole UDP datagram: a Content-Length shorter
    than the body truncates it, a longer one is an error (RFC 3261 §18.3); a missing
    Content-Length means "the rest of the datagram". On a stream the framer already
    cut the message by Content-Length.
    """
    warnings: list[str] = []
    stripped = data.lstrip(b"\r\n")  # RFC 3261 §7.5: ignore CRLFs before the start line
    if not stripped:
        raise SipProtocolError("empty message", 400)
    if len(stripped) > MAX_DATAGRAM and datagram:
        raise SipProtocolError("message larger than a UDP datagram", 513)
    head, body, had_blank = _split_head(stripped)
    if not had_blank:
        warnings.append("no empty line after the headers")
    text = head.decode("utf-8", "surrogateescape")
    if "\r" not in text and "\n" in text:
        warnings.append("bare LF line ends")
    lines = _header_lines(text)
    start = _parse_start_line(lines[0])
    headers = Headers(_parse_header_lines(lines[1:], warnings))
    body = _apply_content_length(headers, body, datagram, warnings)
    message: Message
    if isinstance(start[1], int):
        message = Response(headers, body, start[0], status=start[1], reason=str(start[2]))
    else:
        message = Request(headers, body, str(start[2]), method=start[0], uri=start[1])
    return ParseResult(message, warnings)


def _parse_header_lines(lines: list[str], warnings: list[str]) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    for line in lines:
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        name = name.strip()
        if not sep or not name or " " in name:
            raise SipProtocolError(f"malformed header line {line[:80]!r}", 400)
        items.append((name, value.strip()))
    return items


def _apply_content_length(
    headers: Headers, body: bytes, datagram: bool, warnings: list[str]
) -> bytes:
    value = headers.get("Content-Length")
    if value is None:
        if body and not datagram:
            warnings.append("no Content-Length on a stream")
        return body
    value = value.strip()
    if not is_digits(value) or len(value) > 9:
        raise SipProtocolError(f"malformed Content-Length {value[:20]!r}", 400)
    length = int(value)
    if length > len(body):
        raise SipProtocolError(
            f"Content-Length {length} is larger than the {len(body)}-byte body", 400
        )
    if length < len(body):
        if body[length:].strip(b"\r\n\x00 "):
            warnings.append(f"{len(body) - length} bytes after Content-Length ignored")
        return body[:length]
    return body


# RFC 3261 §8.1.1: the headers every request needs before we can even answer it.
_MANDATORY = ("Via", "From", "To", "Call-ID", "CSeq")


def validate_request(request: Request) -> None:
    """Check what RFC 3261 §8.2 requires before a request is processed.

    Raises :class:`SipProtocolError` with the status to answer (400, 483, 416).
    """
    for name in _MANDATORY:
        if not request.headers.get(name):
            raise SipProtocolError(f"Missing {name} header", 400)
    number, method = request.cseq
    del number
    if method.upper() != request.method.upper():
        raise SipProtocolError(f"CSeq method {method} does not match {request.method}", 400)
    request.top_via  # noqa: B018 - raises on a malformed Via
    for name in ("From", "To"):
        NameAddress.parse(request.headers.get(name) or "")
    max_forwards = request.headers.get("Max-Forwards")
    if max_forwards is not None:
        mf = max_forwards.strip()
        if not is_digits(mf):
            raise SipProtocolError(f"malformed Max-Forwards {mf[:20]!r}", 400)
    scheme = request.uri.split(":", 1)[0].lower()
    if scheme not in ("sip", "sips", "tel", "urn"):
        raise SipProtocolError(f"unsupported URI scheme {scheme[:20]!r}", 416)


def can_answer(request: Request) -> bool:
    """True when a response could be routed back (RFC 3261 §8.2.6 needs these).

    The CSeq only has to be present: it is copied verbatim, so a malformed one
    still gets its 400.
    """
    try:
        request.top_via  # noqa: B018
    except SipProtocolError:
        return False
    headers = request.headers
    return bool(headers.get("Call-ID") and headers.get("From") and headers.get("CSeq"))
