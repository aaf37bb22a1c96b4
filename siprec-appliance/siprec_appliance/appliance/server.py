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
from pathlib import Path
from typing import Any

from siprec_appliance.appliance.api import ApiServer, create_app, start_api
from siprec_appliance.appliance.auth import resolve_api_token
from siprec_appliance.appliance.catalog import AudioFile, Catalog, RecordingPage, RecordingQuery
from siprec_appliance.appliance.control import PauseOutcome
from siprec_appliance.appliance.media import BoundPortAllocator
from siprec_appliance.appliance.mediaplane import LocalMedia, MediaPlane
from siprec_appliance.appliance.recording import recover_unfinished, session_directory
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
from siprec_appliance.sip.dialog import build_response, response_target
from siprec_appliance.sip.message import Request, can_answer, parse_message
from siprec_appliance.sip.transaction import TimerValues
from siprec_appliance.sip.transport import Outgoing, Peer
from siprec_appliance.siprec.events import (
    Event,
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

    async def _start_media(self, loop: asyncio.AbstractEventLoop, pool: PortPool) -> None:
        """Media workers (``media.workers``), or the media plane in this process."""
        config = self.config
        count = worker_count(config.media.workers)
        if count:
            self.workers = WorkerPool(
                loop, count, config.recording, self._index, log_level=config.logging.level
            )
            self.allocator = WorkerPortAllocator(loop, config.sip.host, pool, self.workers)
            self.media = WorkerMedia(self.workers)
            await self.workers.wait_ready()
            return
        self.allocator = BoundPortAllocator(loop, config.sip.host, pool)
        local = LocalMedia(loop, self.allocator.local, config.recording, self._index)
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
            # Issue 2 records every acceptable session; the policy engine decides later.
            self.core.accept(event.session_id, self._now())
        elif isinstance(event, SessionAnswered):
            self._start_recording(event.session_id)
        elif isinstance(event, StreamsChanged):
            self._streams_changed(event)
        elif isinstance(event, SessionEnded):
            self._activity.pop(event.session_id, None)
            self._paused.discard(event.session_id)
            for key in [k for k in self._rtp_watch if k[0] == event.session_id]:
                del self._rtp_watch[key]
            self._finish_recording(event.session_id, event.reason)

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

    # ------------------------------------------------------------ recording
    def _start_recording(self, session_id: str) -> None:
        session = self.core.sessions.get(session_id)
        if session is None or self.media.has(session_id):
            return
        directory = session_directory(
            self.config.storage.data_dir, session_id, session.created_at + self._offset()
        )
        self.media.start(session_id, directory, session.streams, self._snapshot(session_id))

    def _streams_changed(self, event: StreamsChanged) -> None:
        session = self.core.sessions.get(event.session_id)
        if session is None:
            return
        # During the operator's pause its span goes on: the SDP's pauses are not noted.
        pauses = None if event.session_id in self._paused else (event.paused, event.resumed)
        self.media.update(event.session_id, session.streams, pauses, time.time())

    def _finish_recording(self, session_id: str, reason: str) -> None:
        """The media plane drains, finalises the files, then the catalog indexes them."""
        snapshot = self._snapshot(session_id) if self.media.has(session_id) else None
        self.media.finish(session_id, snapshot, reason)

    def _snapshot(self, session_id: str) -> dict[str, Any] | None:
        snapshot = self._with_pause(self.core.snapshot(session_id, self._offset()))
        return snapshot.to_dict() if snapshot is not None else None

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
            replace(s.snapshot(offset), recording_paused=s.id in self._paused)
            for s in self.core.sessions.values()
        ]

    def get_session(self, session_id: str) -> SessionSnapshot | None:
        return self._with_pause(self.core.snapshot(session_id, self._offset()))

    def _with_pause(self, snapshot: SessionSnapshot | None) -> SessionSnapshot | None:
        if snapshot is None or snapshot.id not in self._paused:
            return snapshot
        return replace(snapshot, recording_paused=True)

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
