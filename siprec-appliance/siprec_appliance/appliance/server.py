"""The running appliance: wires the SIPREC core to sockets, the clock and the API.

All protocol decisions live in ``SrsCore``; this module feeds it bytes and time,
sends what it produces, re-arms one timer, and answers the REST API.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from siprec_appliance import alerts as alert_events
from siprec_appliance.alerts import AlertService, DiskGuard
from siprec_appliance.appliance.api import ApiServer, create_app, start_api
from siprec_appliance.appliance.auth import resolve_api_token
from siprec_appliance.appliance.catalog import AudioFile, Catalog, RecordingPage, RecordingQuery
from siprec_appliance.appliance.control import PauseOutcome
from siprec_appliance.appliance.media import BoundPortAllocator
from siprec_appliance.appliance.mediaplane import LocalMedia, MediaPlane
from siprec_appliance.appliance.recording import recover_unfinished, session_directory
from siprec_appliance.appliance.rules_service import ReloadResult, RulesService
from siprec_appliance.appliance.transport import (
    SourceFilter,
    Transports,
    client_tls_context,
    server_tls_context,
)
from siprec_appliance.appliance.workers import (
    WorkerMedia,
    WorkerPool,
    WorkerPortAllocator,
    worker_count,
)
from siprec_appliance.config import Config
from siprec_appliance.errors import SipProtocolError
from siprec_appliance.policy import Decision
from siprec_appliance.resources import share_path
from siprec_appliance.sip.dialog import build_response, response_target
from siprec_appliance.sip.message import Request, can_answer, parse_message
from siprec_appliance.sip.transaction import TimerValues
from siprec_appliance.sip.transport import Outgoing, Peer
from siprec_appliance.siprec.events import (
    Event,
    MetadataReceived,
    SessionAnswered,
    SessionEnded,
    SessionOffered,
    StreamsChanged,
)
from siprec_appliance.siprec.model import SessionSnapshot
from siprec_appliance.siprec.ports import PortPool
from siprec_appliance.siprec.session import RecordingSession
from siprec_appliance.siprec.settings import SrsSettings
from siprec_appliance.siprec.srs import SrsCore
from siprec_appliance.version import __version__

log = logging.getLogger("siprec.appliance")

MEDIA_SWEEP_SECONDS = 1.0
SRTP_FAILURE_ALERT = 50  # SRTP authentication failures in a stream worth an alert
CAPACITY_ALERT = 0.9  # share of max_sessions or of the RTP socket budget
OVERLOAD_LAG_MS = 500  # media tick this late on every worker: refuse new sessions
TLS_CHECK_SECONDS = 86400.0
TLS_WARNING_DAYS = 30.0
RETENTION_SWEEP_SECONDS = 3600.0  # how often expired recordings (rules' retain) go


def srs_settings(config: Config) -> SrsSettings:
    sip, media = config.sip, config.media
    return SrsSettings(
        user_agent=sip.user_agent,
        require_siprec=sip.require_siprec,
        max_sessions=sip.max_sessions,
        min_se=sip.min_se,
        retry_after=sip.retry_after,
        timers=TimerValues(sip.timers.t1, sip.timers.t2, sip.timers.t4),
        sip_address=sip.advertised_address,
        media_address=media.advertised_address,
        rtp_timeout=media.rtp_timeout,
        reject_unparsable_metadata=config.metadata.reject_unparsable,
        request_metadata_snapshots=config.metadata.request_snapshots,
    )


@dataclass(slots=True)
class _RtpWatch:
    """One stream's RTP count at the last sweep and since when it has not changed."""

    packets: int
    since: float  # loop time
    timed_out: bool = False  # noted as an RTP timeout, not resumed since


class Appliance:
    """One SRS node: SIP transports, RTP ports, the core and the REST API."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._started_at = time.time()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._sources = SourceFilter(config.sip.allowed_sources)
        self._activity: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._paused: set[str] = set()  # sessions paused by the operator (API)
        self._rtp_watch: dict[tuple[str, int], _RtpWatch] = {}
        self._closing: set[asyncio.Task[None]] = set()  # catalog indexing in progress
        self.core: SrsCore
        self.allocator: BoundPortAllocator
        self.media: MediaPlane
        self.workers: WorkerPool | None = None
        self.rules: RulesService
        self.alerts: AlertService
        self.disk: DiskGuard
        self._decisions: dict[str, Decision] = {}  # policy decision per live session
        self._late_sweeps = 0  # sweeps in a row with every media loop late
        self.transports: Transports
        self.api: ApiServer | None = None
        self.token_file: Path | None = None
        self.catalog: Catalog | None = None

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        config = self.config
        data_dir = config.storage.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        recovered = recover_unfinished(data_dir, config.recording)
        if recovered:
            log.warning("recovered %d unfinished recordings after a crash", len(recovered))
        self.catalog = await Catalog.open(data_dir)
        await self._start_policy(loop)
        # Index in the background what the catalog lacks or has as still "recording",
        # recordings just marked interrupted by the recovery first. The plan is made
        # now, before any new call can start (its "recording" is not stale).
        found = {wav.parent for wav in recovered}
        plan = [(directory, True) for directory in sorted(found)]
        plan += [item for item in await self.catalog.rebuild_plan() if item[0] not in found]
        self._tasks.append(loop.create_task(self.catalog.index_all(plan)))
        pool = PortPool(
            config.media.rtp_port_min, config.media.rtp_port_max, config.media.port_cooldown
        )
        await self._start_media(loop, pool)
        # SRTP master keys of our SDP answers (RFC 4568) come from the OS CSPRNG.
        self.core = SrsCore(srs_settings(config), self.allocator, key_source=os.urandom)
        self.transports = self._make_transports()
        await self.transports.start()
        log.info(
            "SIP on %s port %d (UDP, TCP)%s; RTP ports %d-%d",
            config.sip.host,
            self.transports.port,
            f", TLS port {self.transports.tls_port}" if config.sip.tls_enabled else "",
            config.media.rtp_port_min,
            config.media.rtp_port_max,
        )
        token, self.token_file = resolve_api_token(config.http.api_token, data_dir)
        if self.token_file is not None:
            log.info("API token is in %s", self.token_file)
        app = create_app(self, token=token, version=__version__, name=f"siprec_api_{id(self)}")
        self.api = await start_api(app, config.http.host, config.http.port)
        self._tasks.append(loop.create_task(self._media_sweep()))
        self._tasks.append(loop.create_task(self._retention()))
        if config.sip.tls_enabled:
            self._tasks.append(loop.create_task(self._watch_certificate()))

    async def _start_policy(self, loop: asyncio.AbstractEventLoop) -> None:
        """Alerts (outbox), the disk guard, and the rules with their file watcher."""
        config = self.config
        data_dir = config.storage.data_dir
        self.alerts = AlertService(config.alerts, data_dir)
        await self.alerts.start()
        self.disk = DiskGuard(config.disk, data_dir, emit=self.alerts.emit)
        self._tasks.append(loop.create_task(self.disk.run()))
        self.rules = RulesService(
            config.rules.dir,
            share_path("schemas", "rules.schema.json"),
            channels=frozenset(channel.name for channel in config.alerts.channels),
            default_record=config.rules.default_record,
            on_reload=self._rules_reloaded,
        )
        await self.rules.start()

    def _rules_reloaded(self, result: ReloadResult) -> None:
        """Every reload (file change, API, SIGHUP) is logged and raised as an event."""
        source = str(self.config.rules.dir)
        if result.ok:
            log.info("rules %s loaded (%d rules)", result.version, len(self.rules.current.rules))
            self.alerts.emit(
                alert_events.RulesReloaded(source=source, rules=len(self.rules.current.rules))
            )
            return
        errors = "; ".join(str(problem) for problem in result.errors[:5])
        log.error("rules not reloaded, the last good set stays: %s", errors)
        self.alerts.emit(alert_events.RulesReloadFailed(source=source, error=errors))

    async def _start_media(self, loop: asyncio.AbstractEventLoop, pool: PortPool) -> None:
        """Media workers (``media.workers``), or the media plane in this process."""
        config = self.config
        count = worker_count(config.media.workers)
        if count:
            self.workers = WorkerPool(
                loop,
                count,
                config.recording,
                self._written,
                log_level=config.logging.level,
                on_died=self._worker_died,
            )
            self.allocator = WorkerPortAllocator(loop, config.sip.host, pool, self.workers)
            self.media = WorkerMedia(self.workers)
            await self.workers.wait_ready()
            return
        self.allocator = BoundPortAllocator(loop, config.sip.host, pool)
        local = LocalMedia(loop, self.allocator.local, config.recording, self._written)
        local.start_tick()
        self.media = local

    def _make_transports(self) -> Transports:
        sip = self.config.sip
        server_tls = client_tls = None
        if sip.tls_enabled:
            tls = sip.tls
            assert tls.certificate is not None and tls.private_key is not None
            ca = str(tls.ca_certificates) if tls.ca_certificates else None
            server_tls = server_tls_context(
                str(tls.certificate), str(tls.private_key), ca, tls.verify_client
            )
            client_tls = client_tls_context(ca)
        return Transports(
            self._deliver,
            host=sip.host,
            port=sip.port,
            tls_port=sip.tls_port if sip.tls_enabled else None,
            server_tls=server_tls,
            client_tls=client_tls,
        )

    async def shutdown(self) -> None:
        """SIGTERM: refuse new sessions, let calls finish for the grace time, then BYE."""
        self.core.start_drain(self._now())
        log.info("draining: %d active sessions", self.core.active_count())
        deadline = self._now() + self.config.sip.shutdown_grace
        while self.core.active_count() and self._now() < deadline:
            await asyncio.sleep(0.1)
        ended = self.core.terminate_all(self._now())
        self._pump()
        if ended:
            log.info("sent BYE to %d sessions at the end of the grace time", ended)
            await self._wait_for_byes(deadline=self._now() + 4 * self.config.sip.timers.t1)
        await self.close()

    async def _wait_for_byes(self, deadline: float) -> None:
        """Give our BYEs a moment to be answered (retransmitted over UDP meanwhile)."""
        while self.core.pending_requests() and self._now() < deadline:
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        for session in list(self.core.sessions.values()):
            self._finish_recording(session.id, "appliance stopped")
        await self.media.close()
        if self._closing:
            await asyncio.wait(self._closing)
        await self.rules.stop()
        await self.alerts.stop()
        for task in self._tasks:
            task.cancel()
        if self._timer is not None:
            self._timer.cancel()
        if self.api is not None:
            await self.api.close()
            self.api = None
        await self.transports.close()
        self.allocator.close_all(self._now())
        if self.catalog is not None:
            await self.catalog.close()

    # ------------------------------------------------------------- core pump
    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _deliver(self, data: bytes, peer: Peer, datagram: bool) -> None:
        if not self._sources.allows(peer.host):
            self._refuse_source(data, peer, datagram)
            return
        self.core.receive(data, peer, self._now(), datagram=datagram)
        self._pump()

    def _pump(self) -> None:
        core = self.core
        while (event := core.next_event()) is not None:
            self._on_event(event)
        for out in core.messages_to_send():
            self.transports.send(out)
        self._rearm()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, SessionOffered):
            # Decided before the 200 OK; every session is answered (a "no" from the
            # policy records no audio, so the SRC does not fail over to another SRS).
            self._decide(event.session_id)
            self.core.accept(event.session_id, self._now())
        elif isinstance(event, SessionAnswered):
            self._start_recording(event.session_id)
        elif isinstance(event, StreamsChanged):
            self._streams_changed(event)
        elif isinstance(event, MetadataReceived):
            if event.session_id in self._decisions:  # a mid-call update: decide again
                self._decide(event.session_id)
        elif isinstance(event, SessionEnded):
            self._activity.pop(event.session_id, None)
            self._paused.discard(event.session_id)
            for key in [k for k in self._rtp_watch if k[0] == event.session_id]:
                del self._rtp_watch[key]
            self._finish_recording(event.session_id, event.reason)
            self._decisions.pop(event.session_id, None)

    # ---------------------------------------------------------------- policy
    def _decide(self, session_id: str) -> None:
        """Evaluate the rules on the session's call facts (RFC 7865 metadata, SIP,
        SDP); a changed decision goes to the recording, new rule alerts are sent."""
        session = self.core.sessions.get(session_id)
        if session is None:
            return
        try:
            decision = self.rules.current.evaluate(session.facts, datetime.now(UTC))
        except Exception as exc:  # never lose a call over the policy: record it
            log.exception("session %s: the rules failed; recording it", session_id)
            self.alerts.emit(
                alert_events.ActionFailed(action="evaluate", error=str(exc), session_id=session_id)
            )
            return
        previous = self._decisions.get(session_id)
        self._decisions[session_id] = decision
        if previous is not None and _same_decision(previous, decision):
            return
        record = decision.record
        log.info(
            "session %s: %s by %s (rules %s)",
            session_id,
            "recorded" if record.on else "not recorded",
            "the default" if record.default else f"rule {record.rule}",
            ", ".join(decision.matched_rule_ids) or "none matched",
        )
        if previous is not None:
            self.media.set_decision(session_id, decision.to_dict())
        fired = {(a.rule, a.channel) for a in previous.alerts} if previous else set()
        for alert in decision.alerts:
            if (alert.rule, alert.channel) not in fired:
                self.alerts.emit(
                    alert_events.RuleAlert(
                        rule_id=alert.rule,
                        channel=alert.channel,
                        session_id=session_id,
                        call_facts=dict(session.facts),
                        template=alert.message,
                        severity=alert_events.Severity(alert.severity),
                    )
                )

    def _rearm(self) -> None:
        deadline = self.core.get_timer()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None and self._loop is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.core.handle_timer(self._now())
        self._pump()

    async def _media_sweep(self) -> None:
        """Tell the core which sessions received RTP, once a second, in one batch."""
        while True:
            await asyncio.sleep(MEDIA_SWEEP_SECONDS)
            self._set_refusal()
            self._watch_capacity()
            now = self._now()
            for session in list(self.core.sessions.values()):
                counts = {port: self.media.packets(port) for port in session.ports()}
                total = sum(counts.values())
                if total != self._activity.get(session.id, 0):
                    self._activity[session.id] = total
                    self.core.note_media_activity(session.id, now, counts)
                self._watch_rtp(session, now)
            self._pump()

    def _watch_rtp(self, session: RecordingSession, now: float) -> None:
        """Note (never end the session over it) a stream whose RTP stopped.

        A stream counts as quiet after ``media.rtp_timeout`` seconds without a packet
        while it should be sending: not on hold (``a=inactive``/``recvonly``), not
        paused by the operator. Only the SRC's BYE or the session timer end a call.
        """
        timeout = self.config.media.rtp_timeout
        if timeout <= 0 or not self.media.has(session.id):
            return
        paused = session.id in self._paused
        for stream in session.streams:
            if stream.port is None:
                continue
            index, packets = stream.plan.index, self.media.packets(stream.port)
            watch = self._rtp_watch.get((session.id, index))
            if watch is None or packets != watch.packets:
                if watch is not None and watch.timed_out:
                    self.media.rtp_resumed(session.id, index, time.time())
                    log.info("session %s stream %d: RTP resumed", session.id, index)
                self._rtp_watch[(session.id, index)] = _RtpWatch(packets, now)
            elif stream.paused or paused:
                watch.since = now  # a pause is not a timeout; count from its end
            elif not watch.timed_out and now - watch.since >= timeout:
                log.warning("session %s stream %d: no RTP for %g s", session.id, index, timeout)
                watch.timed_out = True
                self.media.rtp_timeout(session.id, index, time.time())
                self.alerts.emit(
                    alert_events.RtpTimeout(
                        session_id=session.id,
                        stream=str(index),
                        seconds=timeout,
                        call_id=session.dialog.call_id,
                    )
                )

    # ------------------------------------------------------------ recording
    def _start_recording(self, session_id: str) -> None:
        session = self.core.sessions.get(session_id)
        if session is None or self.media.has(session_id):
            return
        directory = session_directory(
            self.config.storage.data_dir, session_id, session.created_at + self._offset()
        )
        facts = session.facts
        self.alerts.emit(
            alert_events.SessionStarted(
                session_id=session_id,
                call_id=session.dialog.call_id,
                participants=_participant_names(facts),
                vendor=str(facts.get("vendor") or "") or None,
                source=str(facts.get("source.address") or "") or None,
            )
        )
        decision = self._decisions.get(session_id)
        self.media.start(
            session_id,
            directory,
            session.streams,
            self._snapshot(session_id),
            decision.to_dict() if decision is not None else None,
        )

    def _streams_changed(self, event: StreamsChanged) -> None:
        session = self.core.sessions.get(event.session_id)
        if session is None:
            return
        # During the operator's pause its span goes on: the SDP's pauses are not noted.
        pauses = None if event.session_id in self._paused else (event.paused, event.resumed)
        self.media.update(event.session_id, session.streams, pauses, time.time())

    def _finish_recording(self, session_id: str, reason: str) -> None:
        """The media plane drains, finalises the files, then the catalog indexes them."""
        recorded = self.media.has(session_id)
        snapshot = self._snapshot(session_id) if recorded else None
        self.media.finish(session_id, snapshot, reason)
        if snapshot is not None:
            ended = snapshot.get("ended_at") or time.time()
            self.alerts.emit(
                alert_events.SessionEnded(
                    session_id=session_id,
                    call_id=str(snapshot.get("call_id") or ""),
                    reason=reason,
                    duration=round(float(ended) - float(snapshot.get("started_at") or ended), 3),
                    participants=_participant_names(snapshot.get("facts") or {}),
                )
            )

    def _snapshot(self, session_id: str) -> dict[str, Any] | None:
        snapshot = self._with_pause(self.core.snapshot(session_id, self._offset()))
        return snapshot.to_dict() if snapshot is not None else None

    async def _retention(self) -> None:
        """Delete recordings whose ``retain`` days (a rule's action) have passed."""
        while True:
            await asyncio.sleep(min(60.0, RETENTION_SWEEP_SECONDS))
            await self.sweep_retention(time.time())
            await asyncio.sleep(RETENTION_SWEEP_SECONDS)

    async def sweep_retention(self, now: float) -> int:
        catalog = self._open_catalog()
        expired = await catalog.expired(now)
        for recording_id, directory, days in expired:
            try:
                await catalog.delete(recording_id, directory)
            except Exception as exc:
                log.error("retention: cannot delete recording %s: %s", recording_id, exc)
                continue
            log.info("retention: deleted recording %s (kept %g days)", recording_id, days)
        return len(expired)

    def _watch_capacity(self) -> None:
        """An event when sessions or RTP sockets reach 90 % of their limit (the
        alerting de-duplicates repeats)."""
        limits = [
            ("sessions", self.core.active_count(), self.config.sip.max_sessions),
            ("rtp_sockets", self.allocator.sockets, self.allocator.max_sockets),
        ]
        for resource, used, limit in limits:
            if limit > 0 and used >= CAPACITY_ALERT * limit:
                self.alerts.emit(
                    alert_events.CapacityNearLimit(resource=resource, used=used, limit=limit)
                )

    async def _watch_certificate(self) -> None:
        """Warn 30 days before the SIP TLS certificate expires, then daily."""
        path = self.config.sip.tls.certificate
        while path is not None:
            try:
                subject, not_after = await asyncio.to_thread(certificate_expiry, path)
            except (OSError, ValueError) as exc:
                log.error("cannot read the TLS certificate %s: %s", path, exc)
                return
            now = time.time()
            if not_after - now <= TLS_WARNING_DAYS * 86400:
                self.alerts.emit(
                    alert_events.TlsCertificateExpiring.for_certificate(
                        path=str(path), subject=subject, not_after=not_after, now=now
                    )
                )
            await asyncio.sleep(TLS_CHECK_SECONDS)

    def _set_refusal(self) -> None:
        """503 with Retry-After to new sessions while the disk is critical or the
        media plane cannot keep up (calls in progress come first: RFC 3261 §21.5.4)."""
        refusal = None
        if self.disk.refusing:
            refusal = ("Disk space critical", self.disk.retry_after)
        elif self._media_overloaded():
            refusal = ("Media capacity reached", self.config.sip.retry_after)
        if refusal is not None and self.core.refusal != refusal:
            log.error("%s: new sessions get 503", refusal[0].lower())
        elif refusal is None and self.core.refusal is not None:
            log.warning("taking new sessions again")
        self.core.refusal = refusal

    def _media_overloaded(self) -> bool:
        """Every media loop has run late for two reports in a row (the tick lag is
        where an overloaded recorder shows first: packets wait in the kernel)."""
        loads = self.media_load()
        lags = [float(w.get("tick_lag_ms", 0.0)) for w in loads.get("workers") or [loads]]
        late = bool(lags) and min(lags) >= OVERLOAD_LAG_MS
        self._late_sweeps = self._late_sweeps + 1 if late else 0
        if self._late_sweeps == 2:
            self.alerts.emit(
                alert_events.CapacityNearLimit(
                    resource="media_tick_lag_ms", used=int(min(lags)), limit=OVERLOAD_LAG_MS
                )
            )
        return self._late_sweeps >= 2

    def _written(self, directory: Path, summary: dict[str, Any]) -> None:
        """A session.json is on disk: index it; alert on what went wrong."""
        self._index(directory)
        session_id = str(summary.get("session_id") or directory.name)
        for error in summary.get("errors") or []:
            self.alerts.emit(alert_events.RecordingFailed(session_id=session_id, reason=str(error)))
        for stream, failures in (summary.get("srtp_auth_failures") or {}).items():
            if int(failures) >= SRTP_FAILURE_ALERT:
                self.alerts.emit(
                    alert_events.SrtpAuthFailures(
                        session_id=session_id,
                        stream=str(stream),
                        failures=int(failures),
                        threshold=SRTP_FAILURE_ALERT,
                    )
                )

    def _worker_died(self, index: int, sessions: list[str]) -> None:
        for session_id in sessions:
            self.alerts.emit(
                alert_events.RecordingFailed(
                    session_id=session_id, reason=f"media worker {index} died mid-call"
                )
            )

    def _index(self, directory: Path) -> None:
        """Index a recording directory in the catalog's thread (fire and forget)."""
        if self.catalog is not None and self._loop is not None:
            task = self._loop.create_task(self.catalog.index_logged(directory))
            self._closing.add(task)  # close() waits for it before closing the catalog
            task.add_done_callback(self._closing.discard)

    def _refuse_source(self, data: bytes, peer: Peer, datagram: bool) -> None:
        """403 for requests from outside ``sip.allowed_sources``; anything else is dropped."""
        self.core.stats["refused_source"] += 1
        try:
            message = parse_message(data, datagram=datagram).message
        except SipProtocolError:
            return
        if not isinstance(message, Request) or message.method == "ACK" or not can_answer(message):
            return
        log.warning("403 to %s %s: source not in sip.allowed_sources", message.method, peer)
        response = build_response(
            message, peer, 403, "Source address not allowed", server=self.config.sip.user_agent
        )
        self.transports.send(
            Outgoing(response.to_bytes(), response_target(message, peer), response)
        )

    # ------------------------------------------------- ApplianceControl (API)
    @property
    def started_at(self) -> float:
        return self._started_at

    @property
    def draining(self) -> bool:
        return self.core.draining

    def _offset(self) -> float:
        return time.time() - self._now()

    def active_session_count(self) -> int:
        return self.core.active_count()

    def media_load(self) -> dict[str, Any]:
        if self.workers is not None:
            return {"mode": "workers", "workers": self.workers.load()}
        assert isinstance(self.media, LocalMedia)
        return {"mode": "in-process", **self.media.load()}

    def list_sessions(self) -> list[SessionSnapshot]:
        offset = self._offset()
        return [
            snapshot
            for s in self.core.sessions.values()
            if (snapshot := self._with_pause(s.snapshot(offset))) is not None
        ]

    def get_session(self, session_id: str) -> SessionSnapshot | None:
        return self._with_pause(self.core.snapshot(session_id, self._offset()))

    def _with_pause(self, snapshot: SessionSnapshot | None) -> SessionSnapshot | None:
        """The core's snapshot plus what the appliance knows: pause, policy decision."""
        if snapshot is None:
            return None
        decision = self._decisions.get(snapshot.id)
        if snapshot.id not in self._paused and decision is None:
            return snapshot
        return replace(
            snapshot,
            recording_paused=snapshot.id in self._paused,
            decision=decision.to_dict() if decision is not None else None,
        )

    def pause_session(self, session_id: str) -> PauseOutcome:
        return self._set_paused(session_id, True)

    def resume_session(self, session_id: str) -> PauseOutcome:
        return self._set_paused(session_id, False)

    def _set_paused(self, session_id: str, paused: bool) -> PauseOutcome:
        """The operator's pause: silence in every stream file, a span in the combined one.

        Streams on hold (SDP) already have an open pause span: it is not noted twice,
        and it goes on after the operator's resume until the SRC resumes them.
        """
        session = self.core.sessions.get(session_id)
        if session is None or session.ended or not self.media.has(session_id):
            return PauseOutcome.NO_SESSION
        if (session_id in self._paused) == paused:
            return PauseOutcome.UNCHANGED
        at = time.time()
        if paused:
            self._paused.add(session_id)
        else:
            self._paused.discard(session_id)
        sending = [s.plan.index for s in session.streams if not s.paused]
        self.media.set_paused(session_id, paused, sending, at)
        log.info(
            "session %s: recording %s by the operator (API)",
            session_id,
            "paused" if paused else "resumed",
        )
        return PauseOutcome.CHANGED

    def terminate_session(self, session_id: str) -> bool:
        done = self.core.terminate(session_id, self._now(), "terminated by the operator (API)")
        self._pump()
        return done

    def _open_catalog(self) -> Catalog:
        if self.catalog is None:
            raise RuntimeError("the catalog is not open")
        return self.catalog

    async def find_recordings(self, query: RecordingQuery) -> RecordingPage:
        return await self._open_catalog().search(query)

    async def get_recording(self, recording_id: str) -> dict[str, Any] | None:
        return await self._open_catalog().get(recording_id)

    async def recording_audio(self, recording_id: str, leg: str | None) -> AudioFile:
        return await self._open_catalog().audio(recording_id, leg)


def _same_decision(old: Decision, new: Decision) -> bool:
    """Whether a re-evaluation changed anything but the time it was made."""
    first, second = old.to_dict(), new.to_dict()
    first.pop("evaluated_at", None)
    second.pop("evaluated_at", None)
    return first == second


def _participant_names(facts: dict[str, Any]) -> tuple[str, ...]:
    """Participants as people read them: name, else E.164, else AOR."""
    rows = facts.get("participants")
    names = []
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict):
            name = row.get("name") or row.get("e164") or row.get("aor")
            if name:
                names.append(str(name))
    return tuple(names)


def certificate_expiry(path: Path) -> tuple[str, float]:
    """The subject and notAfter (Unix seconds) of the first certificate in a PEM file."""
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    return certificate.subject.rfc4514_string(), certificate.not_valid_after_utc.timestamp()
