"""A pure timer queue: callbacks run by ``run_due(now)``; nothing reads a clock."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True, order=True)
class TimerHandle:
    when: float
    seq: int
    callback: Callable[[float], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class TimerQueue:
    """Deadlines with lazy cancellation; ``now`` is always passed in."""

    __slots__ = ("_counter", "_heap")

    def __init__(self) -> None:
        self._heap: list[TimerHandle] = []
        self._counter = itertools.count()

    def schedule(self, when: float, callback: Callable[[float], None]) -> TimerHandle:
        handle = TimerHandle(when, next(self._counter), callback)
        heapq.heappush(self._heap, handle)
        return handle

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
