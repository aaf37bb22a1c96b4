"""A blocking store (SQLite) used from one thread of its own, awaited from the loop.

SQLite connections belong to the thread that made them, and their calls block:
the catalog and the alert outbox each open their store in a dedicated
one-thread executor and run every call there (:meth:`StoreThread.run_blocking`),
so the event loop only awaits.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` (the write lock at once), ``COMMIT``, or ``ROLLBACK`` on
    any exception (re-raised)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class Closable(Protocol):
    def close(self) -> None: ...


S = TypeVar("S", bound=Closable)


class StoreThread(Generic[S]):
    """Owns ``store`` (made by :meth:`start` in the thread) and the thread itself.

    ``what`` names the store in errors ("the catalog"); ``error`` is the exception
    type raised when it is used unopened or after :meth:`close`.
    """

    def __init__(self, what: str, thread_name: str, error: type[Exception]) -> None:
        self._what = what
        self._error = error
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self._store: S | None = None
        self._closed = False

    async def start(self, make: Callable[[], S]) -> None:
        """Make the store in the thread; on failure the thread is stopped too."""

        def opened() -> None:
            self._store = make()

        try:
            await self.run_blocking(opened)
        except BaseException:
            self._executor.shutdown(wait=False)
            raise

    @property
    def store(self) -> S:
        """The store; use it only from the store's thread (:meth:`run_blocking`)."""
        if self._store is None:
            raise self._error(f"{self._what} is not open")
        return self._store

    async def run_blocking(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in the store's thread, in submission order."""
        if self._closed:
            raise self._error(f"{self._what} is closed")
        return await asyncio.wrap_future(self._executor.submit(function, *args))

    async def close(self) -> None:
        """Finish queued work, close the store, stop the thread."""
        if self._closed:
            return
        if self._store is not None:
            await self.run_blocking(self._store.close)
        self._closed = True
        self._executor.shutdown(wait=True)
