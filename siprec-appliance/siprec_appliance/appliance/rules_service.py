"""The recording rules of the running appliance: load, watch, validate, edit, dry-run.

:class:`RulesService` reads every ``*.yaml`` directly in the rules directory (in
file-name order; hidden files and subdirectories such as ``rules/examples/`` are not
read), compiles them as one set with the pure engine (:mod:`siprec_appliance.policy`)
and keeps the result in :attr:`RulesService.current`. A reload builds a whole new
:class:`~siprec_appliance.policy.RuleSet` and swaps it in at once; when any file has a
problem the last good set stays. Until a first load succeeds, a built-in set that
records every call is active, so a typo never stops recording.

A watcher (``watchfiles``, inotify) reloads on every change to a rule file; edits
through :meth:`RulesService.write`, :meth:`~RulesService.upsert` and
:meth:`~RulesService.remove` are validated against the other files first, written
atomically (temporary file in the same directory, then ``os.replace``) and applied
at once. Everything here runs on the event loop's thread: the rule files are small.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import secrets
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from watchfiles import Change, awatch

from siprec_appliance.policy import (
    Decision,
    RuleProblem,
    RulesError,
    RuleSet,
    compile_rule_set,
    remove_rule,
    rule_set_version,
    upsert_rule,
    validate_texts,
)
from siprec_appliance.siprec.invite_facts import InviteFacts, invite_facts

__all__ = [
    "FALLBACK_RULE_ID",
    "ReloadResult",
    "RuleFileNameError",
    "RuleFileNotFoundError",
    "RulesService",
    "check_file_name",
]

log = logging.getLogger("siprec.rules")

FALLBACK_RULE_ID = "builtin-record-all"
FALLBACK_FILE = "<builtin>"
_FALLBACK_TEXT = f"""\
rules:
  - id: {FALLBACK_RULE_ID}
    description: No rule file could be loaded yet; record every call.
    priority: 1000000
    when: always
    then:
      - record: true
"""
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\.yaml")
WATCH_DEBOUNCE_MS = 200  # longest a burst of changes is grouped before a reload
WATCH_STEP_MS = 50  # a reload follows the last change of a burst after this long
WATCH_POLL_MS = 5000  # also compare the files this often (inotify misses some mounts)
WATCH_RETRY_SECONDS = 1.0  # the directory is missing or the watcher failed: retry
_STOP_TIMEOUT = 2.0

Files = list[tuple[str, str]]


class RuleFileNameError(ValueError):
    """A rule file name that is not ``NAME.yaml`` directly in the rules directory."""


class RuleFileNotFoundError(LookupError):
    """The rule file to edit does not exist."""


def check_file_name(name: str) -> str:
    """``name`` if it is a plain rule file name (letters, digits, ``._-``, ``.yaml``)."""
    if not _FILE_NAME.fullmatch(name):
        raise RuleFileNameError(
            f"invalid rule file name {name!r}: letters, digits, '.', '_' and '-', "
            "not starting with '.', ending in .yaml"
        )
    return name


def _is_rule_file(path: Path) -> bool:
    return path.suffix == ".yaml" and not path.name.startswith(".") and path.is_file()


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """The outcome of one reload.

    ``ok``: every file loaded and the new set is active. ``version`` is the active
    set's version afterwards (unchanged when not ``ok``), ``previous_version`` the one
    before; ``changed``: a set with another version was swapped in. ``errors`` lists
    every problem found (empty when ``ok``); ``files`` the files read.
    """

    ok: bool
    version: str
    previous_version: str
    changed: bool
    errors: tuple[RuleProblem, ...]
    files: tuple[str, ...]
    rules: int  # rules in the active set
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the API."""
        return {
            "ok": self.ok,
            "version": self.version,
            "previous_version": self.previous_version,
            "changed": self.changed,
            "errors": [problem.to_dict() for problem in self.errors],
            "files": list(self.files),
            "rules": self.rules,
            "at": _iso(self.at),
        }


@dataclass(slots=True)
class _Watch:
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class RulesService:
    """The rules directory as a live :class:`RuleSet` (see the module docstring).

    ``channels``: the configured alert channel names (None: not checked);
    ``default_record``: what applies when no rule sets ``record``; ``on_reload`` is
    called after every load, also a failed one (log it, raise an alert).
    """

    def __init__(
        self,
        directory: Path,
        schema_path: Path,
        *,
        channels: frozenset[str] | None,
        default_record: bool,
        on_reload: Callable[[ReloadResult], None] = lambda result: None,
    ) -> None:
        self.directory = Path(directory)
        self._watched = {self.directory.absolute(), self.directory.resolve()}
        self.channels = channels
        self.default_record = default_record
        self._on_reload = on_reload
        self._schema: dict[str, Any] = json.loads(schema_path.read_text(encoding="utf-8"))
        self._current = compile_rule_set(
            [(FALLBACK_FILE, _FALLBACK_TEXT)], schema=self._schema, default_record=default_record
        )
        self._fallback = True
        self._errors: list[RuleProblem] = []
        self._loaded_at: datetime | None = None
        self._last: ReloadResult | None = None
        self._attempted: tuple[str, tuple[RuleProblem, ...]] | None = None
        self._watch: _Watch | None = None
        self._pending: set[asyncio.Task[None]] = set()  # reload_soon() in progress

    # ------------------------------------------------------------------ state
    @property
    def current(self) -> RuleSet:
        """The active rule set: the last good one (or the built-in record-all set)."""
        return self._current

    @property
    def version(self) -> str:
        """The active set's version."""
        return self._current.version

    @property
    def errors(self) -> list[RuleProblem]:
        """The problems of the last load (empty after a good one)."""
        return list(self._errors)

    @property
    def loaded_at(self) -> datetime | None:
        """When the active set was loaded from the files (None: the built-in set)."""
        return self._loaded_at

    @property
    def fallback(self) -> bool:
        """True while the built-in record-everything set is active."""
        return self._fallback

    @property
    def last_reload(self) -> ReloadResult | None:
        """The outcome of the last load, if any."""
        return self._last

    # ------------------------------------------------------------------ loading
    def reload(self) -> ReloadResult:
        """Read and compile every file; swap the new set in, or keep the last good one."""
        files, problems = self._read_files()
        return self._install(files, problems)

    def _read_files(self) -> tuple[Files, list[RuleProblem]]:
        try:
            paths = sorted(p for p in self.directory.iterdir() if _is_rule_file(p))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            problem = RuleProblem(str(self.directory), 0, 0, f"cannot read the directory: {reason}")
            return [], [problem]
        files: Files = []
        problems: list[RuleProblem] = []
        for path in paths:
            try:
                files.append((path.name, path.read_text(encoding="utf-8")))
            except UnicodeDecodeError as exc:
                problems.append(RuleProblem(path.name, 0, 0, f"not UTF-8 text: {exc.reason}"))
            except OSError as exc:
                problems.append(RuleProblem(path.name, 0, 0, f"cannot read: {exc.strerror}"))
        return files, problems

    async def reload_off_loop(self, *, force: bool = True) -> ReloadResult | None:
        """:meth:`reload` (without ``force``: only if the files differ from the last
        attempt, so a write of ours, a touch or the same broken text saved again raise
        one alert per change) with the
        reading and compiling in a thread: a large rule set takes seconds to parse
        (10,000 rules: ~30 s, docs/benchmarks.md) and SIP must go on meanwhile. The
        swap happens back on the loop; until then the last set stays active."""
        files, problems = await asyncio.to_thread(self._read_files)
        attempt = (rule_set_version(files), tuple(problems))  # before compile errors
        if not force and self._attempted == attempt:
            return None
        candidate = None
        if not problems:
            candidate = await asyncio.to_thread(self._compile, files, problems)
        return self._commit(attempt, files, problems, candidate)

    def _install(self, files: Files, problems: list[RuleProblem]) -> ReloadResult:
        attempt = (rule_set_version(files), tuple(problems))
        candidate = None if problems else self._compile(files, problems)
        return self._commit(attempt, files, problems, candidate)

    def _commit(
        self,
        attempt: tuple[str, tuple[RuleProblem, ...]],
        files: Files,
        problems: list[RuleProblem],
        candidate: RuleSet | None,
    ) -> ReloadResult:
        previous = self._current
        self._attempted = attempt
        at = _now()
        if candidate is not None:
            self._current, self._fallback, self._loaded_at = candidate, False, at
        self._errors = sorted(set(problems))
        result = ReloadResult(
            ok=candidate is not None,
            version=self._current.version,
            previous_version=previous.version,
            changed=self._current.version != previous.version,
            errors=tuple(self._errors),
            files=tuple(name for name, _ in files),
            rules=len(self._current.rules),
            at=at,
        )
        self._last = result
        self._notify(result)
        return result

    def _compile(self, files: Files, problems: list[RuleProblem]) -> RuleSet | None:
        try:
            return compile_rule_set(
                files,
                schema=self._schema,
                channels=self.channels,
                default_record=self.default_record,
            )
        except RulesError as exc:
            problems.extend(exc.errors)
        except Exception as exc:  # an engine bug must not take the last good set away
            log.exception("rules: compiling %s failed", self.directory)
            problems.append(RuleProblem(str(self.directory), 0, 0, f"internal error: {exc!r}"))
        return None

    def _notify(self, result: ReloadResult) -> None:
        try:
            self._on_reload(result)
        except Exception:
            log.exception("rules: the reload callback failed")

    # ------------------------------------------------------------------ watching
    async def start(self) -> None:
        """Load the files, then reload whenever one of them changes."""
        if self._watch is not None:
            return
        watch = self._watch = _Watch()
        watch.task = asyncio.create_task(self._watch_loop(watch.stop), name="rules-watch")
        await asyncio.sleep(0)  # the task's first step sets up inotify: no change is missed
        self.reload()

    async def stop(self) -> None:
        """Stop watching (the active set stays usable)."""
        watch, self._watch = self._watch, None
        if watch is None or watch.task is None:
            return
        watch.stop.set()
        done, _ = await asyncio.wait([watch.task], timeout=_STOP_TIMEOUT)
        if not done:
            watch.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch.task

    async def _watch_loop(self, stop: asyncio.Event) -> None:
        failed = False
        while not stop.is_set():
            try:
                async for _ in awatch(
                    self.directory,
                    watch_filter=self._relevant,
                    debounce=WATCH_DEBOUNCE_MS,
                    step=WATCH_STEP_MS,
                    stop_event=stop,
                    recursive=False,
                    rust_timeout=WATCH_POLL_MS,
                    yield_on_timeout=True,
                ):
                    await self._reload_safely()
                    failed = False
            except Exception as exc:  # FileNotFoundError: the directory is gone
                if not failed:
                    log.warning("rules: cannot watch %s (%s); retrying", self.directory, exc)
                failed = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), WATCH_RETRY_SECONDS)
            if not stop.is_set():
                await self._reload_safely()  # whatever changed while not watching

    async def _reload_safely(self, *, force: bool = False) -> None:
        try:
            await self.reload_off_loop(force=force)
        except Exception:
            log.exception("rules: reload after a file change failed")

    def reload_soon(self) -> None:
        """Force a reload off the loop (SIGHUP); the outcome goes to ``on_reload``."""
        task = asyncio.get_running_loop().create_task(self._reload_safely(force=True))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _relevant(self, change: Change, path: str) -> bool:
        """A rule file directly in the directory (not an editor's temporary file)."""
        candidate = Path(path)
        return (
            candidate.parent in self._watched
            and candidate.suffix == ".yaml"
            and not candidate.name.startswith(".")
        )

    # ------------------------------------------------------------------ editing
    def validate(self, file_name: str, text: str) -> list[RuleProblem]:
        """The problems of ``text`` as ``file_name`` next to the other files on disk."""
        check_file_name(file_name)
        others, _ = self._read_files()
        return validate_texts(file_name, text, others, schema=self._schema, channels=self.channels)

    def write(self, file_name: str, text: str) -> ReloadResult | list[RuleProblem]:
        """Save ``text`` as ``file_name`` if it is valid, then reload at once.

        Returns the problems (nothing written) or the reload's result. The file is
        replaced atomically and keeps its permissions.
        """
        path = self.directory / check_file_name(file_name)
        problems = self.validate(file_name, text)
        if problems:
            return problems
        _atomic_write(path, text)
        log.info("rules: %s written", path)
        return self.reload()

    def upsert(self, file_name: str, rule: Mapping[str, Any]) -> ReloadResult | list[RuleProblem]:
        """Replace the rule with ``rule["id"]`` in ``file_name`` (or append it; a missing
        file is created); the rest of the file stays byte for byte. As :meth:`write`."""
        path = self.directory / check_file_name(file_name)
        old = self._read_for_edit(path, missing_ok=True)
        if isinstance(old, list):
            return old
        try:
            text = upsert_rule(old, rule)
        except RulesError as exc:
            return _located(exc.errors, file_name)
        except ValueError as exc:
            return [RuleProblem(file_name, 0, 0, str(exc))]
        return self.write(file_name, text)

    def remove(self, file_name: str, rule_id: str) -> ReloadResult | list[RuleProblem]:
        """Delete rule ``rule_id`` from ``file_name`` (its lines only). As :meth:`write`.

        Raises :class:`RuleFileNotFoundError` or
        :class:`~siprec_appliance.policy.RuleNotFoundError` (both ``LookupError``).
        """
        path = self.directory / check_file_name(file_name)
        old = self._read_for_edit(path, missing_ok=False)
        if isinstance(old, list):
            return old
        try:
            text = remove_rule(old, rule_id)
        except RulesError as exc:
            return _located(exc.errors, file_name)
        return self.write(file_name, text)

    def _read_for_edit(self, path: Path, *, missing_ok: bool) -> str | list[RuleProblem]:
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if missing_ok:
                return ""
            raise RuleFileNotFoundError(f"no rule file {path.name!r}") from None
        except UnicodeDecodeError as exc:
            return [RuleProblem(path.name, 0, 0, f"not UTF-8 text: {exc.reason}")]

    # ------------------------------------------------------------------ dry runs
    def test(self, facts: Mapping[str, Any], now: datetime | None = None) -> Decision:
        """The decision the active set makes for ``facts`` at ``now`` (default: now)."""
        return self._current.evaluate(facts, now if now is not None else _now())

    def facts_from_invite(
        self,
        text: str | bytes,
        source: tuple[str, int] = ("127.0.0.1", 5060),
        transport: str = "udp",
    ) -> dict[str, Any]:
        """The call facts the SRS would build for this INVITE (raises ``InviteError``)."""
        return dict(self.invite_facts(text, source, transport).facts)

    def invite_facts(
        self,
        text: str | bytes,
        source: tuple[str, int] = ("127.0.0.1", 5060),
        transport: str = "udp",
    ) -> InviteFacts:
        """:meth:`facts_from_invite` with the notes (metadata that did not parse, ...)."""
        host, port = source
        return invite_facts(text, source_host=host, source_port=port, transport=transport)

    # ------------------------------------------------------------------ the API view
    def describe(self) -> dict[str, Any]:
        """The directory, its files (text, mtime), the active set and the last errors."""
        active = self._current.to_dict()
        last = self._last
        return {
            "directory": str(self.directory),
            "version": self._current.version,
            "default_record": self.default_record,
            "fallback": self._fallback,
            "loaded_at": _iso(self._loaded_at),
            "files": self._file_views(),
            "active_files": active["files"],
            "rules": active["rules"],
            "lists": active["lists"],
            "errors": [problem.to_dict() for problem in self._errors],
            "last_reload": None if last is None else last.to_dict(),
        }

    def _file_views(self) -> list[dict[str, Any]]:
        try:
            paths = sorted(p for p in self.directory.iterdir() if _is_rule_file(p))
        except OSError:
            return []
        views = []
        for path in paths:
            try:
                raw = path.read_bytes()
                mtime = path.stat().st_mtime
            except OSError:
                continue
            views.append(
                {
                    "name": path.name,
                    "text": raw.decode("utf-8", "replace"),
                    "size": len(raw),
                    "mtime": _iso(datetime.fromtimestamp(mtime, UTC)),
                }
            )
        return views


def _located(problems: Sequence[RuleProblem], file_name: str) -> list[RuleProblem]:
    """The editing functions name the text ``<edited file>``: use the real name."""
    return sorted(RuleProblem(file_name, p.line, p.column, p.message) for p in problems)


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory.

    The file keeps its mode; a new one gets 0666 less the umask (applied by the
    kernel: the process-wide umask is never changed, other threads write files too).
    """
    try:
        mode: int | None = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = None
    temporary, descriptor = _create_temporary(path)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as sink:
            sink.write(text)
            sink.flush()
            os.fsync(sink.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)


def _create_temporary(path: Path) -> tuple[Path, int]:
    """A new hidden file next to ``path`` (the watcher and the loader skip it)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return temporary, os.open(temporary, flags, 0o666)
        except FileExistsError:
            continue


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
