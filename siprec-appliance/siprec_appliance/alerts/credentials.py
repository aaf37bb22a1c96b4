"""Reading channel secrets from the environment or a file, and keeping them out of text.

A secret is read when a message is sent (a rotated token file is picked up without a
restart). A missing variable or unreadable file is a :class:`SecretError` naming the
variable or file, never a value. :class:`Redactor` replaces every secret it was shown
in error text before that text is logged or stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from siprec_appliance.alerts.errors import SecretError
from siprec_appliance.alerts.settings import SecretRef

__all__ = ["REDACTED", "Redactor", "SecretError", "read_secret"]

REDACTED = "<redacted>"
MAX_SECRET_BYTES = 64 * 1024


def read_secret(ref: SecretRef, env: Mapping[str, str]) -> str:
    """The secret named by ``ref`` (blocking when it is a file; trailing newline dropped)."""
    if ref.env is not None:
        value = env.get(ref.env, "")
        if not value:
            raise SecretError(f"environment variable {ref.env} is not set")
        return value
    if ref.file is not None:
        try:
            with ref.file.open("rb") as handle:
                data = handle.read(MAX_SECRET_BYTES + 1)
        except OSError as exc:
            raise SecretError(f"cannot read {ref.file}: {exc.strerror or exc}") from None
        if len(data) > MAX_SECRET_BYTES:
            raise SecretError(f"{ref.file} is larger than {MAX_SECRET_BYTES} bytes")
        value = data.decode("utf-8", errors="replace").strip()
        if not value:
            raise SecretError(f"{ref.file} is empty")
        return value
    raise SecretError("no secret configured")


class Redactor:
    """Remembers secret values and removes them (and their URL-quoted forms) from text."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, secret: str) -> str:
        if len(secret) >= 4:  # shorter values would blank out ordinary words
            self._secrets.add(secret)
        return secret

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED).replace(quote(secret, safe=""), REDACTED)
        return text
