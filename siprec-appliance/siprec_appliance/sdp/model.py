"""SDP session descriptions (RFC 8866): a tolerant parser and a canonical serialiser.

Real SBCs send bare LF, trailing blanks, blank lines and private line types, so the
parser keeps what it does not understand and only raises :class:`SdpError` when the
body is unusable: not UTF-8 text, no ``v=`` line, no ``o=`` line, or a malformed
``v=``, ``o=``, ``c=`` or ``m=`` line.

Serialisation is canonical: CRLF line ends and the line order of RFC 8866 §5
(session: v o s i u e p c b t r z k a; media: m i c b k a). Lines of unknown type
are written just before the ``a=`` lines of their section. For well-formed input in
that order, ``bytes(SessionDescription.parse(x)) == x``; for any input that parses,
``parse(bytes(parse(x))) == parse(x)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from siprec_appliance.errors import SdpError

__all__ = [
    "DIRECTIONS",
    "Connection",
    "MediaDescription",
    "Origin",
    "RtcpAttribute",
    "RtpMap",
    "SessionDescription",
]

# RFC 8866 §6.7: the four direction attributes.
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")

_DIGITS = re.compile(r"[0-9]+")
_MAX_PORT = 65535
_MAX_PAYLOAD_TYPE = 127  # RFC 3550 §5.1: PT is 7 bits

# RFC 8866 §5 line order. Index in these strings is the rank of a line type; lines of
# other types rank just before "a".
_SESSION_ORDER = "vosiuepcbtrzka"
_SESSION_OTHER = frozenset("iuepcbrzk")
_MEDIA_ORDER = "micbka"
_MEDIA_OTHER = frozenset("icbk")

AttributeList = list[tuple[str, str | None]]
LineList = list[tuple[str, str]]


def _parse_uint(text: str, what: str) -> int:
    if not _DIGITS.fullmatch(text):
        raise SdpError(f"{what} {text!r} is not a number")
    return int(text)


def _rank(order: str, others: frozenset[str], line_type: str) -> float:
    if line_type in others:
        return float(order.index(line_type))
    return order.index("a") - 0.5


def _sorted_lines(lines: LineList, order: str, others: frozenset[str]) -> LineList:
    # Stable: lines of one type keep their relative order.
    return sorted(lines, key=lambda kv: _rank(order, others, kv[0]))


def _attribute_line(name: str, value: str | None) -> str:
    # RFC 8866 §5.13: a=<attribute> or a=<attribute>:<value>
    return f"a={name}" if value is None else f"a={name}:{value}"


def _values(attributes: AttributeList, name: str) -> list[str]:
    # Attribute names are compared case-insensitively (RFC 8866 §5.13 tolerance).
    wanted = name.lower()
    return ["" if v is None else v for n, v in attributes if n.lower() == wanted]


def _direction(attributes: AttributeList) -> str | None:
    for name, _value in attributes:
        if name.lower() in DIRECTIONS:
            return name.lower()
    return None


@dataclass(slots=True)
class Origin:
    """The ``o=`` line (RFC 8866 §5.2). Mutable so an answerer can bump the version."""

    username: str
    session_id: str
    session_version: int
    nettype: str
    addrtype: str
    address: str

    @classmethod
    def parse(cls, value: str) -> Origin:
        """Parse the value of an ``o=`` line (the text after ``o=``)."""
        fields = value.split()
        if len(fields) != 6:
            raise SdpError(f"o= line: expected 6 fields, got {len(fields)}")
        version = _parse_uint(fields[2], "o= line: session version")
        return cls(fields[0], fields[1], version, fields[3], fields[4], fields[5])

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(frozen=True, slots=True)
class Connection:
    """The ``c=`` line (RFC 8866 §5.7)."""

    nettype: str
    addrtype: str
    address: str

    @classmethod
    def parse(cls, value: str, where: str = "c= line") -> Connection:
        """Parse the value of a ``c=`` line; ``where`` prefixes the error message."""
        fields = value.split()
        if len(fields) != 3:
            raise SdpError(f"{where}: expected 3 fields, got {len(fields)}")
        return cls(fields[0], fields[1], fields[2])

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"


@dataclass(frozen=True, slots=True)
class RtpMap:
    """An ``a=rtpmap`` value (RFC 8866 §6.6) or a static payload type (RFC 3551)."""

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int | None

    @classmethod
    def parse(cls, value: str) -> RtpMap:
        """Parse ``<pt> <encoding>/<clock rate>[/<channels>]``."""
        pt_text, _, codec = value.strip().partition(" ")
        return cls.from_codec(_parse_uint(pt_text, "rtpmap payload type"), codec.strip())

    @classmethod
    def from_codec(cls, payload_type: int, codec: str) -> RtpMap:
        """Build from a codec string ``ENC/rate[/channels]`` as in :attr:`codec`."""
        parts = codec.split("/")
        if len(parts) not in (2, 3) or not parts[0]:
            raise SdpError(f"rtpmap {codec!r} is not <encoding>/<clock rate>[/<channels>]")
        rate = _parse_uint(parts[1], "rtpmap clock rate")
        channels = _parse_uint(parts[2], "rtpmap channels") if len(parts) == 3 else None
        return cls(payload_type, parts[0], rate, channels)

    @property
    def codec(self) -> str:
        """``ENC/rate[/channels]``, e.g. ``PCMU/8000`` or ``opus/48000/2``."""
        base = f"{self.encoding}/{self.clock_rate}"
        return base if self.channels is None else f"{base}/{self.channels}"

    def __str__(self) -> str:
        return f"{self.payload_type} {self.codec}"


@dataclass(frozen=True, slots=True)
class RtcpAttribute:
    """An ``a=rtcp`` value (RFC 3605 §2.1): the RTCP port and optional address."""

    port: int
    address: str | None

    @classmethod
    def parse(cls, value: str) -> RtcpAttribute:
        """Parse ``<port> [<nettype> <addrtype> <address>]``."""
        fields = value.split()
        if not fields:
            raise SdpError("rtcp attribute: missing port")
        port = _parse_uint(fields[0], "rtcp attribute: port")
        return cls(port, fields[3] if len(fields) >= 4 else None)


class _Attributed:
    """``a=`` lookups shared by the session and media levels (RFC 8866 §5.13)."""

    __slots__ = ()
    attributes: AttributeList

    def attribute(self, name: str) -> str | None:
        """First value of attribute ``name`` ("" for a flag), or None if absent."""
        values = _values(self.attributes, name)
        return values[0] if values else None

    def attribute_values(self, name: str) -> list[str]:
        """Every value of attribute ``name`` in order ("" for flags)."""
        return _values(self.attributes, name)

    def has_attribute(self, name: str) -> bool:
        """Whether attribute ``name`` is present (case-insensitive)."""
        return bool(_values(self.attributes, name))

    @property
    def direction(self) -> str | None:
        """The direction attribute at this level (RFC 8866 §6.7), lower case, or None."""
        return _direction(self.attributes)


@dataclass(slots=True)
class MediaDescription(_Attributed):
    """One media section (RFC 8866 §5.14): the ``m=`` line and what follows it.

    ``other_lines`` keeps i=, b=, k= (and unknown) lines as ``(type, value)`` in order.
    """

    media: str
    port: int
    port_count: int | None
    proto: str
    formats: list[str]
    connection: Connection | None = None
    attributes: AttributeList = field(default_factory=list)
    other_lines: LineList = field(default_factory=list)

    @property
    def label(self) -> str | None:
        """``a=label`` (RFC 4574), which SIPREC metadata refers to (RFC 7866 §8)."""
        return self.attribute("label")

    @property
    def rtpmaps(self) -> dict[int, RtpMap]:
        """Explicit ``a=rtpmap`` lines by payload type; malformed ones are skipped."""
        maps: dict[int, RtpMap] = {}
        for value in self.attribute_values("rtpmap"):
            try:
                rtpmap = RtpMap.parse(value)
            except SdpError:
                continue
            maps.setdefault(rtpmap.payload_type, rtpmap)
        return maps

    @property
    def fmtps(self) -> dict[int, str]:
        """``a=fmtp`` parameters by payload type (RFC 8866 §6.15); first one wins."""
        params: dict[int, str] = {}
        for value in self.attribute_values("fmtp"):
            pt_text, _, rest = value.strip().partition(" ")
            if _DIGITS.fullmatch(pt_text):
                params.setdefault(int(pt_text), rest.strip())
        return params

    @property
    def rtcp_mux(self) -> bool:
        """Whether ``a=rtcp-mux`` is present (RFC 5761 §5.1.1)."""
        return self.has_attribute("rtcp-mux")

    @property
    def rtcp(self) -> RtcpAttribute | None:
        """The ``a=rtcp`` attribute (RFC 3605), or None if absent or malformed."""
        value = self.attribute("rtcp")
        if value is None:
            return None
        try:
            return RtcpAttribute.parse(value)
        except SdpError:
            return None

    @property
    def payload_types(self) -> list[int]:
        """Formats that are RTP payload types (integers 0-127), in offer order."""
        return [
            int(f) for f in self.formats if _DIGITS.fullmatch(f) and int(f) <= _MAX_PAYLOAD_TYPE
        ]

    def _to_lines(self) -> list[str]:
        port = str(self.port) if self.port_count is None else f"{self.port}/{self.port_count}"
        m_line = " ".join([f"m={self.media}", port, self.proto, *self.formats])
        keyed: list[tuple[float, int, str]] = [(0.0, 0, m_line)]
        if self.connection is not None:
            keyed.append((float(_MEDIA_ORDER.index("c")), 0, f"c={self.connection}"))
        keyed += [
            (_rank(_MEDIA_ORDER, _MEDIA_OTHER, t), 1, f"{t}={v}") for t, v in self.other_lines
        ]
        rank_a = float(_MEDIA_ORDER.index("a"))
        keyed += [(rank_a, 0, _attribute_line(n, v)) for n, v in self.attributes]
        return [line for _, _, line in sorted(keyed, key=lambda k: (k[0], k[1]))]


@dataclass(slots=True)
class SessionDescription(_Attributed):
    """A whole SDP body (RFC 8866 §5). ``times`` holds the ``t=`` values."""

    version: int
    origin: Origin
    session_name: str
    connection: Connection | None
    times: list[str]
    attributes: AttributeList
    media: list[MediaDescription]
    other_lines: LineList

    @classmethod
    def parse(cls, data: bytes | str) -> SessionDescription:
        """Parse an SDP body tolerantly; raise :class:`SdpError` if it is unusable."""
        parser = _Parser()
        for line_type, value, raw in _iter_lines(_decode(data)):
            parser.feed(line_type, value, raw)
        return parser.finish()

    def to_bytes(self) -> bytes:
        """Serialise with CRLF line ends in RFC 8866 §5 order."""
        lines = self._session_lines()
        for media in self.media:
            lines += media._to_lines()
        return ("\r\n".join(lines) + "\r\n").encode("utf-8")

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    def effective_direction(self, media: MediaDescription) -> str:
        """Media-level direction, else session-level, else sendrecv (RFC 8866 §6.7)."""
        return media.direction or self.direction or "sendrecv"

    def connection_for(self, media: MediaDescription) -> Connection | None:
        """Media-level ``c=``, else the session-level one (RFC 8866 §5.7)."""
        return media.connection or self.connection

    def _session_lines(self) -> list[str]:
        def rank(line_type: str) -> float:
            return float(_SESSION_ORDER.index(line_type))

        keyed: list[tuple[float, int, str]] = [
            (rank("v"), 0, f"v={self.version}"),
            (rank("o"), 0, f"o={self.origin}"),
            (rank("s"), 0, f"s={self.session_name}"),
        ]
        if self.connection is not None:
            keyed.append((rank("c"), 0, f"c={self.connection}"))
        keyed += [(rank("t"), 0, f"t={t}") for t in self.times or ["0 0"]]
        keyed += [
            (_rank(_SESSION_ORDER, _SESSION_OTHER, t), 1, f"{t}={v}") for t, v in self.other_lines
        ]
        keyed += [(rank("a"), 0, _attribute_line(n, v)) for n, v in self.attributes]
        return [line for _, _, line in sorted(keyed, key=lambda k: (k[0], k[1]))]


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        text = data
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise SdpError(f"SDP text is not encodable as UTF-8 (character {exc.start})") from None
    else:
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SdpError(f"SDP is not UTF-8 text (byte {exc.start})") from None
    return text.removeprefix("\ufeff")


def _iter_lines(text: str) -> Iterator[tuple[str, str, str]]:
    """Yield ``(type, value, raw line)``; skip blank lines and lines without ``=``."""
    for raw in text.split("\n"):
        line = raw.strip()
        line_type, sep, value = line.partition("=")
        if sep:
            yield line_type, value, raw


def _parse_attribute(value: str) -> tuple[str, str | None]:
    name, sep, rest = value.partition(":")
    return (name, rest) if sep else (name, None)


def _parse_media_line(value: str, number: int) -> MediaDescription:
    """Parse ``<media> <port>[/<count>] <proto> <fmt> ...`` (RFC 8866 §5.14)."""
    where = f"m= line {number}"
    fields = value.split()
    if len(fields) < 3:
        raise SdpError(f"{where}: expected at least 3 fields, got {len(fields)}")
    port_text, slash, count_text = fields[1].partition("/")
    port = _parse_uint(port_text, f"{where}: port")
    if port > _MAX_PORT:
        raise SdpError(f"{where}: port {port} is out of range")
    count = _parse_uint(count_text, f"{where}: port count") if slash else None
    return MediaDescription(fields[0], port, count, fields[2], fields[3:])


class _Parser:
    """Accumulates lines; session-level until the first ``m=``."""

    __slots__ = (
        "attributes",
        "connection",
        "media",
        "origin",
        "other",
        "session_name",
        "times",
        "version",
    )

    def __init__(self) -> None:
        self.version: int | None = None
        self.origin: Origin | None = None
        self.session_name: str | None = None
        self.connection: Connection | None = None
        self.times: list[str] = []
        self.attributes: AttributeList = []
        self.other: LineList = []
        self.media: list[MediaDescription] = []

    def feed(self, line_type: str, value: str, raw: str) -> None:
        if line_type == "m":
            self.media.append(_parse_media_line(value, len(self.media) + 1))
        elif self.media:
            self._feed_media(self.media[-1], line_type, value)
        else:
            self._feed_session(line_type, value, raw)

    def _feed_session(self, line_type: str, value: str, raw: str) -> None:
        if line_type == "v" and self.version is None:
            self.version = _parse_uint(value, "v= line: version")
        elif line_type == "o" and self.origin is None:
            self.origin = Origin.parse(value)
        elif line_type == "s" and self.session_name is None:
            # RFC 8866 §5.3 recommends "s= " for no name: keep that single space.
            blank = value == "" and raw.rstrip("\r") != raw.rstrip("\r").rstrip()
            self.session_name = " " if blank else value
        elif line_type == "c" and self.connection is None:
            self.connection = Connection.parse(value, "session c= line")
        elif line_type == "t":
            self.times.append(value)
        elif line_type == "a":
            self.attributes.append(_parse_attribute(value))
        else:
            self.other.append((line_type, value))

    def _feed_media(self, media: MediaDescription, line_type: str, value: str) -> None:
        if line_type == "c" and media.connection is None:
            where = f"c= line in m= line {len(self.media)}"
            media.connection = Connection.parse(value, where)
        elif line_type == "a":
            media.attributes.append(_parse_attribute(value))
        else:
            media.other_lines.append((line_type, value))

    def finish(self) -> SessionDescription:
        if self.version is None:
            raise SdpError("no v= line")
        if self.origin is None:
            raise SdpError("no o= line")
        for media in self.media:
            media.other_lines = _sorted_lines(media.other_lines, _MEDIA_ORDER, _MEDIA_OTHER)
        return SessionDescription(
            version=self.version,
            origin=self.origin,
            # Missing s= or t= is tolerated and normalised (RFC 8866 §5.3, §5.9).
            session_name="-" if self.session_name is None else self.session_name,
            connection=self.connection,
            times=self.times or ["0 0"],
            attributes=self.attributes,
            media=self.media,
            other_lines=_sorted_lines(self.other, _SESSION_ORDER, _SESSION_OTHER),
        )
