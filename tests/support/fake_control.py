"""An in-test ApplianceControl (our own interface, not a remote mock): the HTTP API and
``siprecctl`` tests serve it instead of the SIP/media server."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from siprec_appliance.alerts import AlertService
from siprec_appliance.appliance.catalog import AudioFile, Catalog, RecordingPage, RecordingQuery
from siprec_appliance.appliance.control import PauseOutcome
from siprec_appliance.appliance.rules_service import RulesService
from siprec_appliance.siprec.model import SessionSnapshot
from support.rules import unused_rules


class PausableSessions:
    """Operator pause/resume over a ``sessions`` dict of snapshots."""

    sessions: dict[str, SessionSnapshot]

    def pause_session(self, session_id: str) -> PauseOutcome:
        return self._set_paused(session_id, True)

    def resume_session(self, session_id: str) -> PauseOutcome:
        return self._set_paused(session_id, False)

    def _set_paused(self, session_id: str, paused: bool) -> PauseOutcome:
        snapshot = self.sessions.get(session_id)
        if snapshot is None:
            return PauseOutcome.NO_SESSION
        if snapshot.recording_paused == paused:
            return PauseOutcome.UNCHANGED
        self.sessions[session_id] = replace(snapshot, recording_paused=paused)
        return PauseOutcome.CHANGED


@dataclass
class FakeControl(PausableSessions):
    """ApplianceControl over plain data: ``sessions`` being recorded (``ended`` ones can
    still be fetched), rules that are never loaded unless given, alerting if given, and
    recordings from a real ``catalog`` if given. ``fail`` makes listing sessions raise an
    internal error; ``terminate_calls`` records every terminate request."""

    sessions: dict[str, SessionSnapshot] = field(default_factory=dict)
    ended: dict[str, SessionSnapshot] = field(default_factory=dict)
    rules: RulesService = field(default_factory=unused_rules)
    alerts: AlertService | None = None
    catalog: Catalog | None = None
    uptime: float = 5.0
    draining: bool = False
    fail: bool = False
    terminate_calls: list[str] = field(default_factory=list)

    @property
    def started_at(self) -> float:
        return time.time() - self.uptime

    def active_session_count(self) -> int:
        return len(self.sessions)

    def media_load(self) -> dict[str, Any]:
        return {"mode": "in-process", "recordings": 0}

    def list_sessions(self) -> list[SessionSnapshot]:
        if self.fail:
            raise RuntimeError("secret internal detail")
        return sorted(self.sessions.values(), key=lambda s: s.started_at)

    def get_session(self, session_id: str) -> SessionSnapshot | None:
        return self.sessions.get(session_id) or self.ended.get(session_id)

    def terminate_session(self, session_id: str) -> bool:
        self.terminate_calls.append(session_id)
        return self.sessions.pop(session_id, None) is not None

    async def find_recordings(self, query: RecordingQuery) -> RecordingPage:
        return await self._catalog().search(query)

    async def get_recording(self, recording_id: str) -> dict[str, Any] | None:
        if self.catalog is None:
            return None
        return await self.catalog.get(recording_id)

    async def recording_audio(self, recording_id: str, leg: str | None) -> AudioFile:
        return await self._catalog().audio(recording_id, leg)

    def _catalog(self) -> Catalog:
        if self.catalog is None:
            raise AssertionError("this test has no recordings catalog")
        return self.catalog
