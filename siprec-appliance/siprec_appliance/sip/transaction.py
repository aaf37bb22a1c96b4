"""SIP transactions (RFC 3261 §17, with the RFC 6026 "Accepted" state), sans-IO.

Server transactions absorb retransmitted requests and retransmit final responses
over UDP (timers G, H, I, J). The INVITE server transaction also retransmits its
2xx until the ACK arrives (RFC 3261 §13.3.1.4, done here for the UA core) and
absorbs INVITE retransmissions while it does (RFC 6026 §7.1, timer L).
The non-INVITE client transaction (timers E, F, K) carries our BYE and UPDATE.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from siprec_appliance.sip.message import Request, Response
from siprec_appliance.sip.timers import TimerHandle, TimerQueue

MAGIC_COOKIE = "z9hG4bK"  # RFC 3261 §8.1.1.7


@dataclass(frozen=True, slots=True)
class TimerValues:
    """RFC 3261 §17.1.1.1 / Table 4: T1 (RTT estimate), T2 (max interval), T4."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0


class TxState(Enum):
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"
    TERMINATED = "terminated"


SendFn = Callable[[Response], None]
# Hand a finished transaction's key to a cheap table until ``until``; ``resend`` is
# the response to repeat for a retransmitted request, or None to absorb silently.
LingerFn = Callable[["ServerTransaction", float, Response | None], None]


def server_key(request: Request) -> tuple[str, ...]:
    """The key that matches a request to its server transaction (RFC 3261 §17.2.3)."""
    via = request.top_via
    method = "INVITE" if request.method == "ACK" else request.method
    branch = via.branch or ""
    sent_by = f"{via.host}:{via.port or ''}"
    if branch.startswith(MAGIC_COOKIE):
        return (branch, sent_by, method)
    # RFC 2543 peers: match on the request's identity instead of the branch.
    number, _ = request.cseq
    return ("2543", request.uri, request.from_tag or "", request.call_id, str(number), method)


class ServerTransaction:
    """Common state of both kinds of server transaction."""

    initial_state = TxState.PROCEEDING  # §17.2.1: an INVITE transaction starts Proceeding

    def __init__(
        self,
        request: Request,
        *,
        reliable: bool,
        timers: TimerQueue,
        values: TimerValues,
        send: SendFn,
        on_terminated: Callable[[ServerTransaction], None],
        on_linger: LingerFn | None = None,
    ) -> None:
        self.request = request
        self.key = server_key(request)
        self.reliable = reliable
        self.state = self.initial_state
        self.last_response: Response | None = None
        self._timers = timers
        self._values = values
        self._send = send
        self._on_terminated = on_terminated
        self._on_linger = on_linger
        self._handles: list[TimerHandle] = []

    @property
    def final_sent(self) -> bool:
        return self.last_response is not None and self.last_response.status >= 200

    def retransmission(self, now: float) -> None:
        """The peer resent the request: resend our latest response (§17.2.1, §17.2.2)."""
        del now
        if self.last_response is not None and self.state is not TxState.TERMINATED:
            self._send(self.last_response)

    def _schedule(self, when: float, callback: Callable[[float], None]) -> None:
        self._handles.append(self._timers.schedule(when, callback))

    def _linger(self, now: float, until: float, resend: Response | None) -> None:
        """Only absorbing is left to do until ``until``: hand over, or wait as is."""
        if self._on_linger is None or until <= now:
            for handle in self._handles:
                handle.cancel()
            self._handles.clear()
            self._schedule(until, self._terminate)
            return
        self._terminate(now)
        self._on_linger(self, until, resend)

    def _terminate(self, now: float = 0.0) -> None:
        del now
        if self.state is TxState.TERMINATED:
            return
        self.state = TxState.TERMINATED
        for handle in self._handles:
            handle.cancel()
        self._handles.clear()
        self._on_terminated(self)


class InviteServerTransaction(ServerTransaction):
    """RFC 3261 §17.2.1 with RFC 6026 §7.1."""

    def __init__(
        self,
        request: Request,
        *,
        reliable: bool,
        timers: TimerQueue,
        values: TimerValues,
        send: SendFn,
        on_terminated: Callable[[ServerTransaction], None],
        on_ack_timeout: Callable[[float], None],
        on_linger: LingerFn | None = None,
    ) -> None:
        super().__init__(
            request,
            reliable=reliable,
            timers=timers,
            values=values,
            send=send,
            on_terminated=on_terminated,
            on_linger=on_linger,
        )
        self._on_ack_timeout = on_ack_timeout
        self._accepted_until = 0.0
        self._interval = 0.0
        self.acked = False  # the ACK for our 2xx arrived (we stay Accepted until timer L)

    def respond(self, response: Response, now: float) -> None:
        if self.state not in (TxState.PROCEEDING,):
            return  # a final response was already sent; later ones are dropped
        self.last_response = response
        self._send(response)
        if response.status < 200:
            return
        values = self._values
        self._interval = values.t1
        if response.status < 300:
            # 2xx: retransmit until ACK (§13.3.1.4), whatever the transport, since a
            # proxy on the way may use UDP; timer L bounds the Accepted state.
            self.state = TxState.ACCEPTED
            self._accepted_until = now + 64 * values.t1
            self._schedule(now + self._interval, self._retransmit_2xx)
        else:
            self.state = TxState.COMPLETED
            if not self.reliable:
                self._schedule(now + self._interval, self._timer_g)
        self._schedule(now + 64 * values.t1, self._timer_h_or_l)

    def retransmission(self, now: float) -> None:
        # RFC 6026 §7.1 absorbs INVITE retransmissions in Accepted; resending the
        # 2xx at once as well speeds recovery when our 2xx was the datagram lost.
        if not self.acked:
            super().retransmission(now)

    def ack_received(self, now: float) -> None:
        """ACK for a non-2xx final (same branch, §17.2.1) or for our 2xx (§13.3.1.4)."""
        if self.state is TxState.COMPLETED:
            self.state = TxState.CONFIRMED
            wait = 0.0 if self.reliable else self._values.t4  # timer I
            self._linger(now, now + wait, None)
        elif self.state is TxState.ACCEPTED and not self.acked:
            # RFC 6026 §7.1: stop retransmitting the 2xx but stay Accepted until timer
            # L, so a late INVITE retransmission is absorbed, not taken as a new call.
            self.acked = True
            self._linger(now, self._accepted_until, None)

    def _retransmit_2xx(self, now: float) -> None:
        if self.state is not TxState.ACCEPTED or self.acked or self.last_response is None:
            return
        self._send(self.last_response)
        self._interval = min(self._interval * 2, self._values.t2)
        self._schedule(now + self._interval, self._retransmit_2xx)

    def _timer_g(self, now: float) -> None:
        if self.state is not TxState.COMPLETED or self.last_response is None:
            return
        self._send(self.last_response)
        self._interval = min(self._interval * 2, self._values.t2)
        self._schedule(now + self._interval, self._timer_g)

    def _timer_h_or_l(self, now: float) -> None:
        # Timer H (non-2xx) or L (2xx): 64*T1 passed without an ACK.
        if self.state in (TxState.COMPLETED, TxState.ACCEPTED):
            acked = self.acked
            self._terminate(now)
            if not acked:
                self._on_ack_timeout(now)


class NonInviteServerTransaction(ServerTransaction):
    """RFC 3261 §17.2.2."""

    initial_state = TxState.TRYING

    def respond(self, response: Response, now: float) -> None:
        if self.state in (TxState.COMPLETED, TxState.TERMINATED):
            return
        self.last_response = response
        self._send(response)
        if response.status < 200:
            self.state = TxState.PROCEEDING
            return
        self.state = TxState.COMPLETED
        wait = 0.0 if self.reliable else 64 * self._values.t1  # timer J
        self._linger(now, now + wait, response)


class NonInviteClientTransaction:
    """RFC 3261 §17.1.2: our BYE and UPDATE requests."""

    def __init__(
        self,
        request: Request,
        *,
        reliable: bool,
        timers: TimerQueue,
        values: TimerValues,
        send: Callable[[Request], None],
        on_result: Callable[[int, Response | None, float], None],
        on_terminated: Callable[[NonInviteClientTransaction], None],
    ) -> None:
        self.request = request
        self.branch = request.top_via.branch or ""
        self.reliable = reliable
        self.state = TxState.TRYING
        self._timers = timers
        self._values = values
        self._send = send
        self._on_result = on_result
        self._on_terminated = on_terminated
        self._interval = values.t1
        self._handles: list[TimerHandle] = []

    def start(self, now: float) -> None:
        self._send(self.request)
        if not self.reliable:
            self._handles.append(self._timers.schedule(now + self._interval, self._timer_e))
        self._handles.append(self._timers.schedule(now + 64 * self._values.t1, self._timer_f))

    def response_received(self, response: Response, now: float) -> None:
        if self.state in (TxState.COMPLETED, TxState.TERMINATED):
            return  # retransmitted final response: absorbed (§17.1.2.2)
        if response.status < 200:
            self.state = TxState.PROCEEDING
            return
        self.state = TxState.COMPLETED
        for handle in self._handles:
            handle.cancel()
        self._handles.clear()
        self._on_result(response.status, response, now)
        wait = 0.0 if self.reliable else self._values.t4  # timer K
        self._handles.append(self._timers.schedule(now + wait, self._terminate))

    def _timer_e(self, now: float) -> None:
        if self.state not in (TxState.TRYING, TxState.PROCEEDING):
            return
        self._send(self.request)
        if self.state is TxState.PROCEEDING:
            self._interval = self._values.t2
        else:
            self._interval = min(self._interval * 2, self._values.t2)
        self._handles.append(self._timers.schedule(now + self._interval, self._timer_e))

    def _timer_f(self, now: float) -> None:
        if self.state in (TxState.TRYING, TxState.PROCEEDING):
            self._on_result(408, None, now)  # §17.1.2.2: timeout reported to the TU as 408
            self._terminate(now)

    def _terminate(self, now: float) -> None:
        del now
        if self.state is TxState.TERMINATED:
            return
        self.state = TxState.TERMINATED
        for handle in self._handles:
            handle.cancel()
        self._handles.clear()
        self._on_terminated(self)
