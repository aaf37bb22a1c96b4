"""Alerting against the running appliance: a rule's alert action fires on a matching
SIPREC call (a signed webhook a receiver verifies), and the disk guard refuses new
calls with 503 and Retry-After when free space is below the critical threshold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.daemon import SipClient, establish_call, running_daemon
from support.recorded import SIPREC_TYPE, wait_for
from support.src import multipart, sdp
from support.webhook import webhook_receiver

pytestmark = pytest.mark.integration

SECRET = "whsec-e2e-6b1d93f0a4c2"

FRAUD_RULE = """\
rules:
  - id: watch-alice
    priority: 10
    when:
      caller.aor: {glob: "sip:alice@*"}
    then:
      - alert:
          channel: fraud
          severity: warning
          message: "Watched caller {{ facts['caller.aor'] }} is on a call"
"""


def _config(url: str) -> str:
    return f"""\
alerts:
  channels:
    fraud:
      type: webhook
      url: {url}
      secret_env: HOOK_SECRET
"""


def test_a_rule_alert_reaches_its_channel_signed(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "10-fraud.yaml").write_text(FRAUD_RULE)
    with webhook_receiver(SECRET) as receiver:
        with running_daemon(
            tmp_path, config_text=_config(receiver.url), extra_env={"HOOK_SECRET": SECRET}
        ) as daemon:
            client = SipClient(daemon.sip_port)
            try:
                call = establish_call(client, multipart(sdp()), SIPREC_TYPE, call_id="al-1")
                wait_for(lambda: bool(receiver.requests))
                assert call.bye().status == 200
            finally:
                client.close()
        request = receiver.requests[0]
    assert request.verified, "the receiver verified the HMAC signature"
    payload = json.loads(request.body)
    assert payload["type"] == "rule_alert" and payload["severity"] == "warning"
    assert "Watched caller sip:alice@example.com is on a call" in payload["text"]
    assert SECRET not in daemon.log()


def test_disk_critical_refuses_new_calls_with_503(tmp_path: Path) -> None:
    """Thresholds above the free space there is (100 % free is never reached)."""
    config = """\
disk:
  warning_free_percent: 100
  critical_free_percent: 100
  retry_after: 120
  check_interval: 0.5
"""
    with running_daemon(tmp_path, config_text=config) as daemon:
        client = SipClient(daemon.sip_port)
        try:
            wait_for(lambda: "disk space critical" in daemon.log())
            client.request(
                "INVITE",
                call_id="disk-1",
                from_tag="src-disk-1",
                cseq=1,
                body=multipart(sdp()),
                content_type=SIPREC_TYPE,
                extra=[("Require", "siprec")],
            )
            final = client.final_response("1 INVITE")
        finally:
            client.close()
    assert (final.status, final.reason) == (503, "Disk space critical")
    assert final.header("Retry-After") == "120"
