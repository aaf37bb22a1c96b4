"""Rule files and RulesService builders shared by the rules tests (unit, API, CLI)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from siprec_appliance.appliance.rules_service import ReloadResult, RulesService
from siprec_appliance.resources import share_path

SCHEMA = share_path("schemas", "rules.schema.json")
VENDORS = Path(__file__).resolve().parent.parent / "data" / "sip" / "vendors"

DEFAULT_RULES = """\
# The default policy: record every call.
rules:
  - id: record-everything
    priority: 1000          # evaluated last
    when: always
    then:
      - record: true
"""
VIP_RULE = """\
  - id: vip
    priority: 10
    when:
      caller.e164: {in: {list: vip}}
    then:
      - record: {format: flac}
      - tag: [vip]
"""


def rules_service(
    directory: Path,
    *,
    default_record: bool = True,
    channels: frozenset[str] | None = None,
    on_reload: Callable[[ReloadResult], None] | None = None,
) -> RulesService:
    """A RulesService over ``directory`` with the shipped schema (not loaded yet)."""
    return RulesService(
        directory,
        SCHEMA,
        channels=channels,
        default_record=default_record,
        on_reload=on_reload or (lambda result: None),
    )


def unused_rules() -> RulesService:
    """Rules that a test never loads (the built-in record-all set is active)."""
    return rules_service(Path("unused-rules"))


def write_rules(directory: Path, files: dict[str, str]) -> Path:
    """Create ``directory`` holding ``files`` (name: text); return it."""
    directory.mkdir()
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory
