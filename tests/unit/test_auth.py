"""API token: where it comes from, how it is stored, how it is compared, that it is not logged."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from siprec_appliance.appliance.auth import resolve_api_token, token_matches
from siprec_appliance.errors import ConfigError

CONFIGURED = "configured-token-0123456789abcdef"


def test_generated_token_file_has_mode_0600(tmp_path: Path) -> None:
    data_dir = tmp_path / "deep" / "var"
    token, path = resolve_api_token(None, data_dir)
    assert path == data_dir / "api-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text(encoding="utf-8").strip() == token
    assert len(token) >= 40  # token_urlsafe(32): 43 characters


def test_mode_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        _, path = resolve_api_token(None, tmp_path)
    finally:
        os.umask(previous)
    assert path is not None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_token_is_reused_on_second_call(tmp_path: Path) -> None:
    first, first_path = resolve_api_token(None, tmp_path)
    second, second_path = resolve_api_token(None, tmp_path)
    assert first == second
    assert first_path == second_path


def test_tokens_differ_between_data_dirs(tmp_path: Path) -> None:
    one, _ = resolve_api_token(None, tmp_path / "a")
    two, _ = resolve_api_token(None, tmp_path / "b")
    assert one != two


def test_configured_token_wins(tmp_path: Path) -> None:
    resolve_api_token(None, tmp_path)  # a file exists
    token, path = resolve_api_token(CONFIGURED, tmp_path)
    assert (token, path) == (CONFIGURED, None)


def test_configured_token_creates_no_file(tmp_path: Path) -> None:
    resolve_api_token(CONFIGURED, tmp_path / "var")
    assert not (tmp_path / "var").exists()


def test_existing_file_is_read_and_stripped(tmp_path: Path) -> None:
    (tmp_path / "api-token").write_text("  from-file-token \n", encoding="utf-8")
    assert resolve_api_token(None, tmp_path) == ("from-file-token", tmp_path / "api-token")


def test_empty_token_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "api-token").write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="empty"):
        resolve_api_token(None, tmp_path)


def test_readable_token_file_warns_without_the_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "api-token"
    path.write_text("world-readable-token\n", encoding="utf-8")
    path.chmod(0o644)
    with caplog.at_level(logging.DEBUG):
        resolve_api_token(None, tmp_path)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "chmod 600" in warnings[0].getMessage()
    assert "world-readable-token" not in caplog.text


def test_token_never_appears_in_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        generated, path = resolve_api_token(None, tmp_path)
        resolve_api_token(None, tmp_path)
        resolve_api_token(CONFIGURED, tmp_path)
    assert str(path) in caplog.text  # the path is logged ...
    assert generated not in caplog.text  # ... the token never
    assert CONFIGURED not in caplog.text
    for record in caplog.records:
        assert generated not in repr(record.args)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer right-token", True),
        ("bearer right-token", True),
        ("BEARER right-token", True),
        ("Bearer   right-token  ", True),
        ("Bearer wrong-token", False),
        ("Bearer right-token2", False),
        ("Bearer ", False),
        ("Bearer", False),
        ("Basic right-token", False),
        ("right-token", False),
        ("", False),
        (None, False),
        ("Bearer rïght-token", False),
    ],
)
def test_token_matches(header: str | None, expected: bool) -> None:
    assert token_matches(header, "right-token") is expected


def test_empty_token_never_matches() -> None:
    assert not token_matches("Bearer ", "")
    assert not token_matches("Bearer x", "")
