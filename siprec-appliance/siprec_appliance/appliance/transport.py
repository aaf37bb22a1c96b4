"""SIP over UDP, TCP and TLS (RFC 3261 §18) on asyncio: thin adapters over the core.

Each adapter turns bytes into ``Peer``-tagged messages for a callback and sends
``Outgoing`` messages: over UDP to an address, over TCP/TLS on the connection
they came from while it is open, else on a new connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
import socket
import ssl
from collections.abc import Callable
from typing import cast

from siprec_appliance.errors import SipProtocolError
from siprec_appliance.sip.framing import PING, StreamFramer
from siprec_appliance.sip.message import MAX_DATAGRAM
from siprec_appliance.sip.transport import Outgoing, Peer, Target

log = logging.getLogger("siprec.transport")

Deliver = Callable[[bytes, Peer, bool], None]  # data, peer, datagram?
_ids = itertools.count(1)


def local_address_towards(remote: str, bound: str) -> str:
    """The local address used to reach ``remote`` (no packet is sent)."""
    if bound not in ("0.0.0.0", "::", ""):
        return bound
    family = socket.AF_INET6 if ":" in remote else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((remote, 9))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1" if family == socket.AF_INET else "::1"


class UdpSip(asyncio.DatagramProtocol):
    """One UDP socket for SIP; datagrams up to 65,507 bytes."""

    def __init__(self, deliver: Deliver, host: str) -> None:
        self._deliver = deliver
        self._host = host
        self.transport: asyncio.DatagramTransport | None = None
        self._local_cache: dict[str, str] = {}
        self.local_port = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # CPython's selector datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.local_port = int(self.transport.get_extra_info("sockname")[1])

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        host, port = str(addr[0]), int(addr[1])
        local = self._local_cache.get(host)
        if local is None:
            local = local_address_towards(host, self._host)
            if len(self._local_cache) < 10_000:
                self._local_cache[host] = local
        self._deliver(data, Peer("UDP", host, port, local, self.local_port), True)

    def send(self, data: bytes, host: str, port: int) -> None:
        if self.transport is None:
            return
        if len(data) > MAX_DATAGRAM:
            log.error("not sending a %d-byte message over UDP to %s:%d", len(data), host, port)
            return
        self.transport.sendto(data, (host, port))


class StreamSip(asyncio.Protocol):
    """One TCP or TLS connection, framed by Content-Length (RFC 3261 §18.3)."""

    def __init__(self, server: StreamConnections, transport_name: str) -> None:
        self._server = server
        self._name = transport_name
        self._framer = StreamFramer()
        self.id = next(_ids)
        self.transport: asyncio.Transport | None = None
        self.peer: Peer | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        remote = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        self.peer = Peer(
            self._name, str(remote[0]), int(remote[1]), str(local[0]), int(local[1]), self.id
        )
        self._server.register(self)

    def data_received(self, data: bytes) -> None:
        assert self.peer is not None and self.transport is not None
        try:
            messages = self._framer.feed(data)
        except SipProtocolError as exc:
            log.warning("closing %s: cannot frame the stream: %s", self.peer, exc.reason)
            self.transport.close()
            return
        for message in messages:
            if message == PING:
                self.transport.write(b"\r\n")  # RFC 5626 §4.4.1 pong
            else:
                self._server.deliver(message, self.peer, False)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.unregister(self)

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


class StreamConnections:
    """All TCP/TLS connections, inbound and outbound, by id and by remote address."""

    def __init__(self, deliver: Deliver, client_tls: ssl.SSLContext | None) -> None:
        self.deliver = deliver
        self._client_tls = client_tls
        self.by_id: dict[int, StreamSip] = {}
        self._by_remote: dict[tuple[str, str, int], StreamSip] = {}
        self._pending: dict[tuple[str, str, int], asyncio.Task[StreamSip | None]] = {}

    def register(self, conn: StreamSip) -> None:
        assert conn.peer is not None
        self.by_id[conn.id] = conn
        self._by_remote[(conn.peer.transport, conn.peer.host, conn.peer.port)] = conn

    def unregister(self, conn: StreamSip) -> None:
        self.by_id.pop(conn.id, None)
        if conn.peer is not None:
            key = (conn.peer.transport, conn.peer.host, conn.peer.port)
            if self._by_remote.get(key) is conn:
                del self._by_remote[key]

    def send(self, data: bytes, target: Target) -> None:
        conn = self.by_id.get(target.connection_id or -1) or self._by_remote.get(
            (target.transport, target.host, target.port)
        )
        if conn is not None:
            conn.send(data)
            return
        asyncio.get_running_loop().create_task(self._connect_and_send(data, target))

    async def _connect_and_send(self, data: bytes, target: Target) -> None:
        key = (target.transport, target.host, target.port)
        task = self._pending.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._connect(target))
            self._pending[key] = task
            task.add_done_callback(lambda _: self._pending.pop(key, None))
        conn = await task
        if conn is not None:
            conn.send(data)

    async def _connect(self, target: Target) -> StreamSip | None:
        loop = asyncio.get_running_loop()
        tls = self._client_tls if target.transport == "TLS" else None
        if target.transport == "TLS" and tls is None:
            log.error("cannot open TLS to %s:%d: no TLS configured", target.host, target.port)
            return None
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(
                    lambda: StreamSip(self, target.transport), target.host, target.port, ssl=tls
                ),
                timeout=10,
            )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            log.warning(
                "cannot connect to %s %s:%d: %s", target.transport, target.host, target.port, exc
            )
            return None
        return proto

    def close_all(self) -> None:
        for conn in list(self.by_id.values()):
            if conn.transport is not None:
                conn.transport.close()


class Transports:
    """UDP, TCP and optional TLS listeners plus the outbound side, for one core."""

    def __init__(
        self,
        deliver: Deliver,
        *,
        host: str,
        port: int,
        tls_port: int | None = None,
        server_tls: ssl.SSLContext | None = None,
        client_tls: ssl.SSLContext | None = None,
    ) -> None:
        self._deliver = deliver
        self.host = host
        self.port = port
        self.tls_port = tls_port
        self._server_tls = server_tls
        self.udp = UdpSip(deliver, host)
        self.streams = StreamConnections(deliver, client_tls)
        self._servers: list[asyncio.Server] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.bind((self.host, self.port))
        await loop.create_datagram_endpoint(lambda: self.udp, sock=sock)
        self.port = self.udp.local_port
        tcp = await loop.create_server(
            lambda: StreamSip(self.streams, "TCP"),
            self.host,
            self.port,
            reuse_address=True,
            backlog=1024,
        )
        self._servers.append(tcp)
        if self._server_tls is not None and self.tls_port is not None:
            tls = await loop.create_server(
                lambda: StreamSip(self.streams, "TLS"),
                self.host,
                self.tls_port,
                ssl=self._server_tls,
                reuse_address=True,
                backlog=1024,
            )
            self.tls_port = int(tls.sockets[0].getsockname()[1])
            self._servers.append(tls)

    def send(self, out: Outgoing) -> None:
        target = out.target
        if target.transport == "UDP":
            self.udp.send(out.data, target.host, target.port)
        else:
            self.streams.send(out.data, target)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        self.streams.close_all()
        for server in self._servers:
            await server.wait_closed()
        if self.udp.transport is not None:
            self.udp.transport.close()


def server_tls_context(
    certificate: str, private_key: str, ca_certificates: str | None, verify_client: bool
) -> ssl.SSLContext:
    """TLS for SIP listeners (RFC 3261 §26.2), optionally requiring client certificates."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, private_key)
    if verify_client:
        if ca_certificates:
            context.load_verify_locations(ca_certificates)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_tls_context(ca_certificates: str | None) -> ssl.SSLContext:
    """TLS for connections we open (BYE after the SRC's connection closed)."""
    context = ssl.create_default_context(cafile=ca_certificates)
    context.check_hostname = False  # SBCs are addressed by IP in their Contact
    if ca_certificates is None:
        context.verify_mode = ssl.CERT_NONE
        log.warning("outbound SIP/TLS does not verify certificates: set sip.tls.ca_certificates")
    return context


class SourceFilter:
    """The SIP source allow-list: empty means everyone may send."""

    def __init__(self, cidrs: tuple[str, ...]) -> None:
        self._networks = [ipaddress.ip_network(c, strict=False) for c in cidrs]

    def allows(self, host: str) -> bool:
        if not self._networks:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._networks)
