"""The vendor golden corpus: every file parses, is detected and yields its facts.

Each ``tests/data/sip/vendors/<name>.sip`` has a sibling ``<name>.expected.json``
with the vendor, a minimum confidence, a subset of the facts and the participants
(AOR, role, m-lines sent and received). docs/vendors.md cites each file's shape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from siprec_appliance.metadata.model import RecordingMetadata
from siprec_appliance.metadata.parser import parse_metadata
from siprec_appliance.metadata.streams import resolve_participants
from siprec_appliance.sdp.model import SessionDescription
from siprec_appliance.sip.message import Request, parse_message
from siprec_appliance.sip.multipart import BodyPart, split_body
from siprec_appliance.siprec.detect import METADATA_TYPES
from siprec_appliance.vendors import build_call_facts, detect_vendor

CORPUS = Path(__file__).resolve().parent.parent / "data" / "sip" / "vendors"
CASES = sorted(p.stem for p in CORPUS.glob("*.sip"))
VENDORS = {
    "oracle",
    "avaya",
    "cisco",
    "ribbon",
    "audiocodes",
    "genesys",
    "nice",
    "broadworks",
    "metaswitch",
    "freeswitch",
    "sems",
    "opensips",
}


class Case:
    """One corpus file, parsed the way the SIP core parses a request."""

    def __init__(self, name: str) -> None:
        self.raw = (CORPUS / f"{name}.sip").read_bytes()
        self.expected: dict[str, Any] = json.loads((CORPUS / f"{name}.expected.json").read_text())
        result = parse_message(self.raw, datagram=False)
        assert isinstance(result.message, Request)
        self.request = result.message
        self.warnings = result.warnings
        self.parts: list[BodyPart] = split_body(self.request.headers, self.request.body)
        self.sdp: SessionDescription | None = None
        self.metadata: RecordingMetadata | None = None
        for part in self.parts:
            if part.content_type == "application/sdp":
                self.sdp = SessionDescription.parse(part.body)
            elif part.content_type in METADATA_TYPES:
                self.metadata = parse_metadata(part.body, content_type=part.content_type)

    def facts(self) -> dict[str, object]:
        return build_call_facts(
            headers=self.request.headers,
            metadata=self.metadata,
            sdp=self.sdp,
            parts=self.parts,
            transport="TCP",
            source_host="192.0.2.1",
            source_port=5060,
        )


def test_the_corpus_covers_every_vendor_family() -> None:
    assert len(CASES) >= 12
    found = {json.loads((CORPUS / f"{c}.expected.json").read_text())["vendor"] for c in CASES}
    assert found >= VENDORS


@pytest.mark.parametrize("name", CASES)
def test_file_is_well_formed(name: str) -> None:
    raw = (CORPUS / f"{name}.sip").read_bytes()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b""), "bare LF or CR"
    declared = [
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    ]
    assert declared == [str(len(body)).encode()]
    case = Case(name)
    assert case.warnings == []


@pytest.mark.parametrize("name", CASES)
def test_vendor_is_detected(name: str) -> None:
    case = Case(name)
    guess = detect_vendor(
        headers=case.request.headers, metadata=case.metadata, sdp=case.sdp, parts=case.parts
    )
    assert guess.name == case.expected["vendor"]
    assert guess.confidence >= case.expected["min_confidence"]
    assert 0.0 <= guess.confidence <= 1.0
    if guess.name == "unknown":
        assert guess.confidence == 0.0
        assert guess.candidates == ()
    else:
        assert guess.candidates[0][0] == guess.name
        assert all(e.split(":", 1)[0] in dict(guess.candidates) for e in guess.evidence)


@pytest.mark.parametrize("name", CASES)
def test_facts_match_the_golden_subset(name: str) -> None:
    case = Case(name)
    facts = case.facts()
    assert facts["vendor"] == case.expected["vendor"]
    for key, value in case.expected["facts"].items():
        assert facts.get(key) == value, key
    participants = facts["participants"]
    assert isinstance(participants, list)
    got = [
        {k: p[k] for k in ("aor", "name", "e164", "role", "sends", "receives")}
        for p in participants
    ]
    assert got == case.expected["participants"]


@pytest.mark.parametrize("name", CASES)
def test_facts_are_json_and_stable(name: str) -> None:
    case = Case(name)
    facts = case.facts()
    assert json.loads(json.dumps(facts)) == facts
    assert facts == case.facts()
    for key in ("vendor", "call_id", "transport", "source.address", "source.port", "warnings"):
        assert key in facts
    assert facts["transport"] == "tcp"
    assert facts["direction"] in ("inbound", "outbound", "unknown")


def test_participant_streams_from_the_metadata_package_agree() -> None:
    for name in CASES:
        case = Case(name)
        if case.metadata is None or case.sdp is None:
            continue
        labels = [m.label for m in case.sdp.media]
        resolved = resolve_participants(case.metadata, labels)
        facts = build_call_facts(
            headers=case.request.headers,
            metadata=case.metadata,
            sdp=case.sdp,
            parts=case.parts,
            transport="udp",
            source_host="192.0.2.1",
            source_port=5060,
            participants=resolved,
        )
        rows = facts["participants"]
        assert isinstance(rows, list)
        by_id = {p["id"]: p for p in rows}
        for item in resolved:
            assert by_id[item.participant_id]["sends"] == sorted(item.send), name


def test_hold_reinvite_keeps_the_same_facts_as_the_initial_invite() -> None:
    # INTEROP.md: OpenSIPS re-sends the full snapshot on hold; only a=inactive changes.
    first, hold = Case("opensips_invite").facts(), Case("opensips_hold_reinvite").facts()
    assert first["participants"] == hold["participants"]
    assert first["cs_call_id"] == hold["cs_call_id"]
    assert hold["data_mode"] == "complete"


def test_partial_update_lists_only_the_new_participant_and_assigns_no_order_role() -> None:
    facts = Case("rfc8068_partial_add_participant").facts()
    assert facts["data_mode"] == "partial"
    assert facts["participants"] == [
        {
            "id": "zSfPoSvdSDCmU3A3TRDxAw==",
            "aor": "sip:carol@example.com",
            "name": "Carol",
            "e164": None,
            "role": "other",
            "sends": [2],
            "receives": [],
            "ext": {},
        }
    ]
    assert "caller.aor" not in facts


VENDORS_PACKAGE = (
    Path(__file__).resolve().parents[2] / "siprec-appliance" / "siprec_appliance" / "vendors"
)
FORBIDDEN = {
    "asyncio",
    "socket",
    "ssl",
    "sanic",
    "selectors",
    "os",
    "pathlib",
    "time",
    "uvloop",
    "lxml",
}


def test_vendors_package_is_pure_and_small() -> None:
    import ast

    files = sorted(VENDORS_PACKAGE.glob("*.py"))
    assert len(files) >= 5
    for path in files:
        source = path.read_text()
        assert len(source.splitlines()) < 500, path.name
        names: set[str] = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        roots = {name.split(".")[0] for name in names}
        assert not roots & FORBIDDEN, f"{path.name} imports {sorted(roots & FORBIDDEN)}"
        assert "siprec_appliance.metadata.parser" not in names, path.name  # lxml behind it
        assert not any(n.startswith("siprec_appliance.appliance") for n in names), path.name
