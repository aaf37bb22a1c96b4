"""Where a message came from and where one goes: the core's only view of the network."""

from __future__ import annotations

from dataclasses import dataclass

from siprec_appliance.sip.message import Message


@dataclass(frozen=True, slots=True)
class Peer:
    """The sender of a received message and the local address it reached."""

    transport: str  # "UDP", "TCP" or "TLS"
    host: str
    port: int
    local_host: str
    local_port: int
    connection_id: int | None = None

    @property
    def reliable(self) -> bool:
        return self.transport != "UDP"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport.lower()}:{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Target:
    """Where to send: a connection if it is still open, else ``transport`` to host:port."""

    transport: str
    host: str
    port: int
    connection_id: int | None = None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A serialised message for the adapter to send, with the object for logging/tests."""

    data: bytes
    target: Target
    message: Message | None = None  # None for a resent response kept only as bytes
