"""RTP media core: packets, RTCP, jitter buffer, timeline, statistics, G.711, DTMF.

Pure code: no asyncio, sockets, files or clock; arrival times come in as ``now``.
Per packet, the receive path calls ``RtpPacket.parse`` (or ``parse_compound`` when
``is_rtcp``), ``JitterBuffer.push`` (which also feeds its ``StreamStats``) and
``StreamTimeline.push_all``; decoding runs per batch of released packets.
``InOrderPath`` takes runs of in-order G.711 packets past all three at once.
"""

from __future__ import annotations

from siprec_appliance.rtp.dtmf import DtmfAggregator, DtmfEvent, TelephoneEvent, event_name
from siprec_appliance.rtp.g711 import (
    ALAW_TABLE,
    G711_TABLES,
    ULAW_TABLE,
    decode_batch,
    decode_pcma,
    decode_pcma_batch,
    decode_pcmu,
    decode_pcmu_batch,
)
from siprec_appliance.rtp.jitter import Gap, JitterBuffer, Released
from siprec_appliance.rtp.packet import RtpError, RtpPacket
from siprec_appliance.rtp.rtcp import (
    Bye,
    RawRtcp,
    ReceiverReport,
    ReportBlock,
    RtcpPacket,
    SdesChunk,
    SdesItem,
    SenderReport,
    SourceDescription,
    is_rtcp,
    ntp_to_unix,
    parse_compound,
    serialize_compound,
)
from siprec_appliance.rtp.stats import CODEC_IMPAIRMENTS, StreamStats, mos_from_r, r_factor
from siprec_appliance.rtp.timeline import (
    AudioRun,
    InOrderPath,
    Segment,
    SegmentKind,
    StreamTimeline,
)

__all__ = [
    "ALAW_TABLE",
    "CODEC_IMPAIRMENTS",
    "G711_TABLES",
    "ULAW_TABLE",
    "AudioRun",
    "Bye",
    "DtmfAggregator",
    "DtmfEvent",
    "Gap",
    "InOrderPath",
    "JitterBuffer",
    "RawRtcp",
    "ReceiverReport",
    "Released",
    "ReportBlock",
    "RtcpPacket",
    "RtpError",
    "RtpPacket",
    "SdesChunk",
    "SdesItem",
    "Segment",
    "SegmentKind",
    "SenderReport",
    "SourceDescription",
    "StreamStats",
    "StreamTimeline",
    "TelephoneEvent",
    "decode_batch",
    "decode_pcma",
    "decode_pcma_batch",
    "decode_pcmu",
    "decode_pcmu_batch",
    "event_name",
    "is_rtcp",
    "mos_from_r",
    "ntp_to_unix",
    "parse_compound",
    "r_factor",
    "serialize_compound",
]
