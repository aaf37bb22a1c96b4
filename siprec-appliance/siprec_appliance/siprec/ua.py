"""Generic SIP user-agent plumbing under the SRS (RFC 3261 §8, §12, §17), sans-IO.

Parsing, validation, server and client transactions, building and routing
responses, in-dialog requests and the output queue. ``SrsCore`` adds what a
recording session means; subclasses provide the method handlers, ``_on_ack`` and
``_ack_timeout``.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Protocol

from siprec_appliance.errors import SipProtocolError
from siprec_appliance.sip.dialog import Dialog, build_response, response_target
from siprec_appliance.sip.message import (
    Request,
    Response,
    can_answer,
    parse_message,
    validate_request,
)
from siprec_appliance.sip.timers import ExpiringMap, TimerQueue
from siprec_appliance.sip.transaction import (
    MAGIC_COOKIE,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    ServerTransaction,
    TxState,
    server_key,
)
from siprec_appliance.sip.transport import Outgoing, Peer, Target
from siprec_appliance.siprec.settings import SrsSettings

log = logging.getLogger("siprec.sip")

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO"
# Option tags a request may Require of us (RFC 3261 §8.2.2.3). We never send a
# reliable provisional, so Require: 100rel is trivially honoured (RFC 3262 §3).
KNOWN_EXTENSIONS = frozenset({"siprec", "timer", "100rel"})
# Methods we recognise but do not take: 405 with Allow (RFC 3261 §8.2.1).
NOT_ALLOWED = frozenset({"REGISTER", "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "PUBLISH", "PRACK"})

_WAITING = frozenset({TxState.TRYING, TxState.PROCEEDING})

Handler = Callable[[Request, Peer, ServerTransaction, float], None]
_Where = tuple[str, str, int, int | None]


class DialogOwner(Protocol):
    """What in-dialog requests and responses need of a session."""

    id: str
    dialog: Dialog
    peer: Peer


class UserAgentCore:
    """Transactions and message plumbing shared by every method handler."""

    def __init__(self, settings: SrsSettings, *, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.stats: Counter[str] = Counter()
        self._rng = rng or random.Random()
        self._timers = TimerQueue()
        self._outgoing: list[Outgoing] = []
        self._server_tx: dict[tuple[str, ...], ServerTransaction] = {}
        self._client_tx: dict[str, NonInviteClientTransaction] = {}
        # Finished server transactions that only absorb retransmissions (timers I, J,
        # and L after the ACK): key -> (response bytes to repeat or None, target).
        self._absorbing: ExpiringMap[tuple[str, ...], tuple[bytes | None, _Where]] = ExpiringMap()
        self._handlers: dict[str, Handler] = {}

    def _on_ack(self, request: Request, now: float) -> None:
        raise NotImplementedError

    def _ack_timeout(self, tx: InviteServerTransaction, now: float) -> None:
        raise NotImplementedError

    # ----------------------------------------------------------------- outputs
    def messages_to_send(self) -> list[Outgoing]:
        out, self._outgoing = self._outgoing, []
        return out

    def get_timer(self) -> float | None:
        return self._timers.next_deadline()

    def handle_timer(self, now: float) -> None:
        self._timers.run_due(now)

    def pending_requests(self) -> int:
        """Requests we sent (BYE, UPDATE) still waiting for their final response."""
        return sum(1 for tx in self._client_tx.values() if tx.state in _WAITING)

    # ------------------------------------------------------------------- inputs
    def receive(self, data: bytes, peer: Peer, now: float, *, datagram: bool = True) -> None:
        """Feed one UDP datagram, or one message cut from a stream by the framer."""
        self._absorbing.expire(now)
        try:
            result = parse_message(data, datagram=datagram)
        except SipProtocolError as exc:
            self.stats["malformed"] += 1
            log.warning("dropped unparsable message from %s: %s", peer, exc.reason)
            return
        for warning in result.warnings:
            log.debug("tolerated from %s: %s", peer, warning)
        message = result.message
        if isinstance(message, Response):
            self._on_response(message, now)
        else:
            self._on_request(message, peer, now)

    # --------------------------------------------------------------- requests
    def _on_request(self, request: Request, peer: Peer, now: float) -> None:
        try:
            validate_request(request)
        except SipProtocolError as exc:
            self.stats["rejected_malformed"] += 1
            log.warning("malformed %s from %s: %s", request.method, peer, exc.reason)
            if request.method != "ACK" and can_answer(request):
                self._send_stateless(request, peer, exc.status, exc.reason)
            return
        key = server_key(request)
        absorbed = self._absorbing.get(key, now)
        if absorbed is not None and key not in self._server_tx:
            # A retransmission (or ACK) for a finished transaction (§17.2.1, §17.2.2).
            self.stats["retransmissions"] += 1
            resend, where = absorbed
            if resend is not None and request.method != "ACK":
                self._outgoing.append(Outgoing(resend, Target(*where)))
            return
        if request.method == "ACK":
            self._on_ack(request, now)
            return
        existing = self._server_tx.get(key)
        if existing is not None:
            self.stats["retransmissions"] += 1
            existing.retransmission(now)
            return
        tx = self._new_server_tx(request, peer)
        unsupported = self._unsupported_extensions(request)
        if unsupported:
            self._respond(tx, peer, 420, extra=[("Unsupported", ", ".join(unsupported))], now=now)
            return
        # RFC 3261 §7.1: method names are case-sensitive; "invite" is an unknown method.
        handler = self._handlers.get(request.method)
        if handler is not None:
            handler(request, peer, tx, now)
        elif request.method in NOT_ALLOWED:
            self._respond(tx, peer, 405, extra=[("Allow", ALLOW)], now=now)
        else:
            self._respond(tx, peer, 501, extra=[("Allow", ALLOW)], now=now)

    @staticmethod
    def _unsupported_extensions(request: Request) -> list[str]:
        if request.method in ("ACK", "CANCEL"):
            return []
        return [t for t in request.headers.get_list("Require") if t.lower() not in KNOWN_EXTENSIONS]

    def _new_server_tx(self, request: Request, peer: Peer) -> ServerTransaction:
        target = response_target(request, peer)

        def send(response: Response) -> None:
            self._emit(response, target)

        def linger(tx: ServerTransaction, until: float, resend: Response | None) -> None:
            data = None if resend is None else resend.to_bytes()
            # A plain tuple, not a Target: tuples of atoms leave the collector's lists.
            where = (target.transport, target.host, target.port, target.connection_id)
            self._absorbing.put(tx.key, (data, where), until)

        tx: ServerTransaction
        if request.method == "INVITE":
            invite_tx = InviteServerTransaction(
                request,
                reliable=peer.reliable,
                timers=self._timers,
                values=self.settings.timers,
                send=send,
                on_terminated=self._tx_terminated,
                on_ack_timeout=lambda now: self._ack_timeout(invite_tx, now),
                on_linger=linger,
            )
            tx = invite_tx
        else:
            tx = NonInviteServerTransaction(
                request,
                reliable=peer.reliable,
                timers=self._timers,
                values=self.settings.timers,
                send=send,
                on_terminated=self._tx_terminated,
                on_linger=linger,
            )
        self._server_tx[tx.key] = tx
        return tx

    def _tx_terminated(self, tx: ServerTransaction) -> None:
        if self._server_tx.get(tx.key) is tx:
            del self._server_tx[tx.key]

    def _emit(self, message: Request | Response, target: Target) -> None:
        self._outgoing.append(Outgoing(message.to_bytes(), target, message))

    def _respond(
        self,
        tx: ServerTransaction,
        peer: Peer,
        status: int,
        reason: str | None = None,
        *,
        now: float,
        session: DialogOwner | None = None,
        extra: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> None:
        to_tag = session.dialog.local_tag if session else self._new_tag()
        response = build_response(
            tx.request,
            peer,
            status,
            reason,
            to_tag=to_tag,
            extra=extra,
            body=body,
            content_type=content_type,
            server=self.settings.user_agent,
        )
        self.stats[f"response_{status}"] += 1
        if isinstance(tx, InviteServerTransaction | NonInviteServerTransaction):
            tx.respond(response, now)

    def _send_stateless(self, request: Request, peer: Peer, status: int, reason: str) -> None:
        response = build_response(
            request, peer, status, reason, to_tag=self._new_tag(), server=self.settings.user_agent
        )
        self._emit(response, response_target(request, peer))

    def _send_in_dialog(
        self,
        session: DialogOwner,
        method: str,
        now: float,
        *,
        extra: list[tuple[str, str]],
        on_result: Callable[[int, Response | None, float], None] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> None:
        peer = session.peer
        try:
            target = session.dialog.next_target(peer.transport, peer.connection_id)
        except SipProtocolError as exc:
            # An unroutable Contact or Route must not stop a BYE (this runs from timers
            # and API calls): send it back where the dialog's requests came from.
            log.warning("session %s: %s; sending %s to %s", session.id, exc.reason, method, peer)
            target = Target(peer.transport, peer.host, peer.port, peer.connection_id)
        host = self.settings.sip_address or peer.local_host
        host = f"[{host}]" if ":" in host else host
        branch = MAGIC_COOKIE + self._new_tag()
        via = f"SIP/2.0/{target.transport} {host}:{peer.local_port};branch={branch};rport"
        headers = [*extra, ("User-Agent", self.settings.user_agent)]
        if body and content_type:
            headers.append(("Content-Type", content_type))
        request = session.dialog.build_request(method, via, extra=headers, body=body)

        def send(req: Request) -> None:
            self._emit(req, target)

        def done(status: int, response: Response | None, t: float) -> None:
            if status >= 300:
                log.info("session %s: %s answered %d", session.id, method, status)
            if on_result is not None:
                on_result(status, response, t)

        tx = NonInviteClientTransaction(
            request,
            reliable=target.transport != "UDP",
            timers=self._timers,
            values=self.settings.timers,
            send=send,
            on_result=done,
            on_terminated=self._client_tx_terminated,
        )
        self._client_tx[tx.branch] = tx
        tx.start(now)

    def _client_tx_terminated(self, tx: NonInviteClientTransaction) -> None:
        self._client_tx.pop(tx.branch, None)

    def _on_response(self, response: Response, now: float) -> None:
        try:
            branch = response.top_via.branch or ""
        except SipProtocolError:
            self.stats["malformed"] += 1
            return
        tx = self._client_tx.get(branch)
        if tx is None:
            self.stats["stray_response"] += 1
            return
        tx.response_received(response, now)

    def _new_tag(self) -> str:
        return f"{self._rng.getrandbits(64):016x}"

    def _new_id(self) -> str:
        return f"{self._rng.getrandbits(128):032x}"
