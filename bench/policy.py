"""Policy benchmark: µs per ``RuleSet.evaluate`` over the shipped rule files.

Compiles ``rules/*.yaml`` plus ``rules/examples/*.yaml`` (20 rules using every
operator, named lists, time windows and participant tests), then times
evaluation for three calls: one that only the default rule matches, one with a
monitored participant, and one that a ``stop`` rule ends early. Prints the
compile time and, per call, the best batch (the least disturbed by other load), the
median and p99 in µs per evaluation (batches of 100).

    .venv/bin/python bench/policy.py [--repeat 20000]
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import statistics
import time
from pathlib import Path
from typing import Any

from siprec_appliance.policy import RuleSet, compile_rule_set

ROOT = Path(__file__).resolve().parents[1]
CHANNELS = frozenset({"compliance-mail", "ops-slack"})
NOW = datetime.datetime(2026, 3, 4, 10, 15, tzinfo=datetime.UTC)


def _participant(pid: str, aor: str, e164: str | None, role: str) -> dict[str, Any]:
    return {
        "id": pid,
        "aor": aor,
        "name": None,
        "e164": e164,
        "role": role,
        "sends": [0],
        "receives": [1],
        "ext": {},
    }


def _base_facts() -> dict[str, Any]:
    return {
        "vendor": "cisco",
        "vendor_confidence": 0.9,
        "call_id": "b2b-1@203.0.113.9",
        "transport": "udp",
        "source.address": "203.0.113.9",
        "source.port": 5060,
        "direction": "outbound",
        "caller.aor": "sip:4021@pbx.example.com",
        "callee.aor": "sip:+14155550142@carrier.example.net",
        "caller.name": "Front desk",
        "callee.e164": "+14155550142",
        "media.m_lines": 2,
        "media.codecs": ["pcmu", "telephone-event"],
        "headers.user-agent": "Cisco-SIPGateway/IOS-16.10.2",
        "participants": [
            _participant("p0", "sip:4021@pbx.example.com", None, "caller"),
            _participant("p1", "sip:+14155550142@carrier.example.net", "+14155550142", "callee"),
        ],
        "warnings": [],
    }


def calls() -> dict[str, dict[str, Any]]:
    """Three calls exercising different paths through the rules."""
    default_only = _base_facts()
    monitored = _base_facts() | {"caller.e164": "+31201234567", "vendor": "oracle"}
    monitored["participants"] = [
        _participant("p0", "sip:+31201234567@sbc.example.com", "+31201234567", "caller"),
        *default_only["participants"][1:],
    ]
    robot = _base_facts() | {"caller.aor": "sip:robot@monitor.example.com"}
    return {"default only": default_only, "monitored": monitored, "robot (stop)": robot}


def load() -> tuple[RuleSet, float]:
    schema = json.loads((ROOT / "schemas" / "rules.schema.json").read_text())
    paths = sorted((ROOT / "rules").glob("*.yaml")) + sorted(
        (ROOT / "rules" / "examples").glob("*.yaml")
    )
    files = [(path.name, path.read_text()) for path in paths]
    start = time.perf_counter()
    rule_set = compile_rule_set(files, schema=schema, channels=CHANNELS)
    return rule_set, (time.perf_counter() - start) * 1000


def measure(rule_set: RuleSet, facts: dict[str, Any], repeat: int) -> list[float]:
    """µs per evaluation, in batches of 100 (timer overhead amortised)."""
    samples: list[float] = []
    for _ in range(max(1, repeat // 100)):
        start = time.perf_counter_ns()
        for _ in range(100):
            rule_set.evaluate(facts, NOW)
        samples.append((time.perf_counter_ns() - start) / 100 / 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20000)
    args = parser.parse_args()
    rule_set, compile_ms = load()
    print(
        f"{len(rule_set.rules)} rules, version {rule_set.version}, compiled in {compile_ms:.1f} ms"
    )
    gc.disable()
    for name, facts in calls().items():
        decision = rule_set.evaluate(facts, NOW)
        samples = sorted(measure(rule_set, facts, args.repeat))
        p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
        print(
            f"{name:14s} best {samples[0]:6.1f} µs  median {statistics.median(samples):6.1f} µs  "
            f"p99 {p99:6.1f} µs  "
            f"matched {', '.join(decision.matched_rule_ids)}"
        )
    gc.enable()


if __name__ == "__main__":
    main()
