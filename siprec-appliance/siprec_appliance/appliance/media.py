"""RTP/RTCP sockets for recording sessions.

``BoundPortAllocator`` implements the core's ``PortAllocator``: a port only goes
into an SDP answer once its sockets are bound, and a port another program holds
is skipped and retried later. Each socket gets a
:class:`~siprec_appliance.appliance.receiver.StreamReceiver`, which collects and
counts its datagrams; the server attaches recorders to them when the session is
answered, and reports activity to the core once a second so that a call whose
RTP flows is never torn down for SIP silence.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import socket
from dataclasses import dataclass, field

from siprec_appliance.appliance.receiver import StreamReceiver
from siprec_appliance.siprec.ports import PortPool

log = logging.getLogger("siprec.media")

RECEIVE_BUFFER = 1 << 20  # bytes of kernel buffer per RTP socket
# Descriptors kept free for SIP connections, the API, log and recording files: RTP
# sockets may never starve those, or the appliance could not even answer 503.
FD_RESERVE = 512
_OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def socket_budget(reserve: int = FD_RESERVE) -> int:
    """How many RTP/RTCP sockets this process may hold (soft RLIMIT_NOFILE - reserve)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(0, soft - reserve)


@dataclass(slots=True)
class PortBinding:
    """The sockets of one RTP/RTCP pair and who owns them."""

    owner: str
    rtp: StreamReceiver
    rtcp: StreamReceiver | None
    sockets: list[socket.socket] = field(default_factory=list)
    tasks: list[asyncio.Task[object]] = field(default_factory=list)


# Bound on what one release reads: a socket's buffer holds ~1 s of RTP at worst.
MAX_DRAIN_DATAGRAMS = 4096


def _drain(binding: PortBinding) -> None:
    """Hand over what already arrived before the sockets close ("nothing lost").

    The core releases ports as soon as BYE ends a session; on a busy node the
    kernel may still hold datagrams the event loop has not read yet. They are read
    here without blocking and queued on the receivers, which the server processes
    when it handles the SessionEnded event that follows.
    """
    receivers = [binding.rtp] + ([binding.rtcp] if binding.rtcp is not None else [])
    for sock, receiver in zip(binding.sockets, receivers, strict=False):
        for _ in range(MAX_DRAIN_DATAGRAMS):
            try:
                data, addr = sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError, OSError):
                break
            receiver.datagram_received(data, addr)


class PortSockets:
    """Bound RTP/RTCP sockets of this process, each with its receiver on the loop.

    The allocator binds; this registry owns what was bound: in a media worker the
    sockets arrive from the SIP process (descriptor passing) and are attached here.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.bindings: dict[int, PortBinding] = {}

    def attach(self, owner: str, sockets: list[socket.socket]) -> PortBinding:
        port = sockets[0].getsockname()[1]
        receivers = [StreamReceiver(port, rtcp=n > 0) for n in range(len(sockets))]
        binding = PortBinding(owner, receivers[0], receivers[1] if len(receivers) > 1 else None)
        binding.sockets = sockets
        for sock, receiver in zip(sockets, receivers, strict=True):
            binding.tasks.append(self._loop.create_task(self._endpoint(sock, receiver)))
        self.bindings[port] = binding
        return binding

    async def _endpoint(self, sock: socket.socket, receiver: StreamReceiver) -> object:
        """Register a bound socket with the loop; packets wait in the kernel meanwhile."""
        await self._loop.create_datagram_endpoint(lambda: receiver, sock=sock)
        return receiver

    def detach(self, port: int) -> int:
        """Drain what arrived, close the sockets; the number of sockets closed."""
        binding = self.bindings.pop(port, None)
        if binding is None:
            return 0
        _drain(binding)
        for receiver in (binding.rtp, binding.rtcp):
            if receiver is not None and receiver.transport is not None:
                receiver.transport.close()
        for task in binding.tasks:
            task.cancel()
        for sock in binding.sockets:
            sock.close()
        return len(binding.sockets)

    def receivers(self, port: int) -> list[StreamReceiver]:
        """The receivers of an RTP port: RTP first, then RTCP if it has its own port."""
        binding = self.bindings.get(port)
        if binding is None:
            return []
        return [binding.rtp] if binding.rtcp is None else [binding.rtp, binding.rtcp]

    def packets(self, port: int) -> int:
        binding = self.bindings.get(port)
        if binding is None:
            return 0
        return binding.rtp.packets + (binding.rtcp.packets if binding.rtcp else 0)

    def close_all(self) -> None:
        for port in list(self.bindings):
            self.detach(port)


class BoundPortAllocator:
    """Binds RTP (and RTCP) sockets from a :class:`PortPool` as the core asks.

    The bound sockets go to :meth:`_attach`: here to this process's
    :class:`PortSockets`; a subclass hands them to a media worker instead.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        host: str,
        pool: PortPool,
        *,
        max_sockets: int | None = None,
    ) -> None:
        self._loop = loop
        self._host = host
        self._pool = pool
        self.local = PortSockets(loop)
        self.bind_failures = 0
        self.max_sockets = socket_budget() if max_sockets is None else max_sockets
        self.sockets = 0
        self._warned_budget = False

    @property
    def pool(self) -> PortPool:
        return self._pool

    @property
    def bindings(self) -> dict[int, PortBinding]:
        return self.local.bindings

    def allocate(self, owner: str, now: float, *, rtcp: bool) -> int | None:
        needed = 2 if rtcp else 1
        if self.sockets + needed > self.max_sockets:
            self._budget_exhausted()
            return None
        for _ in range(16):
            port = self._pool.allocate(owner, now, rtcp=rtcp)
            if port is None:
                return None
            sockets: list[socket.socket] = []
            try:
                sockets.append(self._bind(port))
                if rtcp:
                    sockets.append(self._bind(port + 1))
            except OSError as exc:
                for sock in sockets:
                    sock.close()
                self._pool.quarantine(port, now)
                if exc.errno in _OUT_OF_DESCRIPTORS:
                    log.error("cannot open RTP sockets: %s", exc.strerror)
                    return None
                self.bind_failures += 1
                log.warning("RTP port %d unavailable (%s); skipping it", port, exc.strerror)
                continue
            if not self._attach(owner, port, sockets):
                self._pool.release(port, now)
                return None
            self.sockets += len(sockets)
            self._warned_budget = False
            return port
        return None

    def _attach(self, owner: str, port: int, sockets: list[socket.socket]) -> bool:
        """Give the bound sockets to whoever receives on them; False if no one can."""
        del port
        self.local.attach(owner, sockets)
        return True

    def _detach(self, port: int) -> int:
        return self.local.detach(port)

    def _budget_exhausted(self) -> None:
        if not self._warned_budget:
            self._warned_budget = True
            log.error(
                "all %d RTP sockets the open-file limit allows are in use; "
                "new sessions get 503 (raise LimitNOFILE / ulimit -n)",
                self.max_sockets,
            )

    def release(self, port: int, now: float) -> None:
        self.sockets -= self._detach(port)
        self._pool.release(port, now)

    def receivers(self, port: int) -> list[StreamReceiver]:
        return self.local.receivers(port)

    def packets(self, port: int) -> int:
        return self.local.packets(port)

    def close_all(self, now: float) -> None:
        for port in list(self._ports()):
            self.release(port, now)

    def _ports(self) -> list[int]:
        return list(self.local.bindings)

    def _bind(self, port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            sock.setblocking(False)
            sock.bind((self._host, port))
        except OSError:
            sock.close()
            raise
        return sock
