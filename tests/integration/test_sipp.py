"""SIPp as a real Session Recording Client against the running daemon.

The scenarios in ``tests/sipp/`` check every answer themselves (``ereg``/``strcmp``
with ``check_it="true"``): a wrong 200 OK is a failed call and SIPp exits non-zero.
The Python side adds what only the appliance can tell: the REST API's view of the
sessions while SIPp holds them up.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.daemon import (
    Daemon,
    SipClient,
    SipMessage,
    establish_call,
    running_daemon,
)
from support.sipp import SippResult, run_sipp, sipp_available, sipp_command
from support.src import BOUNDARY, METADATA, multipart, sdp

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not sipp_available(), reason="SIPp (Debian sip-tester) is not installed"),
]

# Outside Linux's ephemeral range (32768-60999), so the sockets SIPp and the tests
# open never take a port the recorder is about to answer with.
RTP_RANGE = (20000, 23999)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    grace = {"SIPREC_SIP_SHUTDOWN_GRACE": "1"}
    with running_daemon(tmp_path, rtp_range=RTP_RANGE, extra_env=grace) as started:
        yield started


def assert_passed(result: SippResult, calls: int) -> None:
    assert result.ok, result.explain()
    answered = re.findall(r"^call \d+ answered: ports (\d+) (\d+)", result.scenario_log, re.M)
    assert len(answered) == calls, result.explain()


def sent_sizes(result: SippResult) -> list[int]:
    return [int(n) for n in re.findall(r"message sent \((\d+) bytes", result.message_log)]


def padding(size: int) -> str:
    """RFC 7865 participant elements totalling at least ``size`` bytes (one line)."""
    items: list[str] = []
    total = 0
    while total < size:
        n = len(items)
        item = (
            f'<participant participant_id="agent-{n:04d}">'
            f'<nameID aor="sip:agent{n:04d}@contact-center.example.com">'
            f'<name xml:lang="en">Agent {n:04d}</name></nameID></participant>'
        )
        items.append(item)
        total += len(item)
    return "".join(items)


# --------------------------------------------------------------------------- calls


@pytest.mark.parametrize("transport", ["u1", "t1"], ids=["udp", "tcp"])
def test_siprec_call(daemon: Daemon, tmp_path: Path, transport: str) -> None:
    """INVITE (multipart SDP + metadata) -> plain SDP 200 with two recvonly streams; BYE."""
    result = run_sipp(
        "siprec_call.xml",
        daemon.sip_port,
        tmp_path / "sipp",
        transport=transport,
        calls=2,
        rate=20,
        variables={"pad": ""},
    )
    assert_passed(result, calls=2)
    bye_answers = re.findall(r"^call \d+ BYE answered", result.scenario_log, re.M)
    assert len(bye_answers) == 2, result.explain()
    # Both calls ended by BYE: nothing left on the recorder.
    deadline = time.monotonic() + 3
    while daemon.sessions() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert daemon.sessions() == []


@pytest.mark.parametrize("transport", ["u1", "t1"], ids=["udp", "tcp"])
def test_hold_and_resume_keep_ports(daemon: Daemon, tmp_path: Path, transport: str) -> None:
    """re-INVITE a=inactive -> 200 a=inactive on the same ports; back -> a=recvonly."""
    run = sipp_command(
        "siprec_hold.xml",
        daemon.sip_port,
        tmp_path / "sipp",
        transport=transport,
        duration_ms=1500,  # how long the call stays held
    ).start()
    held_view: dict[str, object] | None = None
    deadline = time.monotonic() + 10
    while run.running() and time.monotonic() < deadline:
        sessions = daemon.sessions()
        streams = sessions[0]["streams"] if sessions else []
        if isinstance(streams, list) and streams and all(s["paused"] for s in streams):
            held_view = sessions[0]
            break
        time.sleep(0.05)
    result = run.wait()
    assert result.ok, result.explain()
    answered = re.search(r"^call 1 answered: ports (\d+) (\d+)", result.scenario_log, re.M)
    held = re.search(r"^call 1 held: ports (\d+) (\d+)", result.scenario_log, re.M)
    resumed = re.search(r"^call 1 resumed: ports (\d+) (\d+)", result.scenario_log, re.M)
    assert answered and held and resumed, result.explain()
    assert answered.groups() == held.groups() == resumed.groups()
    # The API, asked while SIPp held the call, agrees: both streams paused, same ports.
    assert held_view is not None, "the API never showed the call with both streams paused"
    streams = held_view["streams"]
    assert isinstance(streams, list)
    assert [str(s["port"]) for s in streams] == list(answered.groups())
    assert [s["label"] for s in streams] == ["1", "2"]
    assert [s["direction"] for s in streams] == ["inactive", "inactive"]
    assert held_view["state"] == "active"
    assert held_view["transport"] == {"u1": "udp", "t1": "tcp"}[transport]


def test_large_invite_over_tcp(daemon: Daemon, tmp_path: Path) -> None:
    """An ~8 KB INVITE (large metadata) over TCP is framed whole and answered 200."""
    result = run_sipp(
        "siprec_call.xml",
        daemon.sip_port,
        tmp_path / "sipp",
        transport="t1",
        variables={"pad": padding(6000)},
        trace_messages=True,
    )
    assert_passed(result, calls=1)
    assert sent_sizes(result)[0] >= 8000, result.explain()


def test_large_invite_over_udp_from_sipp(daemon: Daemon, tmp_path: Path) -> None:
    """A 20 KB INVITE in one UDP datagram (INTEROP.md: accept datagrams up to 64 KB)."""
    result = run_sipp(
        "siprec_call.xml",
        daemon.sip_port,
        tmp_path / "sipp",
        transport="u1",
        variables={"pad": padding(18000)},
        trace_messages=True,
    )
    assert_passed(result, calls=1)
    assert sent_sizes(result)[0] >= 20000, result.explain()


@pytest.mark.parametrize("size", [20_000, 60_000])
def test_large_invite_over_udp_from_python(daemon: Daemon, size: int) -> None:
    """A plain UDP socket sends one big INVITE datagram; the recorder answers 200."""
    filler = padding(size).encode()
    metadata = METADATA.replace(b"</recording>", filler + b"\n</recording>")
    body = multipart(sdp(port=40000), metadata)
    client = SipClient(daemon.sip_port)
    try:
        call = establish_call(
            client,
            body,
            f"multipart/mixed;boundary={BOUNDARY}",
            call_id=f"big-udp-{size}@127.0.0.1",
        )
        assert len(body) >= size
        assert _is_plain_sdp_answer(call.answer), call.answer.text()
        assert call.bye().status == 200
    finally:
        client.close()


def _is_plain_sdp_answer(answer: SipMessage) -> bool:
    ctype = (answer.header("content-type") or "").split(";")[0].strip().lower()
    ports = re.findall(rb"^m=audio (\d+) ", answer.body, re.M)
    return ctype == "application/sdp" and len(ports) == 2 and all(int(p) > 0 for p in ports)


# ---------------------------------------------------------------------- load


def test_200_concurrent_calls(daemon: Daemon, tmp_path: Path) -> None:
    """200 calls up at once: all answered correctly, 200 sessions with 400 distinct ports."""
    calls = 200
    run = sipp_command(
        "siprec_call.xml",
        daemon.sip_port,
        tmp_path / "sipp",
        transport="u1",
        calls=calls,
        limit=calls,
        rate=200,
        duration_ms=4000,  # every call is held this long before BYE
        timeout=40,
        variables={"pad": ""},
    ).start()
    peak: list[dict[str, object]] = []
    deadline = time.monotonic() + 20
    while run.running() and time.monotonic() < deadline:
        sessions = daemon.sessions()
        if len(sessions) > len(peak):
            peak = sessions
        if len(peak) == calls:
            break
        time.sleep(0.1)
    # Half a second later every call has been ACKed and is still held up by SIPp.
    time.sleep(0.5)
    settled = daemon.sessions() if run.running() else []
    result = run.wait()
    assert_passed(result, calls=calls)
    assert len(peak) == calls, f"the API showed at most {len(peak)} sessions at once"
    states = sorted({str(s["state"]) for s in settled})
    assert len(settled) == calls and states == ["active"], (len(settled), states)
    ports: list[int] = []
    for session in peak:
        streams = session["streams"]
        assert isinstance(streams, list) and len(streams) == 2, session
        assert [s["label"] for s in streams] == ["1", "2"], session
        ports += [int(s["port"]) for s in streams]
    assert len(set(ports)) == 2 * calls, "RTP ports shared between streams"
    assert all(RTP_RANGE[0] <= p <= RTP_RANGE[1] for p in ports)
    # And the SDP the calls saw names the same ports the API lists.
    answered = re.findall(r"^call \d+ answered: ports (\d+) (\d+)", result.scenario_log, re.M)
    assert {int(p) for pair in answered for p in pair} == set(ports)
