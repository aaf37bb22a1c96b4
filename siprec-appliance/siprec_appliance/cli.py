"""``siprecctl``: the operator's command line for the appliance's REST API (stdlib only).

Exit codes: 0 success, 1 the API answered with an error (or said that what was asked
failed: a rule file with errors, a failed rules reload, an undelivered test alert),
2 usage error, 3 cannot connect to the API.

New commands are one entry in :data:`COMMANDS`: the words that select it, the request
it sends and how its answer is printed; the argument parser is built from that table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TextIO

from siprec_appliance.appliance.auth import TOKEN_FILE_NAME

__all__ = ["COMMANDS", "ApiRequest", "Command", "main"]

EXIT_OK = 0
EXIT_API_ERROR = 1
EXIT_USAGE = 2
EXIT_CONNECT = 3

DEFAULT_TIMEOUT = 10.0


class CliError(Exception):
    """Ends the command with ``exit_code`` after printing the message to stderr."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# --------------------------------------------------------------------------------------
# The command table
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One HTTP request to the API."""

    method: str
    path: str
    body: Any = None  # sent as JSON when not None


@dataclass(frozen=True, slots=True)
class Argument:
    """A positional argument of a command (``nargs="+"``: one or more)."""

    name: str
    help: str
    nargs: str | None = None


@dataclass(frozen=True, slots=True)
class Option:
    """An optional ``--flag VALUE`` of a command (``dest`` from the long flag)."""

    flags: tuple[str, ...]
    help: str
    type: Callable[[str], Any] = str


Caller = Callable[[ApiRequest], Any]  # sends one request, returns the decoded answer


def _always_ok(body: Any) -> int:
    return EXIT_OK


@dataclass(frozen=True, slots=True)
class Command:
    """A leaf command: how to build its request and how to print the answer.

    With ``download`` the answer is not JSON: its body is streamed to the file that
    ``download`` names, and ``render`` prints ``{"path", "bytes"}``. A command that
    sends several requests gives ``execute`` instead of ``request``: it gets the
    arguments and a function sending one request, and returns what ``render`` prints.
    ``exit_code`` turns the answer into the exit code (an answer such as "the file has
    errors" is not an HTTP error, but scripts want to see it).
    """

    help: str
    render: Callable[[Any], str]
    request: Callable[[argparse.Namespace], ApiRequest] | None = None
    execute: Callable[[argparse.Namespace, Caller], Any] | None = None
    arguments: tuple[Argument, ...] = field(default=())
    options: tuple[Option, ...] = field(default=())
    download: Callable[[argparse.Namespace], Path] | None = None
    exit_code: Callable[[Any], int] = _always_ok


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _format_duration(seconds: float) -> str:
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours:d}h{minutes:02d}m{secs:02d}s"
    return f"{days}d{text}" if days else text


def _render_health(body: Any) -> str:
    return _render_pairs(
        [
            ("status", body.get("status")),
            ("version", body.get("version")),
            ("uptime", _format_duration(float(body.get("uptime_seconds", 0)))),
            ("active sessions", body.get("active_sessions")),
        ]
    )


def _render_pairs(pairs: Sequence[tuple[str, Any]]) -> str:
    width = max(len(name) for name, _ in pairs)
    return "\n".join(f"{name + ':':<{width + 1}} {_cell(value)}" for name, value in pairs)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value) or "-"
    return str(value)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table with columns padded to their widest cell."""
    cells = [list(headers)] + [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in cells
    ]
    return "\n".join(line.rstrip() for line in lines)


def _short_time(iso: Any) -> str:
    if not isinstance(iso, str):
        return "-"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _render_session_list(body: Any) -> str:
    sessions = body.get("sessions", [])
    if not sessions:
        return "no active sessions"
    rows = [
        (
            session.get("id"),
            session.get("state"),
            session.get("src_address"),
            session.get("transport"),
            len(session.get("streams", [])),
            "yes" if session.get("is_siprec") else "no",
            _short_time(session.get("started_at")),
            session.get("call_id"),
        )
        for session in sessions
    ]
    headers = ("ID", "STATE", "SOURCE", "TRANSPORT", "STREAMS", "SIPREC", "STARTED", "CALL-ID")
    return render_table(headers, rows)


def _render_session(body: Any) -> str:
    pairs = [
        ("id", body.get("id")),
        ("call-id", body.get("call_id")),
        ("state", body.get("state")),
        ("source", body.get("src_address")),
        ("transport", body.get("transport")),
        ("siprec", body.get("is_siprec")),
        ("metadata parts", body.get("metadata_parts")),
        ("started", _short_time(body.get("started_at"))),
        ("ended", _short_time(body.get("ended_at")) if body.get("ended_at") else None),
        ("end reason", body.get("end_reason")),
        ("warnings", "; ".join(body.get("warnings", [])) or None),
    ]
    streams = body.get("streams", [])
    if not streams:
        return _render_pairs(pairs) + "\n\nno streams"
    rows = [
        (
            stream.get("index"),
            stream.get("label"),
            stream.get("port"),
            stream.get("rtcp_port"),
            stream.get("codecs"),
            stream.get("direction"),
            stream.get("paused"),
            stream.get("packets"),
        )
        for stream in streams
    ]
    headers = ("#", "LABEL", "PORT", "RTCP", "CODECS", "DIRECTION", "PAUSED", "PACKETS")
    return _render_pairs(pairs) + "\n\n" + render_table(headers, rows)


def _render_terminated(body: Any) -> str:
    return f"session {body.get('id')}: {body.get('state')}"


def _render_paused(body: Any) -> str:
    return f"session {body.get('id')}: recording {'paused' if body.get('paused') else 'resumed'}"


# --- recordings ---------------------------------------------------------------------

_LIST_FILTERS = (
    "call_id", "participant", "vendor", "correlation_id", "status", "since", "until",
    "limit", "offset",
)  # fmt: skip


def _positive(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


_positive.__name__ = "non-negative integer"  # argparse's "invalid ... value" message


def _recordings_query(args: argparse.Namespace) -> ApiRequest:
    given = {name: getattr(args, name) for name in _LIST_FILTERS}
    query = urllib.parse.urlencode({k: v for k, v in given.items() if v is not None})
    return ApiRequest("GET", "/api/recordings" + (f"?{query}" if query else ""))


def _who(recording: Any) -> str:
    names = [
        p.get("e164") or p.get("aor") or p.get("name") for p in recording.get("participants") or []
    ]
    return ",".join(str(n) for n in names if n) or "-"


def _seconds(value: Any) -> str | None:
    return None if value is None else _format_duration(float(value))


def _render_recording_list(body: Any) -> str:
    recordings = body.get("recordings", [])
    if not recordings:
        return "no recordings"
    rows = [
        (
            r.get("id"),
            r.get("status"),
            _short_time(r.get("started_at")),
            _seconds(r.get("duration")),
            r.get("vendor"),
            _who(r),
            r.get("call_id"),
        )
        for r in recordings
    ]
    headers = ("ID", "STATUS", "STARTED", "DURATION", "VENDOR", "PARTICIPANTS", "CALL-ID")
    table = render_table(headers, rows)
    shown, total, offset = len(recordings), body.get("total", 0), body.get("offset", 0)
    if shown < total:
        table += f"\n\n{offset + 1}-{offset + shown} of {total} recordings"
    return table


def _render_recording(body: Any) -> str:
    correlation = [f"{c.get('key')}={c.get('value')}" for c in body.get("correlation_ids", [])]
    pairs = [
        ("id", body.get("id")),
        ("call-id", body.get("call_id")),
        ("status", body.get("status")),
        ("reason", body.get("reason")),
        ("vendor", body.get("vendor")),
        ("started", _short_time(body.get("started_at"))),
        ("ended", _short_time(body.get("ended_at")) if body.get("ended_at") else None),
        ("duration", _seconds(body.get("duration"))),
        ("participants", _who(body)),
        ("correlation", "; ".join(correlation) or None),
        ("directory", body.get("directory")),
    ]
    files = body.get("files", [])
    if not files:
        return _render_pairs(pairs) + "\n\nno audio files"
    stats = {s.get("index"): s for s in body.get("streams", []) if isinstance(s, dict)}
    rows = []
    for f in files:
        stream = stats.get(f.get("stream_index"), {})
        digits = "".join(str(d.get("digit", "")) for d in stream.get("dtmf") or [])
        rows.append(
            (
                f.get("stream_index"),
                f.get("label"),
                f.get("size"),
                f.get("duration"),
                stream.get("received"),
                stream.get("lost"),
                stream.get("mos"),
                digits or None,
                f.get("sha256"),
            )
        )
    headers = ("#", "LABEL", "BYTES", "SECONDS", "RECEIVED", "LOST", "MOS", "DTMF", "SHA256")
    return _render_pairs(pairs) + "\n\n" + render_table(headers, rows)


def _audio_request(args: argparse.Namespace) -> ApiRequest:
    path = f"/api/recordings/{_quote(args.id)}/audio"
    if args.leg is not None:
        path += "?" + urllib.parse.urlencode({"leg": args.leg})
    return ApiRequest("GET", path)


def _download_target(args: argparse.Namespace) -> Path:
    if args.output is not None:
        return Path(args.output)
    leg = f"-{args.leg}" if args.leg is not None else ""
    return Path(_SAFE_FILE.sub("_", f"{args.id}{leg}").strip("._") + ".wav")


_SAFE_FILE = re.compile(r"[^A-Za-z0-9._-]+")


def _render_download(body: Any) -> str:
    return f"wrote {body.get('bytes')} bytes to {body.get('path')}"


# --- rules ----------------------------------------------------------------------------


def _read_local(path: Path) -> str:
    """A local file's text (CRLF kept), or a usage error naming it."""
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except OSError as exc:
        raise CliError(f"siprecctl: cannot read {path}: {_reason(exc)}", EXIT_USAGE) from exc


def _validate_files(args: argparse.Namespace, call: Caller) -> dict[str, Any]:
    results = []
    for given in args.files:
        path = Path(given)
        body = {"file": path.name, "text": _read_local(path)}
        answer = call(ApiRequest("POST", "/api/rules/validate", body))
        results.append({"path": given, **answer})
    return {"files": results}


def _render_validation(body: Any) -> str:
    lines = []
    for result in body.get("files", []):
        path = result.get("path")
        if result.get("valid"):
            lines.append(f"{path}: ok")
        for error in result.get("errors", []):
            lines.append(
                f"{path}:{error.get('line')}:{error.get('column')}: {error.get('message')}"
            )
    return "\n".join(lines)


def _validation_exit(body: Any) -> int:
    valid = all(result.get("valid") for result in body.get("files", []))
    return EXIT_OK if valid else EXIT_API_ERROR


def _rules_test_request(args: argparse.Namespace) -> ApiRequest:
    if (args.facts is None) == (args.invite is None):
        raise CliError(
            "siprecctl: rules test needs --facts FILE.json or --invite FILE.sip", EXIT_USAGE
        )
    body: dict[str, Any] = {}
    if args.facts is not None:
        try:
            body["facts"] = json.loads(_read_local(Path(args.facts)))
        except ValueError as exc:
            raise CliError(f"siprecctl: {args.facts} is not JSON: {exc}", EXIT_USAGE) from exc
    else:
        body["invite"] = _read_local(Path(args.invite))
    if args.now is not None:
        body["now"] = args.now
    return ApiRequest("POST", "/api/rules/test", body)


def _decided_by(record: Any) -> str:
    if record.get("default"):
        return "default: no rule decided"
    return f"rule {record.get('rule')}"


def _render_decision(body: Any) -> str:
    decision, facts = body.get("decision", {}), body.get("facts", {})
    record = decision.get("record", {})
    retain = decision.get("retain")
    alerts = [
        f"{a.get('channel') or 'routes'}/{a.get('severity')} (rule {a.get('rule')})"
        for a in decision.get("alerts", [])
    ]
    pairs = [
        ("record", f"{'yes' if record.get('on') else 'no'} ({_decided_by(record)})"),
        ("format", record.get("format")),
        ("layout", record.get("layout")),
        ("tags", decision.get("tags")),
        ("retain", f"{retain.get('days')} days (rule {retain.get('rule')})" if retain else None),
        ("alerts", "; ".join(alerts) or None),
        ("stopped by", decision.get("stopped_by")),
        ("rules version", decision.get("version")),
        ("vendor", facts.get("vendor")),
        ("caller", facts.get("caller.e164") or facts.get("caller.aor")),
        ("callee", facts.get("callee.e164") or facts.get("callee.aor")),
    ]
    lines = [
        _render_pairs(pairs),
        "",
        "matched rules:" if decision.get("matched") else "no rule matched",
    ]
    for match in decision.get("matched", []):
        lines.append(
            f"  {match.get('rule')} ({match.get('file')}, priority {match.get('priority')})"
        )
        lines.extend(f"    {why}" for why in match.get("why", []))
    lines.extend(f"note: {note}" for note in body.get("notes", []))
    return "\n".join(lines)


def _render_reload(body: Any) -> str:
    if not body.get("ok"):
        errors = [str(error.get("text")) for error in body.get("errors", [])]
        return "\n".join([f"rules not reloaded; {body.get('version')} stays active", *errors])
    state = "loaded" if body.get("changed") else "unchanged"
    files = len(body.get("files", []))
    return f"rules {body.get('version')} {state}: {body.get('rules')} rules from {files} files"


def _ok_exit(body: Any) -> int:
    return EXIT_OK if body.get("ok") else EXIT_API_ERROR


# --- alerts ---------------------------------------------------------------------------


def _alerts_request(args: argparse.Namespace) -> ApiRequest:
    query = "" if args.limit is None else "?" + urllib.parse.urlencode({"limit": args.limit})
    return ApiRequest("GET", "/api/alerts" + query)


def _render_alerts(body: Any) -> str:
    channels = ", ".join(f"{c.get('name')} ({c.get('type')})" for c in body.get("channels", []))
    footer = f"channels: {channels or 'none'}"
    alerts = body.get("alerts", [])
    if not alerts:
        return "no alerts\n" + footer
    rows = [
        (
            _short_time(a.get("created_at")),
            a.get("severity"),
            a.get("type"),
            a.get("state"),
            a.get("occurrences"),
            a.get("title"),
        )
        for a in alerts
    ]
    headers = ("CREATED", "SEVERITY", "TYPE", "STATE", "SEEN", "TITLE")
    return render_table(headers, rows) + "\n\n" + footer


def _render_alert_test(body: Any) -> str:
    where = f"channel {body.get('channel')} ({body.get('type')})"
    if body.get("ok"):
        return f"{where}: test alert delivered in {body.get('elapsed')} s"
    return f"{where}: test alert failed: {body.get('error')}"


COMMANDS: dict[tuple[str, ...], Command] = {
    ("health",): Command(
        help="show whether the appliance is up, its version and load",
        request=lambda args: ApiRequest("GET", "/api/health"),
        render=_render_health,
    ),
    ("sessions", "list"): Command(
        help="list the active recording sessions",
        request=lambda args: ApiRequest("GET", "/api/sessions"),
        render=_render_session_list,
    ),
    ("sessions", "get"): Command(
        help="show one recording session and its streams",
        request=lambda args: ApiRequest("GET", f"/api/sessions/{_quote(args.id)}"),
        render=_render_session,
        arguments=(Argument("id", "session id"),),
    ),
    ("sessions", "terminate"): Command(
        help="end a recording session (the appliance sends BYE)",
        request=lambda args: ApiRequest("DELETE", f"/api/sessions/{_quote(args.id)}"),
        render=_render_terminated,
        arguments=(Argument("id", "session id"),),
    ),
    ("pause",): Command(
        help="pause recording a live session (silence is written until resumed)",
        request=lambda args: ApiRequest("POST", f"/api/sessions/{_quote(args.session)}/pause"),
        render=_render_paused,
        arguments=(Argument("session", "session id"),),
    ),
    ("resume",): Command(
        help="resume recording a session paused with pause",
        request=lambda args: ApiRequest("POST", f"/api/sessions/{_quote(args.session)}/resume"),
        render=_render_paused,
        arguments=(Argument("session", "session id"),),
    ),
    ("recordings", "list"): Command(
        help="search the recordings catalog, newest first",
        request=_recordings_query,
        render=_render_recording_list,
        options=(
            Option(("--call-id",), "SIP Call-ID of the recording session"),
            Option(("--participant",), "part of a participant's AOR, number or name"),
            Option(("--vendor",), "SRC vendor, e.g. avaya, oracle, cisco"),
            Option(("--correlation-id",), "a UCID, Genesys UUID, ICID or other call id"),
            Option(("--status",), "recording, complete, interrupted or failed"),
            Option(("--since",), "started at or after (ISO 8601 or Unix seconds)"),
            Option(("--until",), "started before (ISO 8601 or Unix seconds)"),
            Option(("--limit",), "at most this many (default 50, at most 500)", _positive),
            Option(("--offset",), "skip this many", _positive),
        ),
    ),
    ("recordings", "get"): Command(
        help="show one recording: files, checksums, participants, stream stats",
        request=lambda args: ApiRequest("GET", f"/api/recordings/{_quote(args.id)}"),
        render=_render_recording,
        arguments=(Argument("id", "recording (session) id"),),
    ),
    ("recordings", "download"): Command(
        help="save a recording's audio (WAV) to a file",
        request=_audio_request,
        render=_render_download,
        arguments=(Argument("id", "recording (session) id"),),
        options=(
            Option(("--leg",), "stream label or index (default: the first stream)"),
            Option(("-o", "--output"), "file to write (default: ID[-LEG].wav)"),
        ),
        download=_download_target,
    ),
    ("rules", "validate"): Command(
        help="check local rule files against the appliance's rules (nothing is saved)",
        execute=_validate_files,
        render=_render_validation,
        arguments=(Argument("files", "rule file (NAME.yaml)", nargs="+"),),
        exit_code=_validation_exit,
    ),
    ("rules", "test"): Command(
        help="show what the active rules decide for call facts or a SIP INVITE",
        request=_rules_test_request,
        render=_render_decision,
        options=(
            Option(("--facts",), "JSON file with the call facts (docs/call-facts.md)"),
            Option(("--invite",), "file with a SIP INVITE (SDP and SIPREC metadata)"),
            Option(("--now",), "decision time, ISO 8601 with offset (default: now)"),
        ),
    ),
    ("rules", "reload"): Command(
        help="read the rule files again now (a bad file keeps the active rules)",
        request=lambda args: ApiRequest("POST", "/api/rules/reload"),
        render=_render_reload,
        exit_code=_ok_exit,
    ),
    ("alerts", "list"): Command(
        help="show the newest alerts and their delivery state",
        request=_alerts_request,
        render=_render_alerts,
        options=(Option(("--limit",), "at most this many (default 50, at most 500)", _positive),),
    ),
    ("alerts", "test"): Command(
        help="send a test alert to one channel now",
        request=lambda args: ApiRequest("POST", "/api/alerts/test", {"channel": args.channel}),
        render=_render_alert_test,
        arguments=(Argument("channel", "alert channel name"),),
        exit_code=_ok_exit,
    ),
}

GROUP_HELP: dict[str, str] = {
    "sessions": "recording sessions",
    "recordings": "recordings catalog",
    "rules": "recording policy rules",
    "alerts": "alerts and alert channels",
}


# --------------------------------------------------------------------------------------
# Argument parsing
# --------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """Raises instead of exiting, so that :func:`main` returns the exit code."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{self.prog}: error: {message}\n{self.format_usage().strip()}", EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``siprecctl``, built from :data:`COMMANDS`."""
    parser = _Parser(prog="siprecctl", description="Control a running siprec-appliance.")
    parser.add_argument(
        "--url",
        help="API base URL (default: $SIPREC_API_URL, "
        "else http://127.0.0.1:$SIPREC_HTTP_PORT or 8080)",
    )
    parser.add_argument(
        "--token", help="API token (default: $SIPREC_API_TOKEN, else the token file)"
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        help=f"file holding the API token (default: $SIPREC_DATA_DIR/{TOKEN_FILE_NAME})",
    )
    parser.add_argument("--json", action="store_true", help="print the API's JSON answer")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds to wait for the API (default: {DEFAULT_TIMEOUT:g})",
    )
    groups: dict[tuple[str, ...], argparse._SubParsersAction[Any]] = {
        (): parser.add_subparsers(title="commands", metavar="COMMAND")
    }
    for words, command in COMMANDS.items():
        subparsers = _subparsers_for(groups, words[:-1])
        leaf = subparsers.add_parser(words[-1], help=command.help, description=command.help)
        for argument in command.arguments:
            leaf.add_argument(argument.name, help=argument.help, nargs=argument.nargs)
        for option in command.options:
            leaf.add_argument(*option.flags, help=option.help, type=option.type)
        leaf.set_defaults(command=command)
    return parser


def _subparsers_for(
    groups: dict[tuple[str, ...], argparse._SubParsersAction[Any]], words: tuple[str, ...]
) -> argparse._SubParsersAction[Any]:
    if words not in groups:
        parent = _subparsers_for(groups, words[:-1])
        group = parent.add_parser(words[-1], help=GROUP_HELP.get(words[-1]))
        group.set_defaults(command=None, group=group)
        groups[words] = group.add_subparsers(title="commands", metavar="COMMAND")
    return groups[words]


# --------------------------------------------------------------------------------------
# Talking to the API
# --------------------------------------------------------------------------------------


def default_url(env: Mapping[str, str]) -> str:
    """``$SIPREC_API_URL``, else ``http://127.0.0.1:${SIPREC_HTTP_PORT:-8080}``."""
    url = env.get("SIPREC_API_URL")
    if url:
        return url
    return f"http://127.0.0.1:{env.get('SIPREC_HTTP_PORT') or 8080}"


def resolve_token(args: argparse.Namespace, env: Mapping[str, str]) -> str | None:
    """``--token``, else ``$SIPREC_API_TOKEN``, else the token file (None if absent)."""
    if args.token:
        return str(args.token)
    if env.get("SIPREC_API_TOKEN"):
        return env["SIPREC_API_TOKEN"]
    explicit = args.token_file is not None
    path = args.token_file or Path(env.get("SIPREC_DATA_DIR") or "./var") / TOKEN_FILE_NAME
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        if explicit:
            raise CliError(f"siprecctl: token file {path} does not exist", EXIT_USAGE) from None
        return None
    except OSError as exc:
        raise CliError(f"siprecctl: cannot read token file {path}: {exc}", EXIT_USAGE) from exc


def _http_request(
    base_url: str, request: ApiRequest, token: str | None, accept: str
) -> urllib.request.Request:
    url = _check_url(base_url).rstrip("/") + request.path
    headers = {"Accept": accept}
    data = None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if request.body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(request.body).encode()
    return urllib.request.Request(url, data=data, headers=headers, method=request.method)


def _opener() -> urllib.request.OpenerDirector:
    # Talk to the API directly: a proxy from the environment would see the token.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call_api(base_url: str, request: ApiRequest, token: str | None, timeout: float) -> Any:
    """Send ``request``; the decoded JSON answer, or :class:`CliError` (exit 1 or 3)."""
    http_request = _http_request(base_url, request, token, "application/json")
    try:
        with _opener().open(http_request, timeout=timeout) as response:
            return _decode(response.read(), http_request.full_url)
    except urllib.error.HTTPError as exc:
        raise CliError(_api_error_message(exc), EXIT_API_ERROR) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = _reason(exc)
        raise CliError(f"siprecctl: cannot connect to {base_url}: {reason}", EXIT_CONNECT) from exc


DOWNLOAD_CHUNK = 64 * 1024


def download_api(
    base_url: str, request: ApiRequest, token: str | None, timeout: float, target: Path
) -> dict[str, Any]:
    """Stream the answer's body to ``target`` (via ``target.part``, renamed when complete).

    Exit codes as :func:`call_api`; a file that cannot be written is a usage error (2).
    """
    http_request = _http_request(base_url, request, token, "*/*")
    partial = target.with_name(target.name + ".part")
    written = 0
    try:
        with _opener().open(http_request, timeout=timeout) as response:
            try:
                sink = partial.open("wb")
            except OSError as exc:
                raise CliError(
                    f"siprecctl: cannot write {target}: {_reason(exc)}", EXIT_USAGE
                ) from exc
            with sink:
                while chunk := response.read(DOWNLOAD_CHUNK):
                    try:
                        sink.write(chunk)
                    except OSError as exc:
                        raise CliError(
                            f"siprecctl: cannot write {target}: {_reason(exc)}", EXIT_USAGE
                        ) from exc
                    written += len(chunk)
        os.replace(partial, target)
    except urllib.error.HTTPError as exc:
        raise CliError(_api_error_message(exc), EXIT_API_ERROR) from exc
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        reason = _reason(exc)
        raise CliError(f"siprecctl: cannot connect to {base_url}: {reason}", EXIT_CONNECT) from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return {"path": str(target), "bytes": written}


def _check_url(base_url: str) -> str:
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CliError(
            f"siprecctl: invalid API URL {base_url!r} (expected http://HOST:PORT)", EXIT_USAGE
        )
    return base_url


def _reason(exc: OSError) -> str:
    reason: object = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _decode(raw: bytes, url: str) -> Any:
    try:
        return json.loads(raw) if raw else {}
    except ValueError as exc:
        raise CliError(f"siprecctl: {url} did not answer JSON", EXIT_API_ERROR) from exc


def _api_error_message(exc: urllib.error.HTTPError) -> str:
    try:
        error = json.loads(exc.read())["error"]
        message = f"{error['message']} (HTTP {error['status']})"
    except (ValueError, KeyError, TypeError, OSError):
        message = f"HTTP {exc.code} {exc.reason}"
    hint = ""
    if exc.code == 401:
        hint = (
            "\nhint: pass --token, set SIPREC_API_TOKEN or point --token-file at the api-token file"
        )
    return f"siprecctl: {message}{hint}"


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


def run(argv: Sequence[str], env: Mapping[str, str], out: TextIO) -> int:
    """Parse ``argv``, call the API, print the answer; :class:`CliError` on failure."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Command | None = getattr(args, "command", None)
    if command is None:
        group: argparse.ArgumentParser = getattr(args, "group", parser)
        raise CliError(group.format_help().rstrip(), EXIT_USAGE)
    token = resolve_token(args, env)
    base_url = args.url or default_url(env)

    def call(request: ApiRequest) -> Any:
        return call_api(base_url, request, token, args.timeout)

    if command.execute is not None:
        body = command.execute(args, call)
    elif command.request is None:  # a mistake in COMMANDS
        raise TypeError(f"command {command.help!r} has neither request nor execute")
    elif command.download is not None:
        target = command.download(args)
        body = download_api(base_url, command.request(args), token, args.timeout, target)
    else:
        body = call(command.request(args))
    print(json.dumps(body, indent=2) if args.json else command.render(body), file=out)
    return command.exit_code(body)


def main(argv: list[str] | None = None) -> int:
    """Console script ``siprecctl``; returns the exit code."""
    try:
        return run(sys.argv[1:] if argv is None else argv, os.environ, sys.stdout)
    except CliError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
