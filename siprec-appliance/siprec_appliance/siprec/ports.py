"""RTP port allocation (RFC 3550 §11: RTP on an even port, RTCP on the next odd one)."""

from __future__ import annotations

from collections import deque
from typing import Protocol


class PortAllocator(Protocol):
    """What the SIPREC core needs from whoever owns media ports.

    The appliance's implementation binds the sockets inside ``allocate`` so that a
    port in an SDP answer is always really ours.
    """

    def allocate(self, owner: str, now: float, *, rtcp: bool) -> int | None:
        """Reserve an even RTP port (and port+1 for RTCP); None when none is free."""

    def release(self, port: int, now: float) -> None:
        """Give the pair back; it is not handed out again before the cooldown."""


class PortPool:
    """Even ports in ``[low, high]``, reused first-in first-out after ``cooldown``.

    FIFO reuse plus the cooldown keep late packets of an ended call from landing in
    the next call that gets the same port (crosstalk on reused ports).
    """

    __slots__ = ("_cooldown", "_free", "_in_use", "high", "low")

    def __init__(self, low: int, high: int, cooldown: float) -> None:
        first = low + (low % 2)
        if high - 1 < first:
            raise ValueError(f"port range {low}-{high} holds no RTP/RTCP pair")
        self.low = low
        self.high = high
        self._cooldown = cooldown
        self._free: deque[tuple[float, int]] = deque(
            (float("-inf"), port) for port in range(first, high, 2)
        )
        self._in_use: set[int] = set()

    @property
    def capacity(self) -> int:
        return len(self._free) + len(self._in_use)

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    def allocate(self, owner: str, now: float, *, rtcp: bool = True) -> int | None:
        del owner, rtcp
        if not self._free or self._free[0][0] > now:
            return None
        _, port = self._free.popleft()
        self._in_use.add(port)
        return port

    def release(self, port: int, now: float) -> None:
        if port in self._in_use:
            self._in_use.remove(port)
            self._free.append((now + self._cooldown, port))

    def quarantine(self, port: int, now: float) -> None:
        """A port we could not bind (another program holds it): retry it later."""
        self.release(port, now)
