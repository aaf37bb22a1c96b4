"""A message channel between the SIP process and a media worker.

One ``AF_UNIX``/``SOCK_SEQPACKET`` socket pair per worker: each message is one
packet (boundaries kept by the kernel), a pickled tuple ``(command, *args)``,
optionally with file descriptors attached (``SCM_RIGHTS``, how bound RTP sockets
reach the worker). Both ends are trusted processes of this appliance: pickle is
never used on data from the network.

Sending never blocks the event loop: a message that does not fit the socket
buffer now waits in a queue flushed when the socket is writable again, in order.
"""

from __future__ import annotations

import array
import asyncio
import logging
import os
import pickle
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger("siprec.workers")

MAX_MESSAGE = 4 << 20  # bytes; also the sockets' buffer sizes
MAX_FDS = 16  # descriptors one message may carry
BURST_SECONDS = 0.005  # longest run of messages handled before the loop gets a turn

Message = tuple[Any, ...]
OnMessage = Callable[[Message, list[int]], None]


def channel_pair() -> tuple[socket.socket, socket.socket]:
    """A connected pair; the second end goes to the child process."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for sock in (ours, theirs):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MAX_MESSAGE)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, MAX_MESSAGE)
    return ours, theirs


def receive_blocking(sock: socket.socket) -> tuple[Message, list[int]]:
    """One message, waiting for it (a worker's first message, before its loop runs)."""
    data, ancillary, _, _ = sock.recvmsg(MAX_MESSAGE, socket.CMSG_SPACE(MAX_FDS * 4))
    if not data:
        raise EOFError("channel closed")
    return pickle.loads(data), _fds(ancillary)


def _fds(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % 4
            fds += list(memoryview(payload[:usable]).cast("i"))
    return fds


class Channel:
    """One end of a worker channel, driven by the event loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        on_message: OnMessage,
        on_close: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._on_message = on_message
        self._on_close = on_close
        self._queue: deque[tuple[bytes, list[tuple[int, int, bytes]], list[int]]] = deque()
        self._writing = False
        self.closed = False
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), self._readable)

    def send(self, message: Message, fds: Sequence[int] = ()) -> None:
        """Queue ``message``; ``fds`` are duplicated into the receiver on delivery.

        The caller may close its copies of ``fds`` once this returns: they are kept
        open (duplicated) until the message has left.
        """
        if self.closed:
            raise ConnectionError("worker channel is closed")
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        if len(data) > MAX_MESSAGE:
            raise ValueError(f"message {message[0]!r} too large ({len(data)} bytes)")
        kept = [os.dup(fd) for fd in fds]
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", kept).tobytes())]
        self._queue.append((data, ancillary if kept else [], kept))
        if not self._writing:
            self._flush()

    def _flush(self) -> None:
        while self._queue:
            data, ancillary, kept = self._queue[0]
            try:
                self._sock.sendmsg([data], ancillary)
            except (BlockingIOError, InterruptedError):
                if not self._writing:
                    self._writing = True
                    self._loop.add_writer(self._sock.fileno(), self._flush)
                return
            except OSError as exc:
                log.error("worker channel: cannot send: %s", exc)
                self._close()
                return
            self._queue.popleft()
            for fd in kept:
                os.close(fd)
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self._sock.fileno())

    def _readable(self) -> None:
        # A burst bounded in time, then back to the loop (the socket stays readable,
        # so we are called again): a flood of call set-ups must not delay the media
        # tick behind it by more than a few milliseconds.
        deadline = time.monotonic() + BURST_SECONDS
        for _ in range(256):
            if time.monotonic() > deadline:
                return
            try:
                data, ancillary, _, _ = self._sock.recvmsg(
                    MAX_MESSAGE, socket.CMSG_SPACE(MAX_FDS * 4)
                )
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.error("worker channel: cannot receive: %s", exc)
                self._close()
                return
            if not data:
                self._close()
                return
            try:
                self._on_message(pickle.loads(data), _fds(ancillary))
            except Exception:
                log.exception("worker channel: message %r failed", data[:40])

    def _close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._loop.remove_reader(self._sock.fileno())
        if self._writing:
            self._loop.remove_writer(self._sock.fileno())
        self._sock.close()
        self._on_close()

    def close(self) -> None:
        """Close our end (the other end sees end-of-file)."""
        if not self.closed:
            self.closed = True
            self._loop.remove_reader(self._sock.fileno())
            if self._writing:
                self._loop.remove_writer(self._sock.fileno())
            self._sock.close()
