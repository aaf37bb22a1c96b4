"""E-mail through aiosmtplib: SMTP submission with implicit TLS (RFC 8314 §3.3),
STARTTLS (RFC 3207) or neither, optional AUTH (RFC 4954), and a multipart/alternative
message with a plain-text and an HTML part (RFC 2046 §5.1.4).

TLS certificates are verified against the system store or ``ca_file`` unless
``verify: false``. A 5xx answer to MAIL, RCPT or DATA is permanent; connection
problems, timeouts, 4xx answers and failed authentication are retried (a fixed
password file is picked up by the next attempt).
"""

from __future__ import annotations

import asyncio
import email.utils
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

import aiosmtplib

from siprec_appliance.alerts.credentials import Redactor, read_secret
from siprec_appliance.alerts.errors import DeliveryError, SecretError
from siprec_appliance.alerts.render import Message
from siprec_appliance.alerts.settings import EmailChannelConfig
from siprec_appliance.version import __version__

__all__ = ["EmailChannel", "build_email"]


def build_email(message: Message, config: EmailChannelConfig) -> EmailMessage:
    """The e-mail for ``message``: headers, text/plain and text/html alternatives."""
    alert = message.alert
    severity = str(alert.severity).upper()
    subject = f"{config.subject_prefix} [{severity}] {message.subject}".strip()
    if message.suppressed:
        subject += f" (+{message.suppressed} suppressed)"
    domain = config.sender.rpartition("@")[2] or "localhost"
    mail = EmailMessage()
    mail["Subject"] = subject
    mail["From"] = config.sender
    mail["To"] = ", ".join(config.recipients)
    mail["Date"] = email.utils.formatdate(localtime=False)
    mail["Message-ID"] = email.utils.make_msgid(idstring=alert.id, domain=domain)
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834 §5
    mail["X-Siprec-Alert-Id"] = alert.id
    mail["X-Siprec-Severity"] = str(alert.severity)
    mail["X-Mailer"] = f"siprec-appliance/{__version__}"
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    return mail


def _smtp_error(exc: Exception) -> DeliveryError:
    text = f"SMTP: {type(exc).__name__}: {exc}"
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [error.code for error in exc.recipients]
        return DeliveryError(text, permanent=bool(codes) and all(code >= 500 for code in codes))
    if isinstance(
        exc,
        aiosmtplib.SMTPSenderRefused | aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError,
    ):
        return DeliveryError(text, permanent=exc.code >= 500)
    return DeliveryError(text)


class EmailChannel:
    """One ``type: email`` channel."""

    kind = "email"

    def __init__(self, config: EmailChannelConfig, env: Mapping[str, str]) -> None:
        self.name = config.name
        self.config = config
        self._env = env
        self._redact = Redactor()

    def describe(self) -> dict[str, Any]:
        config = self.config
        return {
            "name": self.name,
            "type": self.kind,
            "host": config.host,
            "port": config.port,
            "security": config.security,
            "from": config.sender,
            "to": list(config.recipients),
        }

    async def _password(self) -> str | None:
        if not self.config.password.configured:
            return None
        try:
            secret = await asyncio.to_thread(read_secret, self.config.password, self._env)
        except SecretError as exc:
            raise DeliveryError(str(exc), permanent=True) from None
        return self._redact.add(secret)

    async def send(self, message: Message) -> None:
        config = self.config
        password = await self._password()
        mail = build_email(message, config)
        try:
            await aiosmtplib.send(
                mail,
                hostname=config.host,
                port=config.port,
                username=config.username,
                password=password,
                use_tls=config.security == "tls",
                start_tls=config.security == "starttls",
                validate_certs=config.verify,
                cert_bundle=str(config.ca_file) if config.ca_file else None,
                timeout=config.timeout,
            )
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError, TimeoutError) as exc:
            error = _smtp_error(exc)
            raise DeliveryError(self._redact(str(error)), permanent=error.permanent) from None
