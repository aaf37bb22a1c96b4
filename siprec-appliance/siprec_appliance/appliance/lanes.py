"""Decode-and-write lanes: the file side of recording, off the event loop.

The event loop does the per-packet work that decides *where* audio goes (parse,
SRTP, source and SSRC policy, jitter buffer, timeline). What costs time and may
block (decoding payloads with PyAV or the G.711 tables, writing and syncing the
files) runs as jobs on a few worker threads, the *lanes*.

Ordering is the whole point: a stream's decoders are stateful and its file is
written by offset, so every job of one session runs on the same lane, in the
order it was queued. A session is pinned to a lane by a hash of its id.

Per tick the loop only appends closures to a lane's list; :meth:`Lanes.flush`
hands each lane's list to its thread in one ``submit`` (one future per lane and
tick, not per stream). :meth:`Lanes.drain` is the barrier a session's close waits
on: once it resolves, every job queued before it has run.

:class:`InlineLane` runs a job at once on the caller's thread: what the unit tests
and tools that drive a recorder synchronously use.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger("siprec.media")

Job = Callable[[], None]


class Lane:
    """Where a recorder queues its decode/write jobs (see :class:`Lanes`)."""

    def run(self, job: Job) -> None:
        raise NotImplementedError


class InlineLane(Lane):
    """Runs every job immediately, on the calling thread."""

    def run(self, job: Job) -> None:
        job()


INLINE = InlineLane()


def _run_all(jobs: list[Job]) -> None:
    for job in jobs:
        try:
            job()
        except Exception:  # one stream's failure must not stop the others' jobs
            log.exception("decode/write job failed")


class ThreadLane(Lane):
    """Jobs collected on the loop, run in order by one worker thread."""

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._jobs: list[Job] = []
        self.queued = 0  # batches submitted and not yet finished (backlog)

    def run(self, job: Job) -> None:
        self._jobs.append(job)

    def flush(self) -> Future[None] | None:
        """Submit what was collected since the last flush as one batch."""
        if not self._jobs:
            return None
        jobs, self._jobs = self._jobs, []
        self.queued += 1
        future = self._executor.submit(_run_all, jobs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _: Future[None]) -> None:
        self.queued -= 1

    def barrier(self) -> Future[None]:
        """A future that resolves once every job queued so far has run."""
        self.flush()
        return self._executor.submit(lambda: None)

    def close(self) -> None:
        self.flush()
        self._executor.shutdown(wait=True)


class Lanes:
    """``count`` ordered lanes; a session's jobs always go to the same one.

    ``count`` 0: every job runs inline, on the loop's thread (what a media worker
    process does: it has no other work to protect, and threads would only
    contend with the loop for the GIL).
    """

    def __init__(self, count: int) -> None:
        if count < 0:
            raise ValueError("the number of decode lanes cannot be negative")
        self._lanes = [ThreadLane(f"siprec-decode-{n}") for n in range(count)]

    def lane(self, key: str) -> Lane:
        if not self._lanes:
            return INLINE
        return self._lanes[zlib.crc32(key.encode()) % len(self._lanes)]

    def flush(self) -> None:
        for lane in self._lanes:
            lane.flush()

    @property
    def backlog(self) -> int:
        """Batches waiting or running on all lanes (a load signal)."""
        return sum(lane.queued for lane in self._lanes)

    async def drain(self, key: str) -> None:
        """Wait until every job queued so far for ``key``'s lane has run."""
        lane = self.lane(key)
        if isinstance(lane, ThreadLane):
            await asyncio.wrap_future(lane.barrier())

    def close(self) -> None:
        """Run what is queued, then stop the threads (blocking)."""
        for lane in self._lanes:
            lane.close()
