"""SessionSnapshot.to_dict (hand-written for speed) equals dataclasses-json's."""

from __future__ import annotations

from typing import Any

from dataclasses_json import DataClassJsonMixin
from hypothesis import given
from hypothesis import strategies as st

from siprec_appliance.siprec.model import ParticipantView, SessionSnapshot, StreamInfo

text = st.text(max_size=8)
maybe_text = st.none() | text
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(text, inner, max_size=3)
    ),
    max_leaves=10,
)
streams = st.builds(
    StreamInfo,
    index=st.integers(0, 9),
    label=maybe_text,
    port=st.integers(0, 65535),
    rtcp_port=st.none() | st.integers(0, 65535),
    codecs=st.lists(text, max_size=3).map(tuple),
    direction=text,
    paused=st.booleans(),
    packets=st.integers(0, 10**6),
    srtp_suite=maybe_text,
)
participants = st.builds(
    ParticipantView,
    id=text,
    aor=maybe_text,
    name=maybe_text,
    sends=st.lists(st.integers(0, 9), max_size=3).map(tuple),
    receives=st.lists(st.integers(0, 9), max_size=3).map(tuple),
)
snapshots = st.builds(
    SessionSnapshot,
    id=text,
    call_id=text,
    state=text,
    src_address=text,
    transport=text,
    streams=st.lists(streams, max_size=3).map(tuple),
    started_at=st.floats(0, 2e9),
    is_siprec=st.booleans(),
    metadata_parts=st.integers(0, 5),
    ended_at=st.none() | st.floats(0, 2e9),
    end_reason=maybe_text,
    warnings=st.lists(text, max_size=2).map(tuple),
    participants=st.lists(participants, max_size=3).map(tuple),
    facts=st.dictionaries(text, json_values, max_size=4),
    metadata_versions=st.integers(0, 5),
    metadata_problems=st.lists(text, max_size=2).map(tuple),
    recording_paused=st.booleans(),
    decision=st.none() | st.dictionaries(text, json_values, max_size=3),
)


@given(snapshots)
def test_same_dict_as_dataclasses_json(snapshot: SessionSnapshot) -> None:
    assert snapshot.to_dict() == DataClassJsonMixin.to_dict(snapshot)


@given(snapshots)
def test_the_dict_shares_no_mutable_part_with_the_snapshot(snapshot: SessionSnapshot) -> None:
    out = snapshot.to_dict()
    assert out["facts"] is not snapshot.facts
    if snapshot.decision is not None:
        assert out["decision"] is not snapshot.decision
