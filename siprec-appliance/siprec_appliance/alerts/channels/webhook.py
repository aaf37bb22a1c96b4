"""A generic webhook: an HTTP(S) POST of the alert as JSON, signed with HMAC-SHA256.

Headers: ``Content-Type: application/json``, ``X-Siprec-Signature: t=<unix>,v1=<hex>``
(:mod:`siprec_appliance.alerts.signature`; verify with ``verify_signature``),
``X-Siprec-Alert-Id`` (the same on every retry: delivery is at least once) and
``X-Siprec-Event``. Any 2xx is success; 429/503 with Retry-After wait as told; 408
and 5xx are retried; redirects are not followed and, like other 4xx, are permanent.
urllib.request runs in a thread: no HTTP dependency beyond the standard library.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from siprec_appliance.alerts.channels.base import http_error
from siprec_appliance.alerts.credentials import Redactor, read_secret
from siprec_appliance.alerts.errors import DeliveryError, SecretError
from siprec_appliance.alerts.render import Message
from siprec_appliance.alerts.settings import WebhookChannelConfig
from siprec_appliance.alerts.signature import SIGNATURE_HEADER, signature_header
from siprec_appliance.version import __version__

__all__ = ["WebhookChannel", "webhook_body"]

MAX_RESPONSE = 64 * 1024


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect: the body would go unsigned-for elsewhere (or as GET)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def webhook_body(message: Message) -> bytes:
    """The exact bytes that are signed and sent (compact JSON, sorted keys)."""
    return json.dumps(message.payload(), separators=(",", ":"), sort_keys=True).encode("utf-8")


class WebhookChannel:
    """One ``type: webhook`` channel."""

    kind = "webhook"

    def __init__(
        self,
        config: WebhookChannelConfig,
        env: Mapping[str, str],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = config.name
        self.config = config
        self._env = env
        self._clock = clock
        self._redact = Redactor()

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.kind, "url": self.config.url}

    def _context(self) -> ssl.SSLContext:
        cafile = str(self.config.ca_file) if self.config.ca_file else None
        context = ssl.create_default_context(cafile=cafile)
        if not self.config.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def send(self, message: Message) -> None:
        await asyncio.to_thread(self._post, message)

    def _post(self, message: Message) -> None:
        try:
            secret = self._redact.add(read_secret(self.config.secret, self._env))
        except SecretError as exc:
            raise DeliveryError(str(exc), permanent=True) from None
        body = webhook_body(message)
        request = urllib.request.Request(
            self.config.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": f"siprec-appliance/{__version__}",
                SIGNATURE_HEADER: signature_header(secret, int(self._clock()), body),
                "X-Siprec-Alert-Id": message.alert.id,
                "X-Siprec-Event": message.alert.event_type,
            },
        )
        opener = urllib.request.build_opener(
            _NoRedirect(), urllib.request.HTTPSHandler(context=self._context())
        )
        try:
            with opener.open(request, timeout=self.config.timeout) as response:
                response.read(MAX_RESPONSE)
        except urllib.error.HTTPError as exc:
            error = http_error(exc.code, exc.headers, "webhook", time.time())
            raise DeliveryError(
                self._redact(str(error)), permanent=error.permanent, retry_after=error.retry_after
            ) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(self._redact(f"webhook: cannot POST: {reason}")) from None
