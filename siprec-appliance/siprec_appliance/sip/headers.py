"""Header grammar helpers: names, parameters, lists, addresses, Via and SIP URIs.

Parsing is tolerant (RFC 3261 §7.3.1 leaves room for odd whitespace and case) but
every helper either returns a value or raises :class:`SipProtocolError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from siprec_appliance.errors import SipProtocolError

# RFC 3261 §7.3.3 compact forms, plus later RFCs' registered ones (RFC 3515, 3892, 4028, 3841).
COMPACT_FORMS: dict[str, str] = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
    "o": "Event",
    "r": "Refer-To",
    "b": "Referred-By",
    "x": "Session-Expires",
    "u": "Allow-Events",
    "a": "Accept-Contact",
    "j": "Reject-Contact",
    "d": "Request-Disposition",
    "y": "Identity",
    "n": "Identity-Info",
}

# Names whose usual spelling is not plain Title-Case.
_SPECIAL_NAMES: dict[str, str] = {
    name.lower(): name
    for name in (
        "Call-ID",
        "CSeq",
        "WWW-Authenticate",
        "Min-SE",
        "MIME-Version",
        "RAck",
        "RSeq",
        "SIP-ETag",
        "SIP-If-Match",
        "P-Asserted-Identity",
        "Cisco-Guid",
        "Session-ID",
    )
}

_NAME_CACHE: dict[str, str] = {}


def canonical_name(name: str) -> str:
    """Return the canonical spelling of a header name, expanding compact forms."""
    cached = _NAME_CACHE.get(name)
    if cached is not None:
        return cached
    stripped = name.strip()
    lower = stripped.lower()
    if len(lower) == 1 and lower in COMPACT_FORMS:
        result = COMPACT_FORMS[lower]
    elif lower in _SPECIAL_NAMES:
        result = _SPECIAL_NAMES[lower]
    else:
        result = "-".join(part[:1].upper() + part[1:].lower() for part in lower.split("-"))
    if len(_NAME_CACHE) < 4096:
        _NAME_CACHE[name] = result
    return result


def is_digits(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also takes "²" or "٣", which ``int()`` may refuse."""
    return text.isascii() and text.isdigit()


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, ignoring commas in quotes and <...>.

    RFC 3261 §7.3.1: several values of one header may be combined with commas.
    """
    items: list[str] = []
    depth = 0
    quoted = False
    start = 0
    i = 0
    while i < len(value):
        ch = value[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            items.append(value[start:i].strip())
            start = i + 1
        i += 1
    items.append(value[start:].strip())
    return [item for item in items if item]


def parse_params(text: str) -> dict[str, str | None]:
    """Parse ``;name=value;flag`` parameters into a dict with lower-case names."""
    params: dict[str, str | None] = {}
    for raw in _split_outside_quotes(text, ";"):
        item = raw.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        key = name.strip().lower()
        if not key:
            continue
        params[key] = _unquote(value.strip()) if sep else None
    return params


def format_params(params: dict[str, str | None]) -> str:
    """Serialise parameters as ``;name=value;flag``."""
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    quoted = False
    start = 0
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    return value


@dataclass(slots=True)
class SipUri:
    """A ``sip:``/``sips:``/``tel:`` URI (RFC 3261 §19.1), enough to route a request."""

    scheme: str
    user: str | None
    host: str
    port: int | None
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> SipUri:
        raw = text.strip()
        scheme, sep, rest = raw.partition(":")
        if not sep or not scheme or not rest:
            raise SipProtocolError(f"malformed URI {raw!r}", 400)
        rest = rest.split("?", 1)[0]
        hostpart, _, paramtext = rest.partition(";")
        user: str | None = None
        if "@" in hostpart:
            user, _, hostpart = hostpart.rpartition("@")
        host, port = split_host_port(hostpart)
        return cls(scheme.lower(), user, host, port, parse_params(paramtext))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        hostport = host if self.port is None else f"{host}:{self.port}"
        userinfo = f"{self.user}@" if self.user else ""
        return f"{self.scheme}:{userinfo}{hostport}{format_params(self.params)}"


def split_host_port(text: str) -> tuple[str, int | None]:
    """Split ``host``, ``host:port``, ``[v6]`` or ``[v6]:port``."""
    text = text.strip()
    if not text:
        raise SipProtocolError("empty host", 400)
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipProtocolError(f"malformed IPv6 reference {text!r}", 400)
        host, rest = text[1:end], text[end + 1 :]
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not port_text:
        return host, None
    if not is_digits(port_text) or not 0 < int(port_text) < 65536:
        raise SipProtocolError(f"bad port in {text!r}", 400)
    return host, int(port_text)


@dataclass(slots=True)
class NameAddress:
    """``name-addr`` or ``addr-spec`` with header parameters (From, To, Contact, Route)."""

    display_name: str | None
    uri: str
    params: dict[str, str | None] = field(default_factory=dict)
    bracketed: bool = True

    @classmethod
    def parse(cls, text: str) -> NameAddress:
        raw = text.strip()
        if not raw:
            raise SipProtocolError("empty address", 400)
        lt = _find_unquoted(raw, "<")
        if lt >= 0:
            gt = raw.find(">", lt)
            if gt < 0:
                raise SipProtocolError(f"unterminated <URI> in {raw!r}", 400)
            display = _unquote(raw[:lt].strip()) or None
            return cls(display, raw[lt + 1 : gt].strip(), parse_params(raw[gt + 1 :]), True)
        if raw == "*":
            return cls(None, "*", {}, False)
        # RFC 3261 §20.10: without brackets, parameters after the URI belong to the header.
        uri, _, paramtext = raw.partition(";")
        return cls(None, uri.strip(), parse_params(paramtext), False)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def __str__(self) -> str:
        display = f'"{self.display_name}" ' if self.display_name else ""
        return f"{display}<{self.uri}>{format_params(self.params)}"


def _find_unquoted(text: str, char: str) -> int:
    quoted = False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch == char and not quoted:
            return i
    return -1


@dataclass(slots=True)
class Via:
    """One Via value (RFC 3261 §20.42)."""

    transport: str
    host: str
    port: int | None
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Via:
        raw = text.strip()
        proto, _, rest = raw.partition(" ")
        pieces = [p.strip() for p in proto.split("/")]
        if len(pieces) != 3 or pieces[0].upper() != "SIP" or not rest.strip():
            raise SipProtocolError(f"malformed Via {raw!r}", 400)
        sent_by, _, paramtext = rest.strip().partition(";")
        host, port = split_host_port(sent_by.replace(" ", ""))
        return cls(pieces[2].upper(), host, port, parse_params(paramtext))

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        hostport = host if self.port is None else f"{host}:{self.port}"
        return f"SIP/2.0/{self.transport} {hostport}{format_params(self.params)}"
