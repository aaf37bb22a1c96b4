"""The recording policy against the running appliance: a rule that says no, hot
reload of a bad then fixed rule file, and a decision changed by a metadata update
in the middle of a call (a transfer to a monitored party is caught)."""

from __future__ import annotations

import json
import re
import signal
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from support.daemon import Daemon, SipClient, establish_call, running_daemon
from support.recorded import (
    QUIET,
    SIPREC_TYPE,
    answered_ports,
    read_wav,
    restamp,
    wait_for,
)
from support.rtp_sender import g711_stream, send_paced
from support.src import METADATA, multipart, sdp

pytestmark = pytest.mark.integration

NO_ALICE = """\
# Calls from Alice are not recorded.
rules:
  - id: no-alice
    description: Alice opted out
    priority: 10
    when:
      caller.aor: {glob: "sip:alice@*"}
    then:
      - record: false
      - tag: [opted-out]
"""

MONITORED = """\
lists:
  monitored: ["sip:carol@example.com"]
rules:
  - id: monitored
    priority: 10
    when:
      participants.aor: {in: {list: monitored}}
    then:
      - record: {format: wav, layout: both}
      - tag: [monitored]
  - id: nothing-else
    priority: 100
    when: always
    then:
      - record: false
"""

WITH_CAROL = METADATA.replace(
    b"</recording>",
    b'  <participant participant_id="p3"><nameID aor="sip:carol@example.com"/></participant>\n'
    b"</recording>",
)


def _rules(tmp_path: Path, text: str, name: str = "10-test.yaml") -> Path:
    directory = tmp_path / "rules"
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(text)
    return directory


def _finished(daemon: Daemon, call_id: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def done() -> bool:
        for path in (daemon.data_dir / "recordings").glob("*/*/session.json"):
            document = json.loads(path.read_text())
            if document["session"]["call_id"] == call_id and document["state"] == "completed":
                found.update(document, directory=path.parent)
                return True
        return False

    wait_for(done)
    return found


def _call(daemon: Daemon, client: SipClient, call_id: str, seconds: float = 0.4) -> str:
    call = establish_call(client, multipart(sdp()), SIPREC_TYPE, call_id=call_id)
    ports = answered_ports(call.answer.body)
    send_paced([g711_stream(("127.0.0.1", p), 440, seconds, ssrc=p) for p in ports])
    session = next(s for s in daemon.sessions() if s["call_id"] == call_id)
    assert call.bye().status == 200
    return str(session["id"])


def test_a_rule_that_says_no_keeps_no_audio_and_explains_why(tmp_path: Path) -> None:
    _rules(tmp_path, NO_ALICE)
    with running_daemon(tmp_path) as daemon:
        client = SipClient(daemon.sip_port)
        try:
            call = establish_call(client, multipart(sdp()), SIPREC_TYPE, call_id="pol-no")
            live: Any = next(s for s in daemon.sessions() if s["call_id"] == "pol-no")
            assert live["decision"]["record"]["on"] is False
            assert live["decision"]["matched_rule_ids"] == ["no-alice"]
            assert live["decision"]["matched"][0]["why"], "the decision explains itself"
            ports = answered_ports(call.answer.body)
            send_paced([g711_stream(("127.0.0.1", p), 440, 0.4, ssrc=p) for p in ports])
            assert call.bye().status == 200
            document = _finished(daemon, "pol-no")
        finally:
            client.close()
    assert document["recorded"] is False
    assert document["decision"]["tags"] == ["opted-out"]
    assert not list(document["directory"].glob("*.wav")), "no audio kept"
    assert all(s["received"] == 20 for s in document["streams"]), "RTP was still counted"


def test_bad_rule_file_keeps_the_old_rules_and_a_fix_applies_to_the_next_call(
    tmp_path: Path,
) -> None:
    rules = _rules(tmp_path, NO_ALICE)
    with running_daemon(tmp_path) as daemon:
        client = SipClient(daemon.sip_port)
        try:
            (rules / "20-broken.yaml").write_text("rules:\n  - id: broken\n    priority: [\n")
            wait_for(lambda: "rules not reloaded" in daemon.log(), timeout=5)
            assert "20-broken.yaml:" in daemon.log()
            _call(daemon, client, "pol-old")  # the last good rules: Alice is not recorded
            first = _versions(daemon)[-1]
            fixed = time.monotonic()
            (rules / "20-broken.yaml").unlink()
            (rules / "10-test.yaml").write_text(NO_ALICE.replace("record: false", "record: true"))
            wait_for(lambda: _versions(daemon)[-1] != first)
            assert time.monotonic() - fixed < 1.0, "the fix applied within a second"
            _call(daemon, client, "pol-new")
            old, new = _finished(daemon, "pol-old"), _finished(daemon, "pol-new")
        finally:
            client.close()
    assert old["recorded"] is False and old["decision"]["record"]["rule"] == "no-alice"
    assert new["recorded"] is True and new["decision"]["record"]["on"] is True
    assert len(list(new["directory"].glob("stream-*.wav"))) == 2


def _versions(daemon: Daemon) -> list[str]:
    """The rule-set versions the daemon loaded, in order ("rules <v> loaded (n rules)")."""
    return re.findall(r" rules ([0-9a-f]+) loaded \(", daemon.log())


def test_metadata_update_mid_call_changes_the_decision(tmp_path: Path) -> None:
    """Carol (monitored) joins by a re-INVITE with new metadata: recording starts
    then; what came before the update is silence, what comes after is audio."""
    _rules(tmp_path, MONITORED)
    with running_daemon(tmp_path) as daemon:
        client = SipClient(daemon.sip_port)
        senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
        try:
            call = establish_call(client, multipart(sdp()), SIPREC_TYPE, call_id="pol-mid")
            ports = answered_ports(call.answer.body)
            before = [g711_stream(("127.0.0.1", p), 440, 1.0, ssrc=p) for p in ports]
            send_paced(before, sockets=senders)
            call.in_dialog("INVITE", body=multipart(sdp(), WITH_CAROL), content_type=SIPREC_TYPE)
            assert call.client.final_response(f"{call.cseq} INVITE").status == 200
            call.in_dialog("ACK")
            live: Any = next(s for s in daemon.sessions() if s["call_id"] == "pol-mid")
            assert live["decision"]["matched_rule_ids"][0] == "monitored"
            after = [g711_stream(("127.0.0.1", p), 1000, 1.0, ssrc=p, seq=1050) for p in ports]
            for stream in after:  # RTP time goes on from the first second
                stream.packets = restamp(stream.packets, 8000)
            send_paced(after, sockets=senders)
            assert call.bye().status == 200
            document = _finished(daemon, "pol-mid")
        finally:
            client.close()
            for sender in senders:
                sender.close()
    assert document["recorded"] is True and document["decision"]["record"]["on"] is True
    assert document["decision"]["tags"] == ["monitored"]
    stream = document["streams"][0]
    assert [p.get("by") for p in stream["pauses"]] == ["policy", "policy"]
    rate, samples = read_wav(document["directory"] / stream["file"])
    loud = np.flatnonzero(np.abs(samples) > QUIET)
    assert loud.size, "the audio after the update is recorded"
    assert loud[0] / rate == pytest.approx(1.0, abs=0.1), "nothing before the update"


def test_sighup_reloads_the_rules(tmp_path: Path) -> None:
    """No file changed (so the watcher stays quiet): the second load is SIGHUP's."""
    _rules(tmp_path, NO_ALICE)
    with running_daemon(tmp_path) as daemon:
        wait_for(lambda: len(_versions(daemon)) == 1)
        time.sleep(0.5)
        assert len(_versions(daemon)) == 1
        daemon.process.send_signal(signal.SIGHUP)
        wait_for(lambda: len(_versions(daemon)) == 2)
        assert daemon.process.poll() is None, "SIGHUP reloads, it does not stop the daemon"
