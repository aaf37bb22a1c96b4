"""Pieces shared by the in-test ApplianceControl implementations (our own interface)."""

from __future__ import annotations

from dataclasses import replace

from siprec_appliance.appliance.control import PauseOutcome
from siprec_appliance.siprec.model import SessionSnapshot


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
