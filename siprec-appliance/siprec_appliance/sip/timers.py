"""A pure timer queue: callbacks run by ``run_due(now)``; nothing reads a clock."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(slots=True, order=True)
class TimerHandle:
    when: float
    seq: int
    callback: Callable[[float], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True
        self.callback = _noop  # free what the callback holds before the deadline comes


def _noop(now: float) -> None:
    del now


class TimerQueue:
    """Deadlines with lazy cancellation; ``now`` is always passed in."""

    __slots__ = ("_counter", "_heap", "_pushes")

    def __init__(self) -> None:
        self._heap: list[TimerHandle] = []
        self._counter = itertools.count()
        self._pushes = 0

    def schedule(self, when: float, callback: Callable[[float], None]) -> TimerHandle:
        handle = TimerHandle(when, next(self._counter), callback)
        heapq.heappush(self._heap, handle)
        self._pushes += 1
        if self._pushes >= 4096:
            self._compact()
        return handle

    def _compact(self) -> None:
        """Drop cancelled handles (lazy cancellation leaves them until their deadline)."""
        self._pushes = 0
        live = [h for h in self._heap if not h.cancelled]
        if len(live) < len(self._heap) // 2:
            heapq.heapify(live)
            self._heap = live

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and heap[0].cancelled:
            heapq.heappop(heap)
        return heap[0].when if heap else None

    def run_due(self, now: float) -> int:
        """Run every callback due at ``now``; return how many ran."""
        ran = 0
        heap = self._heap
        while heap and (heap[0].cancelled or heap[0].when <= now):
            handle = heapq.heappop(heap)
            if not handle.cancelled:
                handle.cancelled = True
                handle.callback(now)
                ran += 1
        return ran

    def __len__(self) -> int:
        return sum(1 for h in self._heap if not h.cancelled)


class ExpiringMap(Generic[K, V]):
    """Keys that vanish at a deadline; expiry is lazy (on access), no callbacks.

    Used for what only has to be remembered, not acted on: completed transactions
    absorbing retransmissions, ended dialogs answering a late BYE. Plain tuples
    instead of timer handles and closures keep the garbage collector's work small.
    """

    __slots__ = ("_heap", "_items")

    def __init__(self) -> None:
        self._items: dict[K, tuple[float, V]] = {}
        self._heap: list[tuple[float, int, K]] = []

    def put(self, key: K, value: V, until: float) -> None:
        self._items[key] = (until, value)
        heapq.heappush(self._heap, (until, id(key), key))

    def get(self, key: K, now: float) -> V | None:
        item = self._items.get(key)
        if item is None or item[0] <= now:
            return None
        return item[1]

    def expire(self, now: float) -> None:
        heap, items = self._heap, self._items
        while heap and heap[0][0] <= now:
            _, _, key = heapq.heappop(heap)
            item = items.get(key)
            if item is not None and item[0] <= now:
                del items[key]

    def __len__(self) -> int:
        return len(self._items)
