"""What the HTTP API needs from the running appliance (implemented by the server)."""

from __future__ import annotations

from enum import Enum
from typing import Any, Protocol

from siprec_appliance.alerts import AlertService
from siprec_appliance.appliance.catalog import AudioFile, RecordingPage, RecordingQuery
from siprec_appliance.appliance.rules_service import RulesService
from siprec_appliance.siprec.model import SessionSnapshot


class PauseOutcome(Enum):
    """What :meth:`ApplianceControl.pause_session` and ``resume_session`` did."""

    CHANGED = "changed"  # the recording is now paused (resumed)
    UNCHANGED = "unchanged"  # it already was
    NO_SESSION = "no_session"  # no such session being recorded


class ApplianceControl(Protocol):
    """The narrow interface between the REST API and the SIP/media server."""

    @property
    def started_at(self) -> float:
        """Unix time at which the appliance started."""

    @property
    def draining(self) -> bool:
        """True while the appliance refuses new sessions for shutdown."""

    @property
    def rules(self) -> RulesService:
        """The recording rules: the active set, reload, validation, editing, dry runs."""

    @property
    def alerts(self) -> AlertService | None:
        """The alerting service; None when alerting is not running."""

    def active_session_count(self) -> int:
        """Number of sessions not yet terminated."""

    def media_load(self) -> dict[str, Any]:
        """Where media is recorded and how loaded it is (workers, tick lag, backlog)."""

    def list_sessions(self) -> list[SessionSnapshot]:
        """Every session not yet terminated, oldest first."""

    def get_session(self, session_id: str) -> SessionSnapshot | None:
        """One session by id (also recently terminated ones), or None."""

    def terminate_session(self, session_id: str) -> bool:
        """Send BYE to the SRC and end the session; False if no such active session."""

    def pause_session(self, session_id: str) -> PauseOutcome:
        """Stop writing the session's audio (silence instead) until resumed."""

    def resume_session(self, session_id: str) -> PauseOutcome:
        """Write the session's audio again after :meth:`pause_session`."""

    async def find_recordings(self, query: RecordingQuery) -> RecordingPage:
        """Search the recordings catalog, newest first."""

    async def get_recording(self, recording_id: str) -> dict[str, Any] | None:
        """Everything the catalog holds about one recording, or None."""

    async def recording_audio(self, recording_id: str, leg: str | None) -> AudioFile:
        """The audio file of ``leg`` (default the first); raises ``AudioNotFoundError``."""
