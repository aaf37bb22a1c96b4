"""A webhook receiver on 127.0.0.1 that verifies each POST's signature as a real
receiver would (``siprec_appliance.alerts.verify_signature``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from siprec_appliance.alerts import SIGNATURE_HEADER, verify_signature


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    verified: bool


@dataclass
class Receiver:
    """What arrived; ``answers`` are popped for the next POSTs (status, headers)."""

    secret: str
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/siprec"


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            signature = self.headers.get(SIGNATURE_HEADER)
            ok = verify_signature(receiver.secret, signature, body, time.time())
            receiver.requests.append(
                Received(self.path, dict(self.headers.items()), body, time.monotonic(), ok)
            )
            status, headers = receiver.answers.pop(0) if receiver.answers else (204, {})
            if not ok:
                status = 401
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def webhook_receiver(secret: str) -> Iterator[Receiver]:
    state = Receiver(secret)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
