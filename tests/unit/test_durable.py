"""syncfs per filesystem for the recordings' durability (appliance/durable.py)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from siprec_appliance.appliance.durable import flush_filesystems, syncfs_available


def test_one_syncfs_per_filesystem_and_missing_directories_skipped(tmp_path: Path) -> None:
    assert syncfs_available()
    sessions = [tmp_path / f"s{n}" for n in range(3)]
    for directory in sessions:
        directory.mkdir()
        (directory / "a.wav").write_bytes(b"RIFF" + bytes(100))
    assert flush_filesystems(sessions) == 1  # three directories, one filesystem
    assert flush_filesystems([tmp_path / "gone"]) == 0
    with tempfile.TemporaryDirectory(dir="/dev/shm") as other:
        if os.stat(other).st_dev == os.stat(tmp_path).st_dev:
            pytest.fail("expected /dev/shm on another filesystem than the test's tmp")
        assert flush_filesystems([*sessions, Path(other)]) == 2
