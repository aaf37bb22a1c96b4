"""The Session Recording Server user agent (RFC 7866 §6.1.2), sans-IO.

Driven by ``receive(data, peer, now)``, ``handle_timer(now)`` and API calls
(``accept``, ``reject``, ``terminate``, ``start_drain``); the adapter pulls
``messages_to_send()``, ``next_event()`` and ``get_timer()``. Nothing here reads
a clock, opens a socket or touches a file.
"""

from __future__ import annotations

import logging
import random
from collections import OrderedDict, deque
from dataclasses import replace

from siprec_appliance.errors import SdpError, SipProtocolError
from siprec_appliance.metadata.state import snapshot_request_body
from siprec_appliance.sdp.answer import new_origin, plan_streams
from siprec_appliance.sdp.crypto import KeySource
from siprec_appliance.sdp.model import SessionDescription
from siprec_appliance.sip.dialog import Dialog
from siprec_appliance.sip.message import (
    Request,
    Response,
)
from siprec_appliance.sip.multipart import BodyPart, split_body
from siprec_appliance.sip.timers import ExpiringMap
from siprec_appliance.sip.transaction import (
    InviteServerTransaction,
    ServerTransaction,
    TxState,
    server_key,
)
from siprec_appliance.sip.transport import Peer
from siprec_appliance.siprec import media, metadata_flow
from siprec_appliance.siprec.detect import (
    METADATA_REQUEST_TYPE,
    METADATA_TYPES,
    detect,
    metadata_parts,
)
from siprec_appliance.siprec.events import (
    Event,
    MetadataReceived,
    SessionAnswered,
    SessionEnded,
    SessionEstablished,
    SessionOffered,
    StreamsChanged,
)
from siprec_appliance.siprec.model import SessionSnapshot
from siprec_appliance.siprec.ports import PortAllocator
from siprec_appliance.siprec.session import RecordingSession, SessionState
from siprec_appliance.siprec.session_timer import IntervalTooSmall, TimerAgreement, negotiate
from siprec_appliance.siprec.settings import SrsSettings
from siprec_appliance.siprec.ua import ALLOW, UserAgentCore

log = logging.getLogger("siprec.sip")

ACCEPT = "application/sdp, application/rs-metadata+xml, application/rs-metadata, multipart/mixed"
SUPPORTED = "siprec, timer"
BODY_TYPES = frozenset({"application/sdp", "multipart/mixed", "multipart/related", *METADATA_TYPES})

DialogKey = tuple[str, str, str]
SNAPSHOT_REQUEST_INTERVAL = (
    30.0  # seconds between two snapshot requests on one session  # Call-ID, local tag, remote tag
)


class SrsCore(UserAgentCore):
    """All recording sessions of one appliance, and the SIP transactions behind them."""

    def __init__(
        self,
        settings: SrsSettings,
        ports: PortAllocator,
        *,
        rng: random.Random | None = None,
        key_source: KeySource | None = None,
    ) -> None:
        super().__init__(settings, rng=rng)
        self.ports = ports
        # SRTP master keys of our answers (RFC 4568): never from ``rng``, which tests
        # seed. The appliance passes os.urandom; the default is the same CSPRNG.
        self.key_source: KeySource = key_source or random.SystemRandom().randbytes
        self.draining = False
        # Set by the appliance while it cannot record (disk space critical):
        # (reason phrase, Retry-After seconds) for a 503 to new sessions.
        self.refusal: tuple[str, int] | None = None
        self._events: deque[Event] = deque()
        self._dialogs: dict[DialogKey, RecordingSession] = {}
        self.sessions: dict[str, RecordingSession] = {}
        # Ended sessions: a snapshot for the API (core clock), and the dialog key a
        # while, so a retransmitted or crossing BYE still gets its 200.
        self._ended: OrderedDict[str, SessionSnapshot] = OrderedDict()
        self._gone: ExpiringMap[DialogKey, bool] = ExpiringMap()
        self._handlers = {
            "INVITE": self._on_invite,
            "BYE": self._on_bye,
            "OPTIONS": self._on_options,
            "INFO": self._on_info,
            "UPDATE": self._on_update,
            "CANCEL": self._on_cancel,
        }

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    # ------------------------------------------------------------------ queries
    def active_count(self) -> int:
        """Sessions not yet ended (``_end`` moves ended ones out of ``sessions``)."""
        return len(self.sessions)

    def snapshot(self, session_id: str, clock_offset: float = 0.0) -> SessionSnapshot | None:
        """The API view of an active or recently ended session; times + ``clock_offset``."""
        session = self.sessions.get(session_id)
        if session is not None:
            return session.snapshot(clock_offset)
        ended = self._ended.get(session_id)
        if ended is None:
            return None
        end = None if ended.ended_at is None else ended.ended_at + clock_offset
        return replace(ended, started_at=ended.started_at + clock_offset, ended_at=end)

    def note_media_activity(
        self, session_id: str, now: float, packets: dict[int, int] | None = None
    ) -> None:
        """The adapter saw RTP for this session (called in batches, not per packet).

        ``packets`` maps an RTP port to its packet count so far.
        """
        session = self.sessions.get(session_id)
        if session is None:
            return
        session.last_media = now
        for stream in session.streams:
            if packets and stream.port in packets:
                stream.packets = packets[stream.port]

    # --------------------------------------------------------------- dialogs
    def _dialog_session(self, request: Request) -> RecordingSession | None:
        key = (request.call_id, request.to_tag or "", request.from_tag or "")
        return self._dialogs.get(key)

    def _in_dialog(
        self, request: Request, peer: Peer, tx: ServerTransaction, now: float
    ) -> RecordingSession | None:
        """The session of an in-dialog request, or None after answering 481/500."""
        session = self._dialog_session(request)
        if session is None:
            key = (request.call_id, request.to_tag or "", request.from_tag or "")
            if request.method == "BYE" and self._gone.get(key, now) is not None:
                self._respond(tx, peer, 200, now=now)  # BYE for a session we just ended
                return None
            self._respond(tx, peer, 481, now=now)
            return None
        number = request.cseq[0]
        if number <= session.dialog.remote_cseq and request.method != "CANCEL":
            # RFC 3261 §12.2.2: a lower CSeq than the last one is out of order.
            self._respond(tx, peer, 500, "CSeq out of order", now=now, session=session)
            return None
        session.dialog.remote_cseq = number
        return session

    # ---------------------------------------------------------------- methods
    def _on_options(self, request: Request, peer: Peer, tx: ServerTransaction, now: float) -> None:
        session = self._dialog_session(request) if request.to_tag else None
        if self.draining and session is None:
            extra = [("Retry-After", str(self.settings.retry_after))]
            self._respond(tx, peer, 503, "Draining for shutdown", extra=extra, now=now)
            return
        extra = [("Allow", ALLOW), ("Accept", ACCEPT), ("Supported", SUPPORTED)]
        self._respond(tx, peer, 200, extra=extra, now=now, session=session)

    def _on_info(self, request: Request, peer: Peer, tx: ServerTransaction, now: float) -> None:
        session = self._in_dialog(request, peer, tx, now)
        if session is not None:
            self._respond(tx, peer, 200, now=now, session=session)

    def _on_bye(self, request: Request, peer: Peer, tx: ServerTransaction, now: float) -> None:
        session = self._in_dialog(request, peer, tx, now)
        if session is None:
            return
        self._respond(tx, peer, 200, now=now, session=session)
        if session.invite_tx is not None and not session.invite_tx.final_sent:
            self._respond(session.invite_tx, session.peer, 487, now=now, session=session)
        self._end(session, "BYE from the SRC", now)

    def _on_cancel(self, request: Request, peer: Peer, tx: ServerTransaction, now: float) -> None:
        """RFC 3261 §9.2: 200 to the CANCEL, then 487 to the INVITE if still pending."""
        key = server_key(request)
        invite_tx = self._server_tx.get((*key[:-1], "INVITE"))
        if not isinstance(invite_tx, InviteServerTransaction):
            self._respond(tx, peer, 481, now=now)
            return
        session = self._dialog_session_for_invite(invite_tx.request)
        self._respond(tx, peer, 200, now=now, session=session)
        if invite_tx.final_sent:
            return
        self._respond(invite_tx, peer, 487, now=now, session=session)
        if session is not None:
            self._end(session, "cancelled by the SRC", now)

    def _dialog_session_for_invite(self, invite: Request) -> RecordingSession | None:
        for session in self.sessions.values():
            if session.invite_tx is not None and session.invite_tx.request is invite:
                return session
        return None

    def _on_ack(self, request: Request, now: float) -> None:
        tx = self._server_tx.get(server_key(request))
        if isinstance(tx, InviteServerTransaction) and tx.state is TxState.COMPLETED:
            tx.ack_received(now)  # ACK for a non-2xx final: same transaction (§17.2.1)
            return
        session = self._dialog_session(request)
        if session is None or session.invite_tx is None:
            self.stats["stray_ack"] += 1
            return
        if request.cseq[0] != session.invite_cseq:
            self.stats["stray_ack"] += 1
            return
        session.invite_tx.ack_received(now)
        session.invite_tx = None
        if session.offer_in_200:
            session.offer_in_200 = False
            media.apply_ack_answer(self, session, request, now)
        if session.state is SessionState.ANSWERED:
            session.state = SessionState.ACTIVE
            self._events.append(SessionEstablished(session.id))

    def _ack_timeout(self, tx: InviteServerTransaction, now: float) -> None:
        """Timer H/L fired: no ACK. §13.3.1.4: a 2xx never ACKed ends the session."""
        for session in list(self.sessions.values()):
            if session.invite_tx is tx:
                session.invite_tx = None
                if tx.last_response is not None and tx.last_response.status < 300:
                    log.warning("session %s: no ACK for 200 OK, sending BYE", session.id)
                    self.terminate(session.id, now, "no ACK received for 200 OK")

    # ---------------------------------------------------------------- INVITE
    def _on_invite(self, request: Request, peer: Peer, tx: ServerTransaction, now: float) -> None:
        assert isinstance(tx, InviteServerTransaction)
        if request.to_tag:
            self._on_reinvite(request, peer, tx, now)
            return
        refusal = self._admission(request)
        if refusal is not None:
            status, reason, extra = refusal
            log.warning("refused INVITE %s from %s: %d %s", request.call_id, peer, status, reason)
            self._respond(tx, peer, status, reason, extra=extra, now=now)
            return
        try:
            parts, offer = self._offer_parts(request)
            agreement = self._negotiate_timer(request)
            parsed = self._parse_metadata(parts)
        except SipProtocolError as exc:
            log.warning("refused INVITE %s from %s: %s", request.call_id, peer, exc.reason)
            self._respond(tx, peer, exc.status, exc.reason, extra=_warning(exc), now=now)
            return
        if isinstance(agreement, IntervalTooSmall):
            extra = [("Min-SE", str(agreement.min_se))]
            self._respond(tx, peer, 422, extra=extra, now=now)
            return
        self._create_session(
            request, peer, tx, parts, offer, parsed=parsed, agreement=agreement, now=now
        )

    def _parse_metadata(self, parts: list[BodyPart]) -> metadata_flow.ParsedMetadata:
        """Parse metadata parts; 400 instead of a warning only when configured so."""
        parsed = metadata_flow.parse_parts(parts)
        if parsed.errors and self.settings.reject_unparsable_metadata:
            raise SipProtocolError(f"Unusable recording metadata: {parsed.errors[0]}", 400)
        return parsed

    def _admission(self, request: Request) -> tuple[int, str, list[tuple[str, str]]] | None:
        retry = [("Retry-After", str(self.settings.retry_after))]
        if self.draining:
            return 503, "Draining for shutdown", retry
        if self.active_count() >= self.settings.max_sessions:
            return 503, "Concurrent session limit reached", retry
        if self.refusal is not None:  # RFC 3261 §21.5.4: temporarily unable
            return 503, self.refusal[0], [("Retry-After", str(self.refusal[1]))]
        ctype = request.content_type
        if request.body.strip() and ctype not in BODY_TYPES:
            return 415, f"Unsupported body type {ctype}", [("Accept", ACCEPT)]
        return None

    def _offer_parts(self, request: Request) -> tuple[list[BodyPart], SessionDescription]:
        parts = split_body(request.headers, request.body)
        signals = detect(request, parts)
        if not signals.is_siprec and self.settings.require_siprec:
            raise SipProtocolError("Not a SIPREC recording session (RFC 7866)", 421)
        offer = media.sdp_offer(parts)
        if offer is None:
            raise SipProtocolError("INVITE without an SDP offer", 488)
        return parts, offer

    def _negotiate_timer(self, request: Request) -> TimerAgreement | IntervalTooSmall | None:
        allow = request.headers.get_list("Allow")
        peer_allows_update = not allow or any(m.upper() == "UPDATE" for m in allow)
        return negotiate(request.headers, self.settings.min_se, peer_allows_update)

    def _create_session(
        self,
        request: Request,
        peer: Peer,
        tx: InviteServerTransaction,
        parts: list[BodyPart],
        offer: SessionDescription,
        *,
        parsed: metadata_flow.ParsedMetadata,
        agreement: TimerAgreement | None,
        now: float,
    ) -> None:
        plans = plan_streams(offer)
        if not any(plan.accepted for plan in plans):
            reasons = "; ".join(sorted({p.refuse_reason or "" for p in plans}))
            log.warning("refused INVITE %s from %s: %s", request.call_id, peer, reasons)
            warning = [("Warning", f'305 {peer.local_host} "No recordable audio: {reasons}"')]
            self._respond(tx, peer, 488, extra=warning, now=now)
            return
        session_id = self._new_id()
        address = self.settings.media_address or self.settings.sip_address or peer.local_host
        session = RecordingSession(
            id=session_id,
            dialog=Dialog.from_invite(request, self._new_tag(), _source_uri(peer)),
            peer=peer,
            invite=request,
            is_siprec=detect(request, parts).is_siprec,
            created_at=now,
            origin=new_origin(str(self._rng.randrange(10**9, 10**10)), address),
            media_address=address,
            pending_offer=offer,
            pending_plans=plans,
            invite_tx=tx,
            invite_cseq=request.cseq[0],
            timer=agreement,
        )
        if not session.is_siprec:
            session.warnings.append("INVITE carries no SIPREC indication; recorded anyway")
            log.warning("recording non-SIPREC INVITE %s from %s", request.call_id, peer)
        self.sessions[session_id] = session
        self._dialogs[self._key(session)] = session
        self._respond(tx, peer, 100, now=now)
        session.invite_parts, session.last_offer = parts, offer
        metadata_flow.ingest(session, parsed, method="INVITE", now=now)
        self._refresh_facts(session)
        self._publish_metadata(session, parts, "INVITE")
        self._events.append(SessionOffered(session_id))

    def accept(self, session_id: str, now: float) -> bool:
        """Answer an offered session with 200 OK; False if it is gone or no port is free."""
        session = self.sessions.get(session_id)
        if session is None or session.state is not SessionState.OFFERED:
            return False
        tx, offer = session.invite_tx, session.pending_offer
        assert tx is not None and offer is not None
        streams = media.allocate_streams(self, session, session.pending_plans, [], now)
        if streams is None:
            log.warning("session %s: no free RTP port, answering 503", session.id)
            self.reject(session_id, 503, "No free RTP port", now)
            return False
        session.streams = streams
        body = media.answer_body(session, offer)
        session.state = SessionState.ANSWERED
        session.pending_offer, session.pending_plans = None, []
        self._respond(
            tx,
            session.peer,
            200,
            now=now,
            session=session,
            extra=self._ok_headers(session),
            body=body,
            content_type="application/sdp",
        )
        self._start_session_timer(session, now)
        self._events.append(SessionAnswered(session.id))
        return True

    def reject(self, session_id: str, status: int, reason: str, now: float) -> bool:
        session = self.sessions.get(session_id)
        if session is None or session.state is not SessionState.OFFERED:
            return False
        assert session.invite_tx is not None
        extra = [("Retry-After", str(self.settings.retry_after))] if status == 503 else []
        self._respond(session.invite_tx, session.peer, status, reason, extra=extra, now=now)
        self._end(session, f"rejected: {status} {reason}", now)
        return True

    def _ok_headers(self, session: RecordingSession) -> list[tuple[str, str]]:
        """Contact with +sip.srs and Supported: siprec (RFC 7866 §6.1.2)."""
        peer = session.peer
        host = self.settings.sip_address or peer.local_host
        host = f"[{host}]" if ":" in host else host
        transport = "" if peer.transport == "UDP" else f";transport={peer.transport.lower()}"
        contact = f"<sip:srs@{host}:{peer.local_port}{transport}>;+sip.srs"
        headers = [
            ("Contact", contact),
            ("Allow", ALLOW),
            ("Supported", SUPPORTED),
        ]
        if session.timer is not None:
            headers.extend(session.timer.response_headers())
        return headers

    # -------------------------------------------------------- re-INVITE, UPDATE
    def _on_reinvite(
        self, request: Request, peer: Peer, tx: InviteServerTransaction, now: float
    ) -> None:
        session = self._in_dialog(request, peer, tx, now)
        if session is None:
            return
        if session.invite_tx is not None or session.state is SessionState.OFFERED:
            # RFC 3261 §14.2: an INVITE is still in progress on this dialog.
            retry = [("Retry-After", str(self._rng.randint(0, 10)))]
            self._respond(tx, peer, 500, "Previous INVITE pending", extra=retry, now=now)
            return
        self._modify_session(request, peer, tx, session, now)

    def _on_update(self, request: Request, peer: Peer, tx: ServerTransaction, now: float) -> None:
        session = self._in_dialog(request, peer, tx, now)
        if session is None:
            return
        if session.offer_in_200 and request.body.strip():
            # RFC 3311 §5.2: an offer of ours is still waiting for its answer.
            self._respond(tx, peer, 491, now=now, session=session)
            return
        self._modify_session(request, peer, tx, session, now)

    def _modify_session(
        self,
        request: Request,
        peer: Peer,
        tx: ServerTransaction,
        session: RecordingSession,
        now: float,
    ) -> None:
        """re-INVITE or UPDATE: SDP, metadata, both or nothing (RFC 7866 §7.1.2, §9)."""
        try:
            parts = split_body(request.headers, request.body)
            offer = media.sdp_offer(parts)
            agreement = self._negotiate_timer(request)
            parsed = self._parse_metadata(parts)
        except SipProtocolError as exc:
            # RFC 3261 §14.2: a refused re-INVITE leaves the session as it was.
            self._respond(tx, peer, exc.status, exc.reason, now=now, session=session)
            return
        if isinstance(agreement, IntervalTooSmall):
            extra = [("Min-SE", str(agreement.min_se))]
            self._respond(tx, peer, 422, extra=extra, now=now, session=session)
            return
        body = b""
        if offer is not None:
            result = media.apply_offer(self, session, offer, now)
            if isinstance(result, str):
                extra = [("Warning", f'305 {peer.local_host} "{result}"')]
                self._respond(tx, peer, 488, extra=extra, now=now, session=session)
                return
            body = result
        elif request.method == "INVITE":
            body = media.offer_body(session)  # §14.2: offerless re-INVITE, we offer
            session.offer_in_200 = True
        session.dialog.refresh_target(request)
        session.timer = agreement
        session.last_offer = offer or session.last_offer
        metadata_flow.ingest(session, parsed, method=request.method, now=now)
        self._refresh_facts(session)
        self._publish_metadata(session, parts, request.method)
        self._request_snapshot_if_needed(session, now)
        if isinstance(tx, InviteServerTransaction):
            session.invite_tx = tx
            session.invite_cseq = request.cseq[0]
        self._respond(
            tx,
            peer,
            200,
            now=now,
            session=session,
            extra=self._ok_headers(session),
            body=body,
            content_type="application/sdp" if body else None,
        )
        self._start_session_timer(session, now)

    def _refresh_facts(self, session: RecordingSession) -> None:
        labels = [s.plan.label for s in session.streams] or [p.label for p in session.pending_plans]
        metadata_flow.refresh_facts(
            session,
            headers=session.invite.headers,
            sdp=session.last_offer,
            parts=session.invite_parts,
            labels=labels,
        )

    def _request_snapshot_if_needed(self, session: RecordingSession, now: float) -> None:
        """RFC 7866 §9.3: ask for a full snapshot when the stored one is inconsistent."""
        problems = session.metadata.problems()
        if not problems or not self.settings.request_metadata_snapshots:
            return
        last = session.snapshot_requested_at
        if last is not None and now - last < SNAPSHOT_REQUEST_INTERVAL:
            return
        session.snapshot_requested_at = now
        log.info("session %s: requesting a metadata snapshot: %s", session.id, problems[0])
        self._send_in_dialog(
            session,
            "UPDATE",
            now,
            extra=[("Content-Disposition", "recording-session")],  # RFC 7866 §9.3
            body=snapshot_request_body(problems[0]),
            content_type=METADATA_REQUEST_TYPE,
        )

    def _publish_metadata(
        self, session: RecordingSession, parts: list[BodyPart], method: str
    ) -> None:
        found = metadata_parts(parts)
        if found:
            session.metadata_parts += len(found)
            self._events.append(MetadataReceived(session.id, tuple(found), method))

    def streams_changed(
        self, session: RecordingSession, paused: list[int], resumed: list[int]
    ) -> None:
        self._events.append(StreamsChanged(session.id, tuple(paused), tuple(resumed)))

    # ---------------------------------------------------------- session timer
    def _start_session_timer(self, session: RecordingSession, now: float) -> None:
        """RFC 4028: (re)arm on every successful INVITE/UPDATE."""
        if session.timer_handle is not None:
            session.timer_handle.cancel()
            session.timer_handle = None
        session.last_refresh = now
        agreement = session.timer
        if agreement is None:
            return
        if agreement.refresher == "uas":
            when = agreement.refresh_after(now)
            session.timer_handle = self._timers.schedule(
                when, lambda t: self._send_refresh(session, t)
            )
        else:
            when = agreement.expiry_after(now)
            session.timer_handle = self._timers.schedule(
                when, lambda t: self._session_expired(session, t)
            )

    def _session_expired(self, session: RecordingSession, now: float) -> None:
        if session.ended:
            return
        timeout = self.settings.rtp_timeout
        if session.last_media is not None and now - session.last_media < timeout:
            # Never tear down a call whose RTP flows just because SIP went quiet.
            log.warning("session %s: session timer expired but RTP flows; keeping it", session.id)
            session.timer_handle = self._timers.schedule(
                now + timeout, lambda t: self._session_expired(session, t)
            )
            return
        log.warning("session %s: session timer expired with no RTP; sending BYE", session.id)
        self.terminate(session.id, now, "session timer expired (RFC 4028)")

    def _send_refresh(self, session: RecordingSession, now: float) -> None:
        """We are the refresher: UPDATE without a body (RFC 4028 §7.4, RFC 3311)."""
        if session.ended or session.timer is None:
            return
        interval = session.timer.interval
        extra = [
            ("Session-Expires", f"{interval};refresher=uas"),
            ("Supported", SUPPORTED),
        ]

        def result(status: int, response: Response | None, t: float) -> None:
            del response
            if 200 <= status < 300:
                self._start_session_timer(session, t)
            else:
                self._session_expired(session, t)

        self._send_in_dialog(session, "UPDATE", now, extra=extra, on_result=result)

    # ------------------------------------------------------- ending sessions
    def terminate(self, session_id: str, now: float, reason: str = "terminated") -> bool:
        """End a session from our side: BYE once it is answered, else a final response."""
        session = self.sessions.get(session_id)
        if session is None or session.ended:
            return False
        if session.state is SessionState.OFFERED:
            return self.reject(session_id, 503, "Service Unavailable", now)
        self._send_in_dialog(
            session, "BYE", now, extra=[("Reason", f'SIP;cause=200;text="{reason}"')]
        )
        self._end(session, reason, now)
        return True

    def start_drain(self, now: float) -> None:
        """Stop taking new sessions (OPTIONS and INVITE get 503 with Retry-After)."""
        del now
        self.draining = True

    def terminate_all(self, now: float, reason: str = "appliance shutting down") -> int:
        ids = [s.id for s in self.sessions.values() if not s.ended]
        return sum(1 for sid in ids if self.terminate(sid, now, reason))

    def _end(self, session: RecordingSession, reason: str, now: float) -> None:
        """Free everything the session holds; keep it visible for the API a while."""
        if session.state is SessionState.TERMINATED:
            return
        session.state = SessionState.TERMINATED
        session.ended_at = now
        session.end_reason = reason
        if session.timer_handle is not None:
            session.timer_handle.cancel()
        for port in session.ports():
            self.ports.release(port, now)
        self.sessions.pop(session.id, None)
        self._ended[session.id] = session.snapshot()
        while len(self._ended) > self.settings.ended_history:
            self._ended.popitem(last=False)
        key = self._key(session)
        self._dialogs.pop(key, None)
        self._gone.expire(now)
        self._gone.put(key, True, now + 64 * self.settings.timers.t1)
        log.info("session %s ended: %s", session.id, reason)
        self._events.append(SessionEnded(session.id, reason))

    # ------------------------------------------------------------------ ids
    @staticmethod
    def _key(session: RecordingSession) -> DialogKey:
        d = session.dialog
        return (d.call_id, d.local_tag, d.remote_tag)


def _source_uri(peer: Peer) -> str:
    """A URI for where the INVITE came from, used when its Contact is unusable."""
    host = f"[{peer.host}]" if ":" in peer.host else peer.host
    transport = "" if peer.transport == "UDP" else f";transport={peer.transport.lower()}"
    return f"sip:{host}:{peer.port}{transport}"


def _warning(exc: SipProtocolError) -> list[tuple[str, str]]:
    if exc.status == 421:
        return [("Require", "siprec")]
    if exc.status == 488:
        return [("Warning", f'399 - "{exc.reason}"')]
    return []


__all__ = ["SdpError", "SrsCore"]
