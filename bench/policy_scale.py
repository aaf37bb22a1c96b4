"""Policy benchmark at scale: reload time and µs per evaluation with 10 to 10,000 rules.

For each size it writes a realistic rule directory to a temporary directory (YAML,
split into files of at most 1,000 rules), loads it with the appliance's own loader
(``RulesService.reload()``: read the files, YAML, JSON Schema, semantic checks,
compile, build the index) and times that, then times ``RuleSet.evaluate`` per call
for three calls, with the index and with a linear scan of every rule
(``RuleSet(..., indexed=False)``). Every decision is checked to be the same both ways.

The rule mix (N rules in all): ``3 + N // 200`` rules that cannot be indexed (a
regex on the caller's AOR with ``stop``, a glob on the user agent, time windows, a
``not``), one ``when: always`` default record rule, and of the rest 15 % number
prefixes (``callee.e164: {prefix: …}``), 10 % source networks (IPv4 /16 to /32 and
IPv6 /48 and /64), 15 % tenant rules (``vendor`` and ``headers.x-tenant`` equals),
5 % named-list rules (``participants.e164`` in a list of 20 numbers, or
``source.address`` in a list of networks) and the remainder monitored numbers
(``participants.e164`` equals, written in varied formats, a quarter unquoted; every
tenth also within office hours).

The calls: "nothing specific" (no number, network or tenant of the rules),
"monitored number" (a participant's number has a rule) and "prefix + cidr" (the
callee's number is in a prefix rule and the source address in a network rule).

    .venv/bin/python bench/policy_scale.py [--sizes 10,1000,10000] [--seconds 1.5]
    .venv/bin/python bench/policy_scale.py --sizes 10000 --profile   # cProfile a reload

Timings are per call (``perf_counter_ns`` around each evaluate), with the loaded
objects frozen out of the GC (``gc.freeze()``, as the appliance does after start-up)
and the GC otherwise running; median and p99 in µs.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import gc
import ipaddress
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from siprec_appliance.appliance.rules_service import RulesService
from siprec_appliance.policy import RuleSet

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "schemas" / "rules.schema.json"
CHANNELS = frozenset({"compliance-mail", "ops-slack"})
NOW = datetime.datetime(2026, 3, 4, 10, 15, tzinfo=datetime.UTC)  # a Wednesday
RULES_PER_FILE = 1000
LIST_SIZE = 20
SHARES = {"prefix": 0.15, "cidr": 0.10, "tenant": 0.15, "listed": 0.05}
VENDORS = ("cisco", "oracle", "avaya", "ribbon", "audiocodes")


# --------------------------------------------------------------------------------------
# The rule set
# --------------------------------------------------------------------------------------


def monitored_number(index: int) -> str:
    """The E.164 number of monitored-number rule ``index`` (+31 20 1xx xxxx)."""
    return f"+3120{1000000 + index:07d}"


def written(number: str, index: int) -> str:
    """The number as people write it (the engine normalises all of these)."""
    digits = number[1:]
    shapes = (
        number,
        f"00{digits[:2]} {digits[2:4]} {digits[4:7]} {digits[7:]}",
        f"+{digits[:2]}-{digits[2:4]}-{digits[4:]}",
        f"+{digits[:2]} ({digits[2:4]}) {digits[4:7]} {digits[7:]}",
    )
    return shapes[index % len(shapes)]


def prefix_of(index: int) -> str:
    """A number prefix of 7 to 11 characters (+44 20 7…), distinct per index."""
    length = 3 + index % 5  # digits after +4420
    return f"+4420{index % 10**length:0{length}d}"


def network_of(index: int) -> str:
    """IPv4 /16, /24, /28, /32 and IPv6 /48, /64 networks, distinct per index."""
    kind = index % 6
    a, b, c = 10 + index // 65536 % 100, index // 256 % 256, index % 256
    if kind == 0:
        return f"172.{16 + index % 16}.0.0/16"  # few distinct ones: shared by rules
    if kind == 1:
        return f"{a}.{b}.{c}.0/24"
    if kind == 2:
        return f"{a}.{b}.{c}.16/28"
    if kind == 3:
        return f"{a}.{b}.{c}.7/32"
    if kind == 4:
        return f"2001:db8:{index:x}::/48"
    return f"2001:db8:ffff:{index:x}::/64"


def rule(rule_id: str, priority: int, when: str, then: str, extra: str = "") -> str:
    """One rule as YAML text (``when`` and ``then`` are flow-style YAML)."""
    return (
        f"  - id: {rule_id}\n    priority: {priority}\n    when: {when}\n    then: {then}\n{extra}"
    )


def counts(size: int) -> dict[str, int]:
    """How many rules of each kind a set of ``size`` rules has (see the docstring)."""
    unindexed = 3 + size // 200
    rest = size - 1 - unindexed
    kinds = {kind: max(1, round(rest * share)) for kind, share in SHARES.items()}
    kinds["monitored"] = rest - sum(kinds.values())
    kinds["unindexed"] = unindexed
    kinds["default"] = 1
    return kinds


def monitored_rules(count: int) -> list[str]:
    office = "time: {timezone: Europe/Amsterdam, days: [mon, tue, wed, thu, fri], "
    office += 'from: "08:00", to: "18:00"}'
    rules = []
    for i in range(count):
        number = written(monitored_number(i), i)
        number = number if i % 4 == 0 else f'"{number}"'  # YAML reads +3120… as an int
        when = f"{{participants.e164: {number}}}"
        if i % 10 == 9:
            when = f"{{all: [{{participants.e164: {number}}}, {{{office}}}]}}"
        then = "[{record: {format: flac, layout: both}}, {tag: [monitored]}, {retain: 3650}]"
        rules.append(rule(f"monitored-{i}", 10 + i % 10, when, then))
    return rules


def prefix_rules(count: int) -> list[str]:
    return [
        rule(
            f"prefix-{i}",
            100 + i % 10,
            f'{{callee.e164: {{prefix: "{prefix_of(i)}"}}}}',
            f"[{{tag: [range-{i}]}}, {{retain: 400}}]",
        )
        for i in range(count)
    ]


def cidr_rules(count: int) -> list[str]:
    return [
        rule(
            f"network-{i}",
            200 + i % 10,
            f'{{source.address: {{cidr: "{network_of(i)}"}}}}',
            f"[{{tag: [site-{i}]}}]",
        )
        for i in range(count)
    ]


def tenant_rules(count: int) -> list[str]:
    return [
        rule(
            f"tenant-{i}",
            300 + i % 10,
            f"{{vendor: {VENDORS[i % len(VENDORS)]}, headers.X-Tenant: tenant-{i:05d}}}",
            f"[{{tag: [tenant=t{i}]}}, {{retain: 90}}]",
        )
        for i in range(count)
    ]


def listed(count: int) -> tuple[dict[str, list[str]], list[str]]:
    """Named lists (numbers, networks) and the rules that use them (~10 rules a list)."""
    lists: dict[str, list[str]] = {}
    rules = []
    for i in range(count):
        group = i // 10
        if i % 4 == 3:
            name = f"networks-{group}"
            lists[name] = [
                f"100.{64 + group % 64}.{group // 64 % 256}.{n * 8}/29" for n in range(8)
            ]
            when = f"{{source.address: {{cidr: {{list: {name}}}}}}}"
        else:
            name = f"team-{group}"
            lists[name] = [f"+3130{group:04d}{n:03d}" for n in range(LIST_SIZE)]
            direction = ("inbound", "outbound", "internal")[i % 3]
            when = f"{{participants.e164: {{in: {{list: {name}}}}}, direction: {direction}}}"
        rules.append(rule(f"listed-{i}", 50 + i % 10, when, f"[{{tag: [team-{group}]}}]"))
    return lists, rules


def unindexed_rules(count: int) -> list[str]:
    """Rules the index cannot narrow: evaluated for every call."""
    shapes: tuple[Callable[[int], tuple[str, str, str]], ...] = (
        lambda i: (
            f'{{caller.aor: {{regex: "^sip:robot{i}[0-9]*@"}}}}',
            "[{record: false}]",
            "    stop: true\n",
        ),
        lambda i: (f'{{headers.user-agent: {{glob: "Bot-{i}/*"}}}}', "[{tag: [bot]}]", ""),
        lambda i: (
            f'{{time: {{timezone: Europe/Amsterdam, days: [sat, sun], from: "{i % 24:02d}:00"}}}}',
            "[{tag: [weekend]}]",
            "",
        ),
        lambda i: (f"{{not: {{transport: tls}}, media.m_lines: {{ge: {2 + i}}}}}", "[]", ""),
    )
    rules = []
    for i in range(count):
        when, then, extra = shapes[i % len(shapes)](i)
        then = then if then != "[]" else "[{tag: [plain]}]"
        rules.append(rule(f"special-{i}", 500 + i % 10, when, then, extra))
    return rules


def write_rules(directory: Path, size: int) -> dict[str, int]:
    """Write a rule set of ``size`` rules as YAML files; returns the count per kind."""
    kinds = counts(size)
    lists, list_rules = listed(kinds["listed"])
    groups = {
        "10-monitored": monitored_rules(kinds["monitored"]),
        "20-listed": list_rules,
        "30-prefixes": prefix_rules(kinds["prefix"]),
        "40-networks": cidr_rules(kinds["cidr"]),
        "50-tenants": tenant_rules(kinds["tenant"]),
        "60-special": unindexed_rules(kinds["unindexed"]),
    }
    for stem, rules in groups.items():
        for part in range(0, len(rules), RULES_PER_FILE):
            text = "rules:\n" + "".join(rules[part : part + RULES_PER_FILE])
            (directory / f"{stem}-{part // RULES_PER_FILE:02d}.yaml").write_text(text)
    list_text = "".join(
        f"  {name}: [{', '.join(repr(value) for value in values)}]\n"
        for name, values in lists.items()
    )
    (directory / "05-lists.yaml").write_text("lists:\n" + list_text if lists else "")
    (directory / "99-default.yaml").write_text(
        "rules:\n" + rule("record-everything", 1000, "always", "[{record: true}]")
    )
    return kinds


# --------------------------------------------------------------------------------------
# The calls
# --------------------------------------------------------------------------------------


def _participant(pid: str, e164: str | None, role: str) -> dict[str, Any]:
    aor = f"sip:{e164 or pid}@sbc.example.com"
    return {"id": pid, "aor": aor, "name": None, "e164": e164, "role": role}


def call(caller: str, callee: str, source: str, tenant: str) -> dict[str, Any]:
    """Call facts as the appliance builds them (docs/call-facts.md), the main keys."""
    return {
        "vendor": "cisco",
        "vendor_confidence": 0.9,
        "call_id": "b2b-1@203.0.113.9",
        "transport": "udp",
        "source.address": source,
        "source.port": 5060,
        "direction": "inbound",
        "caller.aor": f"sip:{caller}@sbc.example.com",
        "callee.aor": f"sip:{callee}@pbx.example.com",
        "caller.e164": caller,
        "callee.e164": callee,
        "media.m_lines": 2,
        "media.codecs": ["pcmu", "telephone-event"],
        "headers.user-agent": "Cisco-SIPGateway/IOS-16.10.2",
        "headers.x-tenant": tenant,
        "participants": [
            _participant("p0", caller, "caller"),
            _participant("p1", callee, "callee"),
        ],
        "warnings": [],
    }


def calls(kinds: dict[str, int]) -> dict[str, dict[str, Any]]:
    """The three calls; the matching ones hit rules in the middle of their files."""
    monitored = monitored_number(kinds["monitored"] // 2)
    prefix = prefix_of(kinds["prefix"] // 2) + "0123"
    network = ipaddress.ip_network(network_of(kinds["cidr"] // 2))
    source = network[0] if network.num_addresses == 1 else network[1]
    return {
        "nothing specific": call("+14155550142", "+15035550100", "203.0.113.9", "t-none"),
        "monitored number": call(monitored, "+15035550100", "203.0.113.9", "t-none"),
        "prefix + cidr": call("+14155550142", prefix, str(source), "t-none"),
    }


# --------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------


def reload_once(directory: Path) -> tuple[RuleSet, float]:
    """One real reload of the directory; the rule set and the time in ms."""
    service = RulesService(directory, SCHEMA, channels=CHANNELS, default_record=True)
    start = time.perf_counter()
    result = service.reload()
    elapsed = (time.perf_counter() - start) * 1000
    if not result.ok:
        raise SystemExit(f"the generated rules do not load: {result.errors[:3]}")
    return service.current, elapsed


def measure(rule_set: RuleSet, facts: dict[str, Any], seconds: float) -> list[float]:
    """µs per evaluation, one sample per call, for about ``seconds`` (200 to 20,000)."""
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(samples) < 20000 and (len(samples) < 200 or time.perf_counter() < deadline):
        start = time.perf_counter_ns()
        rule_set.evaluate(facts, NOW)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return samples


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def run_size(size: int, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="policy-bench-") as tmp:
        directory = Path(tmp)
        kinds = write_rules(directory, size)
        reloads = [reload_once(directory) for _ in range(args.reloads)]
        rule_set = reloads[-1][0]
        times = sorted(elapsed for _, elapsed in reloads)
        files = len(list(directory.glob("*.yaml")))
        index = rule_set.index
        always = len(index.always) if index is not None else len(rule_set.rules)
        print(
            f"\n{len(rule_set.rules)} rules in {files} files "
            f"({', '.join(f'{kind} {count}' for kind, count in kinds.items())}); "
            f"{always} evaluated for every call"
        )
        print(
            f"  reload (read + YAML + schema + checks + compile + index): "
            f"median {statistics.median(times):.0f} ms, min {times[0]:.0f} ms "
            f"({len(times)} runs)"
        )
        scan = rule_set.linear()
        gc.collect()
        gc.freeze()
        for name, facts in calls(kinds).items():
            fast, slow = rule_set.evaluate(facts, NOW), scan.evaluate(facts, NOW)
            assert fast == slow, f"{name}: the index changed the decision"
            indexed = measure(rule_set, facts, args.seconds)
            scanned = measure(scan, facts, args.seconds)
            print(
                f"  {name:17s} indexed median {statistics.median(indexed):8.1f} µs "
                f"p99 {p99(indexed):8.1f} µs | linear median "
                f"{statistics.median(scanned):8.1f} µs p99 {p99(scanned):8.1f} µs "
                f"| matched {len(fast.matched)}: {', '.join(fast.matched_rule_ids[:3])}"
            )
        gc.unfreeze()


def profile(size: int) -> None:
    """cProfile one reload of ``size`` rules; the 25 costliest functions (cumulative)."""
    with tempfile.TemporaryDirectory(prefix="policy-bench-") as tmp:
        write_rules(Path(tmp), size)
        profiler = cProfile.Profile()
        profiler.enable()
        reload_once(Path(tmp))
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,1000,10000")
    parser.add_argument("--seconds", type=float, default=1.5, help="time per measurement")
    parser.add_argument("--reloads", type=int, default=3, help="reloads timed per size")
    parser.add_argument("--profile", action="store_true", help="cProfile one reload instead")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    if args.profile:
        profile(max(sizes))
        return
    print(f"evaluate at {NOW.isoformat()}; per-call samples for ~{args.seconds} s each")
    for size in sizes:
        run_size(size, args)


if __name__ == "__main__":
    main()
