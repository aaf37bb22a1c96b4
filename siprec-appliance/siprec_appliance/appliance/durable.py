"""Durability against an OS crash or power loss: ``syncfs(2)`` per filesystem.

What the recorder writes reaches the kernel every 0.5 s (``WavWriter.sync``), which
is all a process crash (``kill -9``) needs: the page cache survives the process.
Against an OS crash the pages must reach the disk. ``fsync`` per file costs a
journal commit per file (300 a second for a worker with 1,500 streams synced every
5 s); one ``syncfs`` of the recordings' filesystem writes the same pages with one
commit. Linux only (glibc has it since 2.14); elsewhere the caller falls back to
``fsync`` per file.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

log = logging.getLogger("siprec.media")


def _load_syncfs() -> Callable[[int], int] | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int,)
    function.restype = ctypes.c_int
    return function


_SYNCFS = _load_syncfs()


def syncfs_available() -> bool:
    """Whether :func:`flush_filesystems` can work (else: ``fsync`` each file)."""
    return _SYNCFS is not None


def flush_filesystems(directories: Iterable[Path]) -> int:
    """``syncfs`` once per filesystem holding one of ``directories`` (blocking: run it
    in an executor). Returns how many filesystems were flushed; a directory that
    cannot be opened (removed meanwhile) is skipped."""
    if _SYNCFS is None:
        return 0
    done: set[int] = set()
    for directory in directories:
        try:
            device = os.stat(directory).st_dev
            if device in done:
                continue
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            if _SYNCFS(fd) != 0:
                error = ctypes.get_errno()
                log.error("syncfs %s: %s", directory, os.strerror(error))
                continue
            done.add(device)
        finally:
            os.close(fd)
    return len(done)
