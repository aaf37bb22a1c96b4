"""A small SIPREC load generator (UAC over UDP) shared by the signalling benchmarks.

It sends two-stream SIPREC INVITEs with metadata at a fixed rate, ACKs each 200,
holds the call, sends BYE, and records INVITE-to-200 latency per call.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

BOUNDARY = "OSS-unique-boundary-42"

# codec -> (m= line formats, a=rtpmap lines before telephone-event's)
CODEC_OFFERS = {
    "PCMU": ("0 8 101", "a=rtpmap:0 PCMU/8000\r\n"),
    "G722": ("9 101", "a=rtpmap:9 G722/8000\r\n"),
}


def sdp(rtcp_mux: bool = False, *, codec: str = "PCMU", keys: Sequence[bytes] | None = None) -> str:
    """Two labelled streams, as an SBC offers them (with rtcp-mux or without).

    ``codec``: ``PCMU`` (offered as PCMU, PCMA and telephone-event) or ``G722``
    (RFC 3551 §4.5.2: payload type 9, RTP clock 8000). ``keys``: one 30-byte SRTP
    master key and salt per stream, offered as RTP/SAVP with an RFC 4568
    ``a=crypto`` AES_CM_128_HMAC_SHA1_80 line (the key the SRC sends with).
    """
    mux = "a=rtcp-mux\r\n" if rtcp_mux else ""
    formats, rtpmap = CODEC_OFFERS[codec]
    proto = "RTP/AVP" if keys is None else "RTP/SAVP"
    streams = ""
    for n in range(2):
        crypto = ""
        if keys is not None:
            inline = base64.b64encode(keys[n]).decode()
            crypto = f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{inline}\r\n"
        streams += (
            f"m=audio {40000 + 2 * n} {proto} {formats}\r\n{rtpmap}"
            f"a=rtpmap:101 telephone-event/8000\r\n{crypto}a=label:{n + 1}\r\n{mux}a=sendonly\r\n"
        )
    return (
        "v=0\r\no=SRC 1 1 IN IP4 127.0.0.1\r\ns=SIPREC\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" + streams
    )


METADATA = (
    '<?xml version="1.0" encoding="UTF-8"?>\r\n'
    '<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>complete</datamode>'
    '<session session_id="s1"/><participant participant_id="p1">'
    '<nameID aor="sip:alice@example.com"/></participant>'
    '<participant participant_id="p2"><nameID aor="sip:bob@example.com"/></participant>'
    '<stream stream_id="st1" session_id="s1"><label>1</label></stream>'
    '<stream stream_id="st2" session_id="s1"><label>2</label></stream></recording>\r\n'
)


def body(
    rtcp_mux: bool = False, *, codec: str = "PCMU", keys: Sequence[bytes] | None = None
) -> bytes:
    """The INVITE's multipart body: the SDP offer (:func:`sdp`) and the metadata."""
    offer = sdp(rtcp_mux, codec=codec, keys=keys)
    return (
        f"--{BOUNDARY}\r\nContent-Type: application/sdp\r\n\r\n{offer}\r\n"
        f"--{BOUNDARY}\r\nContent-Type: application/rs-metadata+xml\r\n"
        f"Content-Disposition: recording-session\r\n\r\n{METADATA}\r\n--{BOUNDARY}--\r\n"
    ).encode()


@dataclass
class Call:
    call_id: str
    sent_at: float
    answered_at: float | None = None
    to_tag: str | None = None
    done: asyncio.Future[None] | None = None
    bye_ok: asyncio.Future[None] | None = None


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    answered: int = 0

    def fail(self, why: str) -> None:
        self.failures[why] = self.failures.get(why, 0) + 1


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def _header(message: bytes, name: bytes) -> bytes | None:
    start = message.find(b"\r\n" + name + b":")
    if start < 0:
        return None
    start += len(name) + 3
    end = message.find(b"\r\n", start)
    return message[start:end].strip()


class Uac(asyncio.DatagramProtocol):
    """One UDP socket placing many calls toward the SRS."""

    def __init__(self, target: tuple[str, int], results: Results, *, rtcp_mux: bool = False):
        self.target = target
        self.body = body(rtcp_mux)
        self.results = results
        self.calls: dict[bytes, Call] = {}
        self.answers: dict[str, bytes] = {}  # Call-ID -> the 200 OK (SDP answer)
        self.transport: asyncio.DatagramTransport | None = None
        self.local_port = 0
        self._ids = itertools.count(1)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.local_port = transport.get_extra_info("sockname")[1]

    def _request(self, method: str, call: Call, cseq: int, body: bytes = b"") -> bytes:
        to = "<sip:srs@127.0.0.1>" + (f";tag={call.to_tag}" if call.to_tag else "")
        lines = [
            f"{method} sip:srs@{self.target[0]}:{self.target[1]} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.local_port};branch=z9hG4bK{next(self._ids)}x;rport",
            "Max-Forwards: 70",
            f"From: <sip:src@127.0.0.1>;tag=f{call.call_id}",
            f"To: {to}",
            f"Call-ID: {call.call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:src@127.0.0.1:{self.local_port}>;+sip.src",
        ]
        if method == "INVITE":
            lines += ["Require: siprec", f"Content-Type: multipart/mixed;boundary={BOUNDARY}"]
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def invite(self, call_id: str, content: bytes | None = None) -> Call:
        """Send an INVITE with ``content`` as its body (default: the socket's
        two-stream PCMU offer, :func:`body`)."""
        loop = asyncio.get_running_loop()
        call = Call(call_id, time.perf_counter(), done=loop.create_future())
        self.calls[call_id.encode()] = call
        assert self.transport is not None
        self.transport.sendto(
            self._request("INVITE", call, 1, self.body if content is None else content), self.target
        )
        return call

    def bye(self, call: Call) -> None:
        call.bye_ok = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.sendto(self._request("BYE", call, 2), self.target)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if not data.startswith(b"SIP/2.0 "):
            self._answer_request(data, addr)
            return
        call_id = _header(data, b"Call-ID")
        call = self.calls.get(call_id or b"")
        if call is None:
            return
        status = int(data[8:11])
        cseq = _header(data, b"CSeq") or b""
        if cseq.endswith(b"INVITE"):
            self._invite_response(call, status, data)
        elif cseq.endswith(b"BYE") and call.bye_ok is not None and not call.bye_ok.done():
            call.bye_ok.set_result(None)

    def _invite_response(self, call: Call, status: int, data: bytes) -> None:
        if status < 200:
            return
        if status >= 300:
            self.results.fail(f"INVITE {status}")
            if call.done is not None and not call.done.done():
                call.done.set_result(None)
            return
        to = _header(data, b"To") or b""
        call.to_tag = to.split(b"tag=")[-1].decode() if b"tag=" in to else None
        assert self.transport is not None
        self.transport.sendto(self._request("ACK", call, 1), self.target)
        if call.answered_at is None:
            self.answers[call.call_id] = data
            call.answered_at = time.perf_counter()
            self.results.latencies.append(call.answered_at - call.sent_at)
            self.results.answered += 1
            if b"m=audio 0 " in data or data.count(b"m=audio ") != 2:
                self.results.fail("wrong SDP answer")
        if call.done is not None and not call.done.done():
            call.done.set_result(None)

    def _answer_request(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        """Answer a BYE from the SRS with 200 (as an SRC must)."""
        head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        keep = [
            h
            for h in head[1:]
            if h.split(b":", 1)[0].lower() in (b"via", b"from", b"to", b"call-id", b"cseq")
        ]
        response = b"\r\n".join([b"SIP/2.0 200 OK", *keep, b"Content-Length: 0"]) + b"\r\n\r\n"
        assert self.transport is not None
        self.transport.sendto(response, (str(addr[0]), int(addr[1])))


async def open_uac(target: tuple[str, int], results: Results, *, rtcp_mux: bool = False) -> Uac:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(
        lambda: Uac(target, results, rtcp_mux=rtcp_mux), local_addr=("127.0.0.1", 0)
    )
    return protocol
