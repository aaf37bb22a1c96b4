"""RFC 7865 recording metadata: model, hardened tolerant parser, updates (pure)."""

from siprec_appliance.metadata.model import (
    CommunicationSession,
    Extension,
    Group,
    NameId,
    Participant,
    ParticipantSessionAssoc,
    ParticipantStreamAssoc,
    RecordingMetadata,
    SessionRecordingAssoc,
    Stream,
    XmlNode,
)
from siprec_appliance.metadata.parser import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_ELEMENTS,
    parse_metadata,
)
from siprec_appliance.metadata.state import (
    SNAPSHOT_REQUEST_TYPE,
    MetadataState,
    MetadataVersion,
    snapshot_request_body,
)
from siprec_appliance.metadata.streams import (
    ParticipantStreams,
    resolve_participants,
    stream_indexes,
)

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_ELEMENTS",
    "SNAPSHOT_REQUEST_TYPE",
    "CommunicationSession",
    "Extension",
    "Group",
    "MetadataState",
    "MetadataVersion",
    "NameId",
    "Participant",
    "ParticipantSessionAssoc",
    "ParticipantStreamAssoc",
    "ParticipantStreams",
    "RecordingMetadata",
    "SessionRecordingAssoc",
    "Stream",
    "XmlNode",
    "parse_metadata",
    "resolve_participants",
    "snapshot_request_body",
    "stream_indexes",
]
