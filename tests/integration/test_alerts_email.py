"""E-mail through aiosmtplib against a real SMTP server (aiosmtpd on 127.0.0.1):
STARTTLS with AUTH required after TLS, implicit TLS, certificate checks, and an alert
sent while the server is down that arrives exactly once when it comes up."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from siprec_appliance.alerts import AlertService, RecordingFailed, SessionEnded
from siprec_appliance.alerts.settings import (
    AlertsConfig,
    EmailChannelConfig,
    RetryConfig,
    RouteConfig,
    SecretRef,
)
from support.alerts import deliver, run_bounded, settled, until
from support.daemon import free_port
from support.tls import self_signed_certificate

pytestmark = pytest.mark.integration

USER, PASSWORD = "srs-alerts", "Sm7p-P4ssw0rd-n0t-in-logs"
WAIT = 15.0  # seconds for a delivery (TLS handshakes)


@dataclass
class Mailbox:
    """aiosmtpd handler and authenticator: keeps what arrives and who logged in."""

    messages: list[Envelope] = field(default_factory=list)
    logins: list[tuple[str, bool]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 Message accepted for delivery"

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = (data.login.decode(), data.password.decode()) == (USER, PASSWORD)
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        self.logins.append((data.login.decode(), encrypted))
        return AuthResult(success=ok, handled=False)  # the server answers 235 or 535

    def parsed(self, index: int = 0) -> EmailMessage:
        content = self.messages[index].original_content
        assert content is not None
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class LocalController(Controller):
    """aiosmtpd's Controller on port 0: learn the bound port before the self-test."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (certificate, key)."""
    directory = tmp_path_factory.mktemp("smtp-tls")
    return self_signed_certificate(directory, "smtp", "smtp.test", ca=True)


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def start_server(
    mailbox: Mailbox, certificate: tuple[Path, Path], *, implicit: bool = False, port: int = 0
) -> LocalController:
    tls = server_context(certificate)
    if implicit:  # aiosmtpd does not see implicit TLS as TLS for auth_require_tls
        controller = LocalController(
            mailbox,
            hostname="127.0.0.1",
            port=port,
            ssl_context=tls,
            authenticator=mailbox,
            auth_require_tls=False,
        )
    else:
        controller = LocalController(
            mailbox,
            hostname="127.0.0.1",
            port=port,
            tls_context=tls,
            require_starttls=True,
            auth_require_tls=True,
            authenticator=mailbox,
        )
    controller.start()
    return controller


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def smtp(mailbox: Mailbox, certificate: tuple[Path, Path]) -> Iterator[LocalController]:
    controller = start_server(mailbox, certificate)
    yield controller
    controller.stop()


def channel(port: int, ca_file: Path | None, **overrides: Any) -> EmailChannelConfig:
    values: dict[str, Any] = {
        "name": "ops-mail",
        "host": "127.0.0.1",
        "port": port,
        "security": "starttls",
        "username": USER,
        "password": SecretRef(env="SMTP_PASSWORD"),
        "sender": "srs@alerts.example.com",
        "recipients": ("ops@example.com", "oncall@example.org"),
        "ca_file": ca_file,
        "timeout": 5.0,
    }
    values.update(overrides)
    return EmailChannelConfig(**values)


def service(mail: EmailChannelConfig, data_dir: Path, **retry: Any) -> AlertService:
    config = AlertsConfig(
        channels=(mail,),
        routes=(RouteConfig(min_severity="warning", channels=("ops-mail",)),),
        retry=RetryConfig(**{"initial_delay": 0.2, "max_delay": 0.5, **retry}),
        appliance_name="srs-it",
    )
    return AlertService(config, data_dir, env={"SMTP_PASSWORD": PASSWORD})


def test_starttls_with_auth_delivers_text_and_html(
    smtp: LocalController, mailbox: Mailbox, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    alerts = service(channel(smtp.port, certificate[0]), tmp_path)
    event = RecordingFailed(session_id="s42", reason="No space left on device", stream="0")
    [alert] = deliver(alerts, event, timeout=WAIT)
    assert mailbox.logins == [(USER, True)]  # AUTH after STARTTLS
    [envelope] = mailbox.messages
    assert envelope.mail_from == "srs@alerts.example.com"
    assert envelope.rcpt_tos == ["ops@example.com", "oncall@example.org"]
    mail = mailbox.parsed()
    # (a header that fits on its own line is folded onto it: unfolding leaves a space)
    assert mail["Subject"].strip() == (
        "[siprec] [CRITICAL] Recording failed for session s42: No space left on device"
    )
    assert mail["From"] == "srs@alerts.example.com"
    assert mail["To"] == "ops@example.com, oncall@example.org"
    assert mail["X-Siprec-Alert-Id"] == alert["id"]
    assert mail.get_content_type() == "multipart/alternative"
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None and html is not None
    assert "RECORDING FAILED for session s42 (stream 0): No space left on device" in (
        plain.get_content()
    )
    assert "srs-it" in plain.get_content()
    assert "<strong>Recording failed</strong>" in html.get_content()
    assert alert["deliveries"][0]["attempts"] == 1


def test_implicit_tls(mailbox: Mailbox, certificate: tuple[Path, Path], tmp_path: Path) -> None:
    controller = start_server(mailbox, certificate, implicit=True)
    try:
        mail = channel(controller.port, certificate[0], security="tls")
        event = SessionEnded(session_id="s1", call_id="c1", reason="BYE", duration=12.0)
        alerts = AlertService(
            AlertsConfig(channels=(mail,), routes=(RouteConfig(channels=("ops-mail",)),)),
            tmp_path,
            env={"SMTP_PASSWORD": PASSWORD},
        )
        [alert] = deliver(alerts, event, timeout=WAIT)
    finally:
        controller.stop()
    assert alert["state"] == "delivered"
    assert mailbox.logins == [(USER, True)]
    assert (
        mailbox.parsed()["Subject"].strip().startswith("[siprec] [INFO] Recording ended after 12 s")
    )


def test_untrusted_certificate_is_refused(
    smtp: LocalController, mailbox: Mailbox, tmp_path: Path
) -> None:
    alerts = service(channel(smtp.port, None), tmp_path, max_attempts=1)
    [alert] = deliver(alerts, RecordingFailed(session_id="s", reason="x"), "failed", timeout=WAIT)
    assert "CERTIFICATE_VERIFY_FAILED" in alert["deliveries"][0]["last_error"]
    assert mailbox.messages == [] and mailbox.logins == []


def test_wrong_password_fails_without_logging_it(
    smtp: LocalController,
    mailbox: Mailbox,
    certificate: tuple[Path, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "Wr0ng-P4ss-also-secret"
    config = AlertsConfig(
        channels=(channel(smtp.port, certificate[0]),),
        routes=(RouteConfig(channels=("ops-mail",)),),
        retry=RetryConfig(initial_delay=0.05, max_attempts=2),
    )
    alerts = AlertService(config, tmp_path, env={"SMTP_PASSWORD": wrong})
    with caplog.at_level(logging.DEBUG):
        [alert] = deliver(
            alerts, RecordingFailed(session_id="s", reason="x"), "failed", timeout=WAIT
        )
    error = alert["deliveries"][0]["last_error"]
    assert error.startswith("SMTP: SMTPAuthenticationError: (535")
    assert alert["deliveries"][0]["attempts"] == 2  # retried once, then given up
    assert mailbox.logins and mailbox.messages == []  # (aiosmtplib tries PLAIN and LOGIN)
    assert "NOT delivered to ops-mail" in caplog.text
    assert wrong not in caplog.text and wrong not in json.dumps(alert)


def test_server_down_then_up_delivers_exactly_once(
    mailbox: Mailbox, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    port = free_port()
    alerts = service(channel(port, certificate[0]), tmp_path)

    async def scenario() -> list[dict[str, Any]]:
        await alerts.start()
        alerts.emit(RecordingFailed(session_id="s-down", reason="disk"))
        await until(lambda: _failures(alerts, 2), WAIT)  # refused twice while down
        controller = await asyncio.to_thread(start_server, mailbox, certificate, port=port)
        try:
            await until(lambda: settled(alerts, "delivered"), WAIT)
            await asyncio.sleep(1.0)  # longer than the retry delay: no second copy comes
        finally:
            await asyncio.to_thread(controller.stop)
        recent = await alerts.recent()
        await alerts.stop()
        return recent

    [alert] = run_bounded(scenario())
    assert len(mailbox.messages) == 1
    assert mailbox.parsed()["X-Siprec-Alert-Id"] == alert["id"]
    delivery = alert["deliveries"][0]
    assert delivery["state"] == "delivered" and delivery["failures"] >= 2
    assert delivery["attempts"] == delivery["failures"] + 1


async def _failures(alerts: AlertService, count: int) -> bool:
    recent = await alerts.recent()
    return bool(recent) and recent[0]["deliveries"][0]["failures"] >= count
