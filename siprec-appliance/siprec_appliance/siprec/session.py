"""State of one recording session: its dialog, streams and timers (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from siprec_appliance.metadata.state import MetadataState
from siprec_appliance.sdp.answer import StreamPlan
from siprec_appliance.sdp.crypto import CryptoAttribute
from siprec_appliance.sdp.model import Origin, SessionDescription
from siprec_appliance.sip.dialog import Dialog
from siprec_appliance.sip.message import Request
from siprec_appliance.sip.multipart import BodyPart
from siprec_appliance.sip.timers import TimerHandle
from siprec_appliance.sip.transaction import InviteServerTransaction
from siprec_appliance.sip.transport import Peer
from siprec_appliance.siprec.model import ParticipantView, SessionSnapshot, StreamInfo
from siprec_appliance.siprec.session_timer import TimerAgreement


class SessionState(Enum):
    OFFERED = "offered"  # INVITE received, 100 sent, waiting for accept()/reject()
    ANSWERED = "answered"  # 200 OK sent, waiting for the ACK
    ACTIVE = "active"
    TERMINATING = "terminating"  # we sent BYE
    TERMINATED = "terminated"


@dataclass(slots=True)
class StreamState:
    """One ``m=`` line: the plan we answered and the RTP port we hold for it.

    ``local_crypto`` is our own ``a=crypto`` of an SRTP stream (RFC 4568 §7.1.2): a
    fresh key we would send with, kept across re-INVITEs until the SRC rekeys. The
    key to decrypt with is the SRC's, in ``plan.crypto``. Neither reaches the API.
    """

    plan: StreamPlan
    port: int | None
    paused: bool
    packets: int = 0
    local_crypto: CryptoAttribute | None = None

    @property
    def rtcp_port(self) -> int | None:
        if self.port is None or self.plan.rtcp_mux:
            return None
        return self.port + 1  # RFC 3550 §11

    def info(self) -> StreamInfo:
        return StreamInfo(
            index=self.plan.index,
            label=self.plan.label,
            port=self.port or 0,
            rtcp_port=self.rtcp_port,
            codecs=self.plan.codecs,
            direction=self.plan.answer_direction if self.port else "inactive",
            paused=self.paused,
            packets=self.packets,
            srtp_suite=self.plan.srtp_suite,
        )


@dataclass(slots=True)
class RecordingSession:
    id: str
    dialog: Dialog
    peer: Peer
    invite: Request
    is_siprec: bool
    created_at: float
    origin: Origin
    media_address: str
    state: SessionState = SessionState.OFFERED
    streams: list[StreamState] = field(default_factory=list)
    pending_offer: SessionDescription | None = None
    pending_plans: list[StreamPlan] = field(default_factory=list)
    invite_tx: InviteServerTransaction | None = None
    invite_cseq: int = 0
    offer_in_200: bool = False  # our 200 carried an offer: the ACK carries the answer
    last_answer: bytes = b""
    timer: TimerAgreement | None = None
    last_refresh: float = 0.0
    timer_handle: TimerHandle | None = None
    last_media: float | None = None
    metadata_parts: int = 0
    metadata: MetadataState = field(default_factory=MetadataState)
    participants: tuple[ParticipantView, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)
    invite_parts: list[BodyPart] = field(default_factory=list)
    last_offer: SessionDescription | None = None
    snapshot_requested_at: float | None = None
    warnings: list[str] = field(default_factory=list)
    ended_at: float | None = None
    end_reason: str | None = None

    @property
    def ended(self) -> bool:
        return self.state in (SessionState.TERMINATING, SessionState.TERMINATED)

    def ports(self) -> list[int]:
        return [s.port for s in self.streams if s.port is not None]

    def snapshot(self, clock_offset: float = 0.0) -> SessionSnapshot:
        """The API view; ``clock_offset`` turns the core's clock into Unix time."""
        ended = None if self.ended_at is None else self.ended_at + clock_offset
        return SessionSnapshot(
            id=self.id,
            call_id=self.dialog.call_id,
            state=self.state.value,
            src_address=f"{self.peer.host}:{self.peer.port}",
            transport=self.peer.transport.lower(),
            streams=tuple(stream.info() for stream in self.streams),
            started_at=self.created_at + clock_offset,
            is_siprec=self.is_siprec,
            metadata_parts=self.metadata_parts,
            ended_at=ended,
            end_reason=self.end_reason,
            warnings=tuple(self.warnings),
            participants=self.participants,
            facts=self.facts,
            metadata_versions=len(self.metadata.history),
            metadata_problems=tuple(self.metadata.problems()),
        )
