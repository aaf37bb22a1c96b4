"""RTP sockets: bound before they are announced, counted, bounded by the fd budget."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from siprec_appliance.appliance.media import BoundPortAllocator
from siprec_appliance.siprec.ports import PortPool
from support.daemon import SipClient, establish_call, free_port, running_daemon
from support.src import BOUNDARY, multipart, sdp

pytestmark = pytest.mark.integration
SIPREC_TYPE = f"multipart/mixed;boundary={BOUNDARY}"


def _free_even_range(width: int = 8) -> int:
    """An even port with ``width`` free UDP ports from it."""
    for _ in range(100):
        base = free_port() & ~1
        probes = []
        try:
            for port in range(base, base + width):
                probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                probes.append(probe)
                probe.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
    raise RuntimeError("no free port range")


def test_allocated_ports_are_bound_counted_and_released() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        base = _free_even_range()
        allocator = BoundPortAllocator(loop, "127.0.0.1", PortPool(base, base + 7, 0.0))
        port = allocator.allocate("s1", loop.time(), rtcp=True)
        assert port == base and allocator.sockets == 2
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as intruder:
            with pytest.raises(OSError):
                intruder.bind(("127.0.0.1", port + 1))  # RTCP is ours too
            await asyncio.sleep(0.05)
            for _ in range(5):
                intruder.sendto(b"\x80\x00" + bytes(10), ("127.0.0.1", port))
            intruder.sendto(b"\x80\xc8" + bytes(26), ("127.0.0.1", port + 1))
            await asyncio.sleep(0.1)
        assert allocator.packets(port) == 6
        allocator.release(port, loop.time())
        assert allocator.sockets == 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
            again.bind(("127.0.0.1", port))  # really closed

    asyncio.run(scenario())


def test_port_held_by_another_program_is_skipped() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        base = _free_even_range()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
            squatter.bind(("127.0.0.1", base + 1))  # someone holds the RTCP port
            allocator = BoundPortAllocator(loop, "127.0.0.1", PortPool(base, base + 7, 0.0))
            assert allocator.allocate("s1", loop.time(), rtcp=True) == base + 2
            assert allocator.bind_failures == 1
            assert allocator.sockets == 2
            allocator.close_all(loop.time())

    asyncio.run(scenario())


def test_socket_budget_refuses_before_descriptors_run_out() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        base = _free_even_range()
        pool = PortPool(base, base + 7, 0.0)
        allocator = BoundPortAllocator(loop, "127.0.0.1", pool, max_sockets=3)
        assert allocator.allocate("s1", loop.time(), rtcp=True) is not None
        assert allocator.allocate("s2", loop.time(), rtcp=True) is None  # needs 2 more
        assert pool.in_use == 1  # the refusal took no port
        assert allocator.allocate("s3", loop.time(), rtcp=False) is not None  # rtcp-mux: 1
        assert allocator.sockets == 3
        allocator.close_all(loop.time())

    asyncio.run(scenario())


def test_daemon_with_few_descriptors_answers_503_and_keeps_its_api(tmp_path: Path) -> None:
    # 600 descriptors - 512 reserved = 88 RTP sockets = 22 two-stream sessions (RTP+RTCP).
    grace = {"SIPREC_SIP_SHUTDOWN_GRACE": "1"}
    with running_daemon(tmp_path, open_files=600, extra_env=grace) as daemon:
        client = SipClient(daemon.sip_port)
        try:
            calls = [
                establish_call(client, multipart(sdp()), SIPREC_TYPE, call_id=f"fd-{n}")
                for n in range(22)
            ]
            client.request(
                "INVITE",
                call_id="fd-over",
                from_tag="over",
                cseq=1,
                body=multipart(sdp()),
                content_type=SIPREC_TYPE,
                extra=[("Require", "siprec")],
            )
            refused = client.final_response("1 INVITE")
            assert refused.status == 503, refused.text()
            assert refused.header("retry-after")
            assert daemon.get("/api/health")["active_sessions"] == 22
            assert calls[0].bye().status == 200
            again = establish_call(client, multipart(sdp()), SIPREC_TYPE, call_id="fd-again")
            assert again.answer.status == 200
            assert "RTP sockets the open-file limit allows" in daemon.log()
        finally:
            client.close()


def test_release_hands_over_what_the_kernel_still_holds() -> None:
    """BYE on a busy node: datagrams not yet read by the loop still reach the recording."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        base = _free_even_range()
        allocator = BoundPortAllocator(loop, "127.0.0.1", PortPool(base, base + 7, 0.0))
        port = allocator.allocate("s1", loop.time(), rtcp=True)
        assert port is not None
        rtp, rtcp = allocator.receivers(port)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for n in range(30):
                sender.sendto(b"\x80\x00" + n.to_bytes(2, "big") + bytes(168), ("127.0.0.1", port))
            sender.sendto(b"\x80\xc8" + bytes(26), ("127.0.0.1", port + 1))
        # No await: the event loop never got to read these datagrams.
        allocator.release(port, loop.time())
        assert [len(r.batch) for r in (rtp, rtcp)] == [30, 1]
        assert rtp.batch[0][0][2:4] == b"\x00\x00" and rtp.batch[-1][0][2:4] == b"\x00\x1d"

    asyncio.run(scenario())
