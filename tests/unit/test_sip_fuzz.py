"""Fuzz invariant for every parser that takes network input (shared/STYLE.md).

Any bytes either parse or raise :class:`SipProtocolError`; the SRS core never raises.
"""

from __future__ import annotations

import itertools
import os
from contextlib import suppress
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siprec_appliance.errors import SipProtocolError
from siprec_appliance.sip.framing import StreamFramer
from siprec_appliance.sip.message import Request, parse_message, validate_request
from siprec_appliance.sip.multipart import split_body
from siprec_appliance.sip.transport import Peer
from siprec_appliance.siprec.detect import detect
from support.src import Src, accept_all, make_core

DATA = Path(__file__).resolve().parent.parent / "data" / "sip"
GOLDENS = {p.name: p.read_bytes() for p in sorted(DATA.glob("*.sip")) if "60k" not in p.name}
VALID = {n: d for n, d in GOLDENS.items() if not n.startswith("malformed")}
# SIPREC_FUZZ_SCALE=50 for a long run; the default keeps the unit suite fast.
SCALE = int(os.environ.get("SIPREC_FUZZ_SCALE", "1"))


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


FUZZ = fuzz(150)

# ------------------------------------------------------------------ strategies
_NAMES = [
    "Via", "v", "From", "f", "To", "t", "Call-ID", "i", "CSeq", "Contact", "m",
    "Content-Length", "l", "Content-Type", "c", "Require", "Supported", "k",
    "Session-Expires", "x", "Max-Forwards", "Record-Route", "Allow", "Min-SE",
]  # fmt: skip
_PIECES = [*'abcz09;=:,<>"@ .-/+*[]\t²\\', "sip:", "SIP/2.0/UDP ", "tag=", "z9hG4bK", "\r\n "]
_VALUE = st.lists(st.sampled_from(_PIECES), max_size=25).map("".join)
_START = st.sampled_from(
    [
        "INVITE sip:srs@10.0.0.1 SIP/2.0",
        "ACK sip:srs@10.0.0.1 SIP/2.0",
        "BYE sip:srs@10.0.0.1 SIP/2.0",
        "CANCEL sip:srs@10.0.0.1 SIP/2.0",
        "OPTIONS sip:srs SIP/2.0",
        "UPDATE sip:x SIP/2.0",
        "invite sip:x SIP/2.0",
        "SIP/2.0 200 OK",
        "SIP/2.0 180 Ringing",
        "FOO bar SIP/2.0",
        "SIP/2.0 ²00 OK",
        "INVITE sip:x SIP/2.0²",
    ]
)


@st.composite
def sipish(draw: st.DrawFn) -> bytes:
    """Messages built from SIP's own pieces, so that fuzzing gets past the start line."""
    lines = [draw(_START)]
    for name, value in draw(st.lists(st.tuples(st.sampled_from(_NAMES), _VALUE), max_size=12)):
        lines.append(f"{name}:{value}")
    eol = draw(st.sampled_from(["\r\n", "\n"]))
    body = draw(st.binary(max_size=60))
    return (eol.join(lines) + eol + eol).encode() + body


@st.composite
def mutated(draw: st.DrawFn, pool: dict[str, bytes] = GOLDENS) -> bytes:
    """A golden message with bytes flipped, inserted, deleted or cut off."""
    data = bytearray(pool[draw(st.sampled_from(sorted(pool)))])
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "dup"]))
        if op == "flip":
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(
                st.sampled_from([b"\r\n", b"\n", b":", b";", b"<", b'"', b" ", b"\x00", b"9"])
            )
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[pos:]
        else:
            end = min(len(data), pos + draw(st.integers(1, 40)))
            data[pos:pos] = data[pos:end]
    return bytes(data)


_SDP = (DATA.parent / "sdp" / "siprec_two_streams.sdp").read_bytes()
_MULTIPART = (
    b"--B\r\nContent-Type: application/sdp\r\n\r\n" + _SDP + b"\r\n"
    b"--B\r\nContent-Type: application/rs-metadata+xml\r\n\r\n<recording/>\r\n--B--\r\n"
)
# Each header: mostly a good value, sometimes a nasty one, sometimes absent (None).
_CHOICES: dict[str, list[str | None]] = {
    "Via": [
        "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK{n};rport",
        "SIP/2.0/TCP 192.0.2.9;branch=z9hG4bK{n}",
        "SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bK{n};received=1.2.3.4",
        "SIP/2.0/UDP 192.0.2.9:5060",  # RFC 2543: no branch
        "SIP/2.0/UDP 192.0.2.9:²;branch=z9hG4bK{n}",
        "SIP/2.0/UDP [::1;branch=x",
        "SIP/2.0 192.0.2.9",
        None,
    ],
    "From": [
        "<sip:src@192.0.2.9>;tag=src{n}",
        '"A" <sip:a@b>;tag=t',
        "sip:a@b;tag=x",
        "<sip:x",
        "",
        None,
    ],
    "To": ["<sip:srs@192.0.2.1>", "<sip:srs@192.0.2.1>;tag=t{n}", "sip:srs@h", "<sip:", "", None],
    "Call-ID": ["fuzz-{n}@src", "fuzz-0@src", "", None],
    "CSeq": ["{cseq} {method}", "{cseq} INVITE", "² {method}", "99999999999 {method}", "1", None],
    "Contact": [
        "<sip:src@192.0.2.9:5070>;+sip.src",
        "<sip:src@192.0.2.9:99999>",
        "<sip:>",
        "<sips:[2001:db8::1]:5061;transport=tls>",
        "<sip:src@host;transport=sctp>",
        "*",
        "<mailto:x@y>",
        None,
    ],
    "Record-Route": ["<sip:rr.example;lr>", "<sip:rr:0;lr>", "<:>", None, None],
    "Session-Expires": ["1800;refresher=uac", "90;refresher=uas", "60", "²", "9" * 400, None, None],
    "Supported": ["timer", "siprec, timer", "", None],
    "Require": ["siprec", "timer", "foo", None, None],
    "Allow": ["INVITE, ACK, BYE", "UPDATE", None],
    "Max-Forwards": ["70", "x", "²", None],
}
_METHODS = [
    "INVITE",
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "UPDATE",
    "INFO",
    "invite",
    "FOO",
]
_BODIES: list[tuple[str | None, bytes]] = [
    ("multipart/mixed;boundary=B", _MULTIPART),
    ("application/sdp", _SDP),
    ("multipart/mixed", _MULTIPART),
    ("text/plain", b"hello"),
    (None, b""),
    ("application/sdp", b"v=0\r\nm=audio x RTP/AVP\r\n"),
]


@st.composite
def sip_request(draw: st.DrawFn, to_tag: str | None = None) -> bytes:
    """A mostly well-formed request whose headers each may be broken or missing."""
    method = draw(st.sampled_from(_METHODS))
    n = draw(st.integers(0, 3))
    cseq = draw(st.integers(1, 5))
    uri = draw(st.sampled_from(["sip:srs@192.0.2.1", "sip:192.0.2.1:5060", "x:y"]))
    lines = [f"{method} {uri} SIP/2.0"]
    for name, options in _CHOICES.items():
        value = draw(st.sampled_from(options))
        if value is None:
            continue
        value = value.format(n=n, cseq=cseq, method=method)
        if name == "To" and to_tag and draw(st.booleans()):
            value = f"<sip:srs@192.0.2.1>;tag={to_tag}"
        lines.append(f"{name}: {value}")
    ctype, body = draw(st.sampled_from(_BODIES))
    if draw(st.integers(0, 4)) == 0 and body:
        body = draw(mutated({"body": body}))
    if ctype:
        lines.append(f"Content-Type: {ctype}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


ANY_INPUT = st.one_of(st.binary(max_size=400), sipish(), mutated(), sip_request())


def _use_everything(data: bytes, *, datagram: bool) -> None:
    """Parse and touch every derived field a caller may read."""
    try:
        message = parse_message(data, datagram=datagram).message
    except SipProtocolError:
        return
    bytes(message)
    for read in (
        lambda: message.cseq,
        lambda: message.top_via,
        lambda: message.from_tag,
        lambda: message.to_tag,
        lambda: split_body(message.headers, message.body),
    ):
        with suppress(SipProtocolError):
            read()
    assert isinstance(message.call_id, str) and isinstance(message.content_type, str)
    if isinstance(message, Request):
        with suppress(SipProtocolError):
            validate_request(message)
            detect(message, split_body(message.headers, message.body))


# ------------------------------------------------------------------ parser
@FUZZ
@given(data=ANY_INPUT, datagram=st.booleans())
def test_parse_message_returns_or_raises_protocol_error(data: bytes, datagram: bool) -> None:
    _use_everything(data, datagram=datagram)


@FUZZ
@given(data=mutated(VALID))
def test_mutated_goldens_parse_or_raise_protocol_error(data: bytes) -> None:
    _use_everything(data, datagram=True)


# ------------------------------------------------------------------ framer
def _chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@FUZZ
@given(data=ANY_INPUT, cuts=st.lists(st.integers(0, 10_000), max_size=10))
def test_framer_any_chunking_returns_or_raises(data: bytes, cuts: list[int]) -> None:
    framer = StreamFramer()
    try:
        for chunk in _chunked(data, cuts):
            for message in framer.feed(chunk):
                _use_everything(message, datagram=False)
    except SipProtocolError:
        pass


@FUZZ
@given(
    names=st.lists(st.sampled_from(sorted(VALID)), min_size=1, max_size=4),
    cuts=st.lists(st.integers(0, 100_000), max_size=12),
    pings=st.booleans(),
)
def test_framer_output_does_not_depend_on_chunking(
    names: list[str], cuts: list[int], pings: bool
) -> None:
    messages = [VALID[n] for n in names]
    sep = b"\r\n\r\n" if pings else b""
    stream = sep + sep.join(messages)
    framer = StreamFramer()
    out: list[bytes] = []
    for chunk in _chunked(stream, cuts):
        out += framer.feed(chunk)
    assert [m for m in out if m != b"\r\n\r\n"] == messages
    assert framer.buffered == 0


# ------------------------------------------------------------------ SRS core
UDP = Peer("UDP", "192.0.2.9", 5060, "192.0.2.1", 5060)
TCP = Peer("TCP", "192.0.2.9", 40000, "192.0.2.1", 5060, connection_id=3)


@fuzz(300)
@given(
    inputs=st.lists(ANY_INPUT, min_size=1, max_size=4),
    tcp=st.booleans(),
    accept=st.booleans(),
)
def test_srs_core_never_raises(inputs: list[bytes], tcp: bool, accept: bool) -> None:
    core = make_core(ports=(30000, 30010))
    peer = TCP if tcp else UDP
    now = 0.0
    for data in inputs:
        core.receive(data, peer, now, datagram=not tcp)
        if accept:
            accept_all(core, now)
        now += 1.0
        core.handle_timer(now)
    # Let every timer run: 2xx retransmission, timer L (BYE), session timers.
    for later in (40.0, 100.0, 2000.0, 4000.0):
        core.handle_timer(later)
        core.terminate_all(later)
    for out in core.messages_to_send():
        parse_message(out.data, datagram=False)  # whatever we send parses back


@fuzz(150)
@given(data=mutated(VALID), follow_up=mutated(VALID), in_dialog=sip_request(to_tag="TAG"))
def test_srs_core_survives_mutated_dialogs(data: bytes, follow_up: bytes, in_dialog: bytes) -> None:
    """A good session, then mutated in-dialog traffic and a mutated new INVITE."""
    core = make_core()
    src = Src(core)
    src.send(src.invite(), 0.0)
    accept_all(core, 0.0)
    src.drain()
    src.ack(0.1)
    assert src.to_tag is not None
    in_dialog = in_dialog.replace(b"tag=TAG", f"tag={src.to_tag}".encode())
    in_dialog = in_dialog.replace(b"fuzz-0@src", src.call_id.encode())
    core.receive(data, src.peer, 1.0)
    core.receive(follow_up, src.peer, 2.0)
    core.receive(in_dialog, src.peer, 2.5)
    accept_all(core, 2.0)
    bye = src.request("BYE")
    core.receive(bye[: len(bye) // 2] + follow_up[:50], src.peer, 3.0)
    for later in (10.0, 40.0, 2000.0):
        core.handle_timer(later)
    core.terminate_all(5000.0)
    core.handle_timer(6000.0)
    for out in core.messages_to_send():
        parse_message(out.data, datagram=False)
