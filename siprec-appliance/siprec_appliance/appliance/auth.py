"""The REST API bearer token (RFC 6750): where it comes from and how it is checked.

The token itself is a secret: it is never logged, only the file it lives in.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import stat
from pathlib import Path

from siprec_appliance.errors import ConfigError

__all__ = ["TOKEN_FILE_NAME", "resolve_api_token", "token_matches"]

TOKEN_FILE_NAME = "api-token"

logger = logging.getLogger(__name__)


def resolve_api_token(configured: str | None, data_dir: Path) -> tuple[str, Path | None]:
    """The API token and the file it came from (None when it was configured).

    Order: ``configured`` (``http.api_token`` / ``SIPREC_API_TOKEN``), else the file
    ``<data_dir>/api-token``, else a new random token written there with mode 0600.
    """
    if configured:
        logger.info("API token: taken from the configuration")
        return configured, None
    path = data_dir / TOKEN_FILE_NAME
    if path.exists():
        return _read_token(path), path
    try:
        token = _create_token(path)
    except FileExistsError:  # another process created it just now
        return _read_token(path), path
    logger.info("API token: generated a new one in %s", path)
    return token, path


def token_matches(header_value: str | None, token: str) -> bool:
    """True if an ``Authorization`` header value is ``Bearer <token>``.

    The scheme is case-insensitive (RFC 7235 §2.1); the comparison takes constant time.
    """
    if header_value is None or not token:
        return False
    scheme, _, credentials = header_value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credentials.strip().encode(), token.encode())


def _read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the API token file: {exc}") from exc
    if not token:
        raise ConfigError(f"{path}: the API token file is empty; delete it to generate a new one")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        logger.warning(
            "API token file %s is readable by other users (mode %04o); run chmod 600 on it",
            path,
            mode,
        )
    logger.info("API token: read from %s", path)
    return token


def _create_token(path: Path) -> str:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{path.parent}: cannot create the data directory: {exc}") from exc
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise  # a race with another process: the caller reads that file
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create the API token file: {exc}") from exc
    os.fchmod(fd, 0o600)  # whatever the umask
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        stream.write(token + "\n")
    return token
