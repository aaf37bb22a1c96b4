"""Metadata benchmark: RFC 7865 parse plus vendor detection and call facts per INVITE.

For every INVITE of the vendor corpus (``tests/data/sip/vendors/*.sip``) and a
synthetic ~3 KB RFC 7865 body, times what the core does per INVITE once the SIP
message is parsed: split the body, parse the SDP and the metadata, resolve
participants to m-lines and build the call facts (vendor detection included).
Prints median and p99 in µs.

    .venv/bin/python bench/metadata.py [--repeat 2000]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import time
from pathlib import Path

from siprec_appliance.metadata.parser import parse_metadata
from siprec_appliance.metadata.streams import resolve_participants
from siprec_appliance.sdp.model import SessionDescription
from siprec_appliance.sip.message import Request, parse_message
from siprec_appliance.sip.multipart import split_body
from siprec_appliance.siprec.detect import metadata_parts
from siprec_appliance.vendors import build_call_facts

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "sip" / "vendors"
NS = "urn:ietf:params:xml:ns:recording:1"


def synthetic_invite() -> bytes:
    """A ~3 KB RFC 7865 snapshot: 2 participants, 2 streams, assocs, extension data."""
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<recording xmlns="{NS}">']
    parts.append("<datamode>complete</datamode>")
    parts.append(
        '<group group_id="7+OTCyoxEeCXYQAAAAAAAA=="><associate-time>2026-11-23T08:00:00Z'
        "</associate-time></group>"
    )
    parts.append(
        '<session session_id="hVpd7YQgRW2nD22h7q60JQ=="><sipSessionID>ab30317f1a784dc4'
        "8ff824d0d3715d86;remote=47755a9de7794ba387653f2099600ef2</sipSessionID>"
        "<group-ref>7+OTCyoxEeCXYQAAAAAAAA==</group-ref>"
        "<start-time>2026-11-23T08:00:00Z</start-time></session>"
    )
    for n, (aor, name) in enumerate(
        [
            ("sip:+14155550100@example.com", "Alice Caller"),
            ("sip:+14155550199@example.com", "Bob Agent"),
        ]
    ):
        parts.append(
            f'<participant participant_id="p{n}AAAAAAAAAAAAAAAAAAAA=="><nameID aor="{aor}">'
            f'<name xml:lang="en">{name}</name></nameID></participant>'
        )
    for n in range(2):
        parts.append(
            f'<stream stream_id="s{n}AAAAAAAAAAAAAAAAAAAA==" '
            f'session_id="hVpd7YQgRW2nD22h7q60JQ=="><label>{n + 1}</label></stream>'
        )
    parts.append(
        '<sessionrecordingassoc session_id="hVpd7YQgRW2nD22h7q60JQ==">'
        "<associate-time>2026-11-23T08:00:00Z</associate-time></sessionrecordingassoc>"
    )
    for n in range(2):
        parts.append(
            f'<participantsessionassoc participant_id="p{n}AAAAAAAAAAAAAAAAAAAA==" '
            'session_id="hVpd7YQgRW2nD22h7q60JQ==">'
            "<associate-time>2026-11-23T08:00:00Z</associate-time>"
            "</participantsessionassoc>"
        )
        parts.append(
            f'<participantstreamassoc participant_id="p{n}AAAAAAAAAAAAAAAAAAAA==">'
            f"<send>s{n}AAAAAAAAAAAAAAAAAAAA==</send>"
            f"<recv>s{1 - n}AAAAAAAAAAAAAAAAAAAA==</recv></participantstreamassoc>"
        )
    parts.append(
        '<extensiondata xmlns:apkt="http://acmepacket.com/siprec/extensiondata">'
        "<apkt:ucid>00FA080018803B69810C9C;encoding=hex</apkt:ucid>"
        "<apkt:callerOrig>true</apkt:callerOrig></extensiondata>"
    )
    parts.append("</recording>\n")
    xml = "".join(parts)
    sdp = "v=0\r\no=SBC 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" + "".join(
        f"m=audio {40000 + 2 * n} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
        f"a=label:{n + 1}\r\na=sendonly\r\n"
        for n in range(2)
    )
    body = (
        f"--b\r\nContent-Type: application/sdp\r\n\r\n{sdp}\r\n--b\r\n"
        "Content-Type: application/rs-metadata+xml\r\nContent-Disposition: recording-session\r\n"
        f"\r\n{xml}\r\n--b--\r\n"
    ).encode()
    head = (
        "INVITE sip:srs@192.0.2.9 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
        "From: <sip:sbc@192.0.2.1>;tag=1\r\nTo: <sip:srs@192.0.2.9>\r\nCall-ID: bench-1\r\n"
        "CSeq: 1 INVITE\r\nContact: <sip:sbc@192.0.2.1>;+sip.src\r\nRequire: siprec\r\n"
        "User-Agent: Acme Packet SBC\r\nContent-Type: multipart/mixed;boundary=b\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


def per_invite(request: Request) -> object:
    parts = split_body(request.headers, request.body)
    sdp_parts = [p for p in parts if p.content_type == "application/sdp"]
    sdp = SessionDescription.parse(sdp_parts[0].body) if sdp_parts else None
    md_parts = metadata_parts(parts)
    metadata = parse_metadata(md_parts[0].body) if md_parts else None
    labels = [m.label for m in sdp.media] if sdp else []
    participants = resolve_participants(metadata, labels) if metadata else ()
    return build_call_facts(
        headers=request.headers,
        metadata=metadata,
        sdp=sdp,
        parts=parts,
        transport="udp",
        source_host="192.0.2.1",
        source_port=5060,
        participants=participants,
    )


def measure(data: bytes, repeat: int) -> tuple[float, float, int]:
    request = parse_message(data).message
    assert isinstance(request, Request)
    for _ in range(50):
        per_invite(request)
    samples = []
    gc.collect()
    for _ in range(repeat):
        start = time.perf_counter_ns()
        per_invite(request)
        samples.append(time.perf_counter_ns() - start)
    samples.sort()
    return (
        statistics.median(samples) / 1000,
        samples[int(0.99 * (len(samples) - 1))] / 1000,
        len(request.body),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    print(
        f"# {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}"
    )
    print(f"{'input':40} {'body B':>7} {'median µs':>10} {'p99 µs':>8}")
    inputs = [("synthetic RFC 7865 (Oracle ext)", synthetic_invite())]
    inputs += [(path.name, path.read_bytes()) for path in sorted(CORPUS.glob("*.sip"))]
    for name, data in inputs:
        median, p99, size = measure(data, args.repeat)
        print(f"{name:40} {size:7d} {median:10.1f} {p99:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
