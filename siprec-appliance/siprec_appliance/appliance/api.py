"""The REST API (Sanic) over :class:`ApplianceControl`, run inside the appliance's loop.

Routes (JSON in, JSON out)::

    GET    /api/health              no token; status, version, uptime, active sessions
    GET    /api/sessions            {"sessions": [snapshot, ...]}
    GET    /api/sessions/<id>       snapshot, or 404
    DELETE /api/sessions/<id>       202 {"id", "state": "terminating"}, or 404
    POST   /api/sessions/<id>/pause 202 {"id", "paused": true}; 404, or 409 if paused
    POST   /api/sessions/<id>/resume
                                    202 {"id", "paused": false}; 404, or 409 if not paused
    GET    /api/recordings          {"recordings": [...], "total", "limit", "offset"};
                                    filters since, until, call_id, participant, vendor,
                                    correlation_id, status; limit (1-500), offset
    GET    /api/recordings/<id>     the catalog entry: files, participants, facts, streams
    GET    /api/recordings/<id>/audio[?leg=<label or index>]
                                    the WAV; single byte ranges (RFC 9110 §14) give 206/416
    GET    /api/rules               directory, files (text, mtime), active rules and lists,
                                    version, default_record, last load errors
    POST   /api/rules/validate      {"file", "text"} -> {"file", "valid", "errors"}
    PUT    /api/rules/<file>        {"text": whole file} or {"rule": one rule (upsert by
                                    id)} -> {"file", "version", "applied", "reload"};
                                    422 {"error", "errors"} when invalid (nothing written)
    DELETE /api/rules/<file>/<rule_id>
                                    as PUT; 404 for an unknown file or rule
    POST   /api/rules/test          {"facts": {...}} or {"invite": "INVITE ..."}, "now"
                                    (ISO 8601, optional) -> {"decision", "facts", "notes"}
    POST   /api/rules/reload        the reload's result ({"ok", "version", "errors", ...})
    GET    /api/alerts[?limit=N]    {"alerts", "stats", "channels"}; 503 without alerting
    POST   /api/alerts/test         {"channel"} -> the test's outcome; 404 unknown channel

Every route needs ``Authorization: Bearer <token>`` (RFC 6750) unless it is added with
``ctx_public=True``. Every error, including Sanic's own 404/405/400 and crashes, is
``{"error": {"status": N, "message": "..."}}``; a crash is logged, never shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from types import SimpleNamespace
from typing import IO, Any, Protocol, TypeAlias, cast

from sanic import HTTPResponse, Request, Sanic, json
from sanic.config import Config as SanicConfig
from sanic.exceptions import (
    BadRequest,
    NotFound,
    RangeNotSatisfiable,
    SanicException,
    ServerError,
    Unauthorized,
)
from sanic.handlers import ErrorHandler

from siprec_appliance.alerts import AlertService, UnknownChannelError
from siprec_appliance.appliance.auth import token_matches
from siprec_appliance.appliance.catalog import AudioNotFoundError, QueryError, parse_query
from siprec_appliance.appliance.control import ApplianceControl, PauseOutcome
from siprec_appliance.appliance.rules_service import (
    ReloadResult,
    RuleFileNameError,
    RuleFileNotFoundError,
)
from siprec_appliance.policy import RuleNotFoundError, RuleProblem
from siprec_appliance.siprec.invite_facts import InviteError
from siprec_appliance.siprec.model import SessionSnapshot

__all__ = [
    "ApiApp",
    "ApiContext",
    "ApiServer",
    "byte_range",
    "create_app",
    "error_body",
    "snapshot_to_json",
    "start_api",
]

logger = logging.getLogger(__name__)

AUDIO_CHUNK = 64 * 1024  # bytes per read (in a thread) and per send
_BYTE_RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.IGNORECASE)
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class ApiContext:
    """What the handlers need, kept on ``app.ctx``."""

    control: ApplianceControl
    token: str
    version: str


ApiApp: TypeAlias = "Sanic[SanicConfig, ApiContext]"
ApiRequest: TypeAlias = "Request[ApiApp, SimpleNamespace]"


# --------------------------------------------------------------------------------------
# JSON views
# --------------------------------------------------------------------------------------


def _iso_utc(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def snapshot_to_json(snapshot: SessionSnapshot) -> dict[str, Any]:
    """A session as the API shows it; times as ISO 8601 UTC and as Unix seconds."""
    body: dict[str, Any] = snapshot.to_dict()
    body["started_at_unix"] = snapshot.started_at
    body["started_at"] = _iso_utc(snapshot.started_at)
    body["ended_at_unix"] = snapshot.ended_at
    body["ended_at"] = None if snapshot.ended_at is None else _iso_utc(snapshot.ended_at)
    return body


def error_body(status: int, message: str) -> dict[str, Any]:
    """The one shape of every API error."""
    return {"error": {"status": status, "message": message}}


# --------------------------------------------------------------------------------------
# Errors and authentication
# --------------------------------------------------------------------------------------


class _Conflict(SanicException):
    """409: the request contradicts the resource's state (RFC 9110 §15.5.10)."""

    status_code = 409
    quiet = True


class _Unprocessable(SanicException):
    """422: well-formed, but the content is refused (RFC 9110 §15.5.21)."""

    status_code = 422
    quiet = True


class _Unavailable(SanicException):
    """503: the part of the appliance the route needs is not running."""

    status_code = 503
    quiet = True


class JsonErrorHandler(ErrorHandler):
    """Every error as :func:`error_body` JSON; never HTML, never a traceback."""

    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        if isinstance(exception, SanicException):
            status = int(exception.status_code)
            message = str(exception) or HTTPStatus(status).phrase
            headers = dict(getattr(exception, "headers", None) or {})
        else:
            status, message, headers = 500, "internal server error", {}
        if status >= 500:
            logger.error("API %s %s failed", request.method, request.path, exc_info=exception)
        return json(error_body(status, message), status=status, headers=headers)


async def _require_token(request: ApiRequest) -> None:
    """Request middleware: deny by default; routes with ``ctx_public=True`` are open."""
    route = request.route
    if route is None or getattr(route.ctx, "public", False):
        return  # no route: let the 404/405 through
    if not token_matches(request.headers.get("authorization"), request.app.ctx.token):
        raise Unauthorized("missing or invalid API token", scheme="Bearer")


# --------------------------------------------------------------------------------------
# Handlers
# --------------------------------------------------------------------------------------


async def health(request: ApiRequest) -> HTTPResponse:
    """Liveness and a summary; needs no token (load balancers, monitoring)."""
    context = request.app.ctx
    control = context.control
    return json(
        {
            "status": "draining" if control.draining else "ok",
            "version": context.version,
            "uptime_seconds": round(max(0.0, time.time() - control.started_at), 3),
            "active_sessions": control.active_session_count(),
            "media": control.media_load(),
        }
    )


async def list_sessions(request: ApiRequest) -> HTTPResponse:
    """Every session not yet terminated, oldest first."""
    sessions = request.app.ctx.control.list_sessions()
    return json({"sessions": [snapshot_to_json(snapshot) for snapshot in sessions]})


async def get_session(request: ApiRequest, session_id: str) -> HTTPResponse:
    """One session, also a recently terminated one."""
    snapshot = request.app.ctx.control.get_session(session_id)
    if snapshot is None:
        raise NotFound(f"no session {session_id!r}")
    return json(snapshot_to_json(snapshot))


async def terminate_session(request: ApiRequest, session_id: str) -> HTTPResponse:
    """Ask the server to send BYE (RFC 3261 §15) and end the session."""
    if not request.app.ctx.control.terminate_session(session_id):
        raise NotFound(f"no active session {session_id!r}")
    logger.info("API: session %s terminated on request", session_id)
    return json({"id": session_id, "state": "terminating"}, status=202)


async def pause_session(request: ApiRequest, session_id: str) -> HTTPResponse:
    """Stop recording a live call for a while (say while a card number is read)."""
    outcome = request.app.ctx.control.pause_session(session_id)
    return _paused_answer(session_id, outcome, paused=True)


async def resume_session(request: ApiRequest, session_id: str) -> HTTPResponse:
    """Record again after :func:`pause_session`."""
    outcome = request.app.ctx.control.resume_session(session_id)
    return _paused_answer(session_id, outcome, paused=False)


def _paused_answer(session_id: str, outcome: PauseOutcome, *, paused: bool) -> HTTPResponse:
    if outcome is PauseOutcome.NO_SESSION:
        raise NotFound(f"no active session {session_id!r}")
    if outcome is PauseOutcome.UNCHANGED:
        state = "already paused" if paused else "not paused"
        raise _Conflict(f"session {session_id!r} is {state}")
    logger.info("API: session %s recording %s", session_id, "paused" if paused else "resumed")
    return json({"id": session_id, "paused": paused}, status=202)


# --------------------------------------------------------------------------------------
# Recordings (the catalog)
# --------------------------------------------------------------------------------------


async def list_recordings(request: ApiRequest) -> HTTPResponse:
    """Search the catalog; a bad parameter is a 400 naming it."""
    try:
        query = parse_query(request.get_args(keep_blank_values=True))
    except QueryError as exc:
        raise BadRequest(str(exc)) from None
    page = await request.app.ctx.control.find_recordings(query)
    return json(page.to_json())


async def get_recording(request: ApiRequest, recording_id: str) -> HTTPResponse:
    """One recording with its files (size, SHA-256, duration), facts and stream stats."""
    body = await request.app.ctx.control.get_recording(recording_id)
    if body is None:
        raise NotFound(f"no recording {recording_id!r}")
    return json(body)


# Media types of the recording formats (RFC 2361 wav, RFC 7845 ogg, RFC 3003 mpeg).
AUDIO_TYPES = {
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".mp3": "audio/mpeg",
}


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one range ``(first, last)`` a ``Range`` header asks for, or None for all.

    RFC 9110 §14.2: an invalid header, another unit or several ranges are ignored
    (the whole file is sent); a valid range that starts past the end raises 416.
    """
    if header is None:
        return None
    match = _BYTE_RANGE.fullmatch(header.strip())
    if match is None or not (match[1] or match[2]):
        return None
    if not match[1]:  # suffix: the last N bytes (RFC 9110 §14.1.2)
        suffix = int(match[2])
        if suffix == 0 or size == 0:
            raise _unsatisfiable(size)
        return max(0, size - suffix), size - 1
    first = int(match[1])
    if match[2] and int(match[2]) < first:  # invalid: ignored
        return None
    if first >= size:
        raise _unsatisfiable(size)
    last = int(match[2]) if match[2] else size - 1
    return first, min(last, size - 1)


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        "requested range not satisfiable", headers={"Content-Range": f"bytes */{size}"}
    )


def _open_audio(path: str) -> tuple[IO[bytes], int]:
    source = open(path, "rb")  # noqa: SIM115 - closed by the caller
    try:
        return source, os.fstat(source.fileno()).st_size
    except BaseException:
        source.close()
        raise


async def recording_audio(request: ApiRequest, recording_id: str) -> None:
    """Stream a recording's WAV (default the first stream's), honouring one byte range.

    The file is read in a thread, a chunk at a time: never whole in memory, never
    blocking the loop. Its path comes from the catalog, checked to be under data_dir.
    """
    try:
        audio = await request.app.ctx.control.recording_audio(recording_id, request.args.get("leg"))
    except AudioNotFoundError as exc:
        raise NotFound(str(exc)) from None
    loop = asyncio.get_running_loop()
    try:
        source, size = await loop.run_in_executor(None, _open_audio, str(audio.path))
    except OSError:
        raise NotFound(f"recording {recording_id!r}: audio file unavailable") from None
    try:
        selected = byte_range(request.headers.get("range"), size)
        first, last = selected if selected is not None else (0, size - 1)
        filename = _UNSAFE_FILENAME.sub("_", f"{recording_id}-{audio.path.name}")
        headers = {
            "Accept-Ranges": "bytes",
            "Content-Length": str(last - first + 1),
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        }
        if selected is not None:
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        response = await request.respond(
            status=206 if selected is not None else 200,
            headers=headers,
            content_type=AUDIO_TYPES.get(audio.path.suffix.lower(), "application/octet-stream"),
        )
        if first:
            await loop.run_in_executor(None, source.seek, first)
        remaining = last - first + 1
        while remaining > 0:
            chunk = await loop.run_in_executor(None, source.read, min(AUDIO_CHUNK, remaining))
            if not chunk:  # the file shrank meanwhile: the client sees a short body
                break
            await response.send(chunk)
            remaining -= len(chunk)
        await response.eof()
    finally:
        await loop.run_in_executor(None, source.close)


# --------------------------------------------------------------------------------------
# Rules (the policy) and alerts
# --------------------------------------------------------------------------------------

ALERTS_LIMIT_MAX = 500


def _json_object(request: ApiRequest) -> dict[str, Any]:
    """The request body as a JSON object, or 400."""
    try:
        body = request.json
    except BadRequest:
        body = None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def _string(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise BadRequest(f"{key!r} must be a string")
    return value


def _problems_json(problems: list[RuleProblem]) -> list[dict[str, Any]]:
    return [problem.to_dict() for problem in problems]


@contextlib.contextmanager
def _rule_file_errors() -> Iterator[None]:
    """Rule-file errors as HTTP errors: a bad name 400, an unknown file or rule 404, a
    file that cannot be written 500 (logged)."""
    try:
        yield
    except RuleFileNameError as exc:
        raise BadRequest(str(exc)) from None
    except (RuleFileNotFoundError, RuleNotFoundError) as exc:
        raise NotFound(str(exc)) from None
    except OSError as exc:  # the rules directory is not writable, the disk is full
        raise ServerError(f"cannot write the rule file: {exc.strerror or exc}") from exc


async def get_rules(request: ApiRequest) -> HTTPResponse:
    """The rules directory, its files and the active rule set."""
    return json(request.app.ctx.control.rules.describe())


async def validate_rules(request: ApiRequest) -> HTTPResponse:
    """Check a file's text next to the other files, without saving it (200 either way)."""
    body = _json_object(request)
    file_name, text = _string(body, "file"), _string(body, "text")
    with _rule_file_errors():
        problems = request.app.ctx.control.rules.validate(file_name, text)
    return json({"file": file_name, "valid": not problems, "errors": _problems_json(problems)})


async def put_rule_file(request: ApiRequest, file_name: str) -> HTTPResponse:
    """Save a whole file (``text``) or one rule (``rule``, by id) if valid, and apply it."""
    body = _json_object(request)
    if ("text" in body) == ("rule" in body):
        raise BadRequest("give either 'text' (the whole file) or 'rule' (one rule)")
    rules = request.app.ctx.control.rules
    with _rule_file_errors():
        if "text" in body:
            outcome = rules.write(file_name, _string(body, "text"))
        elif isinstance(body["rule"], dict):
            outcome = rules.upsert(file_name, body["rule"])
        else:
            raise BadRequest("'rule' must be an object")
    return _edited(file_name, outcome)


async def delete_rule(request: ApiRequest, file_name: str, rule_id: str) -> HTTPResponse:
    """Remove one rule from a file (its lines only) if the rest stays valid."""
    with _rule_file_errors():
        outcome = request.app.ctx.control.rules.remove(file_name, rule_id)
    return _edited(file_name, outcome)


def _edited(file_name: str, outcome: ReloadResult | list[RuleProblem]) -> HTTPResponse:
    if isinstance(outcome, list):
        count = len(outcome)
        message = f"{file_name}: {count} problem{'s' * (count != 1)}; nothing was written"
        body = {**error_body(422, message), "errors": _problems_json(outcome)}
        return json(body, status=422)
    logger.info("API: rule file %s saved, rules %s", file_name, outcome.version)
    return json(
        {
            "file": file_name,
            "version": outcome.version,
            "applied": outcome.ok,
            "reload": outcome.to_dict(),
        }
    )


async def dry_run_rules(request: ApiRequest) -> HTTPResponse:
    """Dry run: the decision of the active rules for given facts or an INVITE's facts."""
    body = _json_object(request)
    if ("facts" in body) == ("invite" in body):
        raise BadRequest("give either 'facts' (an object) or 'invite' (a SIP INVITE)")
    now = _parse_now(body.get("now"))
    rules = request.app.ctx.control.rules
    notes: tuple[str, ...] = ()
    if "invite" in body:
        try:
            found = rules.invite_facts(_string(body, "invite"))
        except InviteError as exc:
            raise BadRequest(f"invite: {exc.reason}") from None
        facts, notes = found.facts, found.notes
    elif isinstance(body["facts"], dict):
        facts = body["facts"]
    else:
        raise BadRequest("'facts' must be an object")
    decision = rules.test(facts, now)
    return json({"decision": decision.to_dict(), "facts": facts, "notes": list(notes)})


def _parse_now(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise BadRequest("'now' must be an ISO 8601 time, e.g. 2026-03-04T10:15:00+01:00")
    if moment.utcoffset() is None:
        raise BadRequest("'now' needs a time zone (an offset or Z)")
    return moment


async def reload_rules(request: ApiRequest) -> HTTPResponse:
    """Read the rule files again now (as on a file change or SIGHUP)."""
    result = await request.app.ctx.control.rules.reload_off_loop()
    assert result is not None  # forced: always a result
    logger.info("API: rules reload requested: %s", "ok" if result.ok else "failed")
    return json(result.to_dict())


def _alerts(request: ApiRequest) -> AlertService:
    alerts = request.app.ctx.control.alerts
    if alerts is None or not alerts.stats().get("running", False):
        raise _Unavailable("alerting is not running")
    return alerts


async def list_alerts(request: ApiRequest) -> HTTPResponse:
    """The newest alerts with their deliveries, the counters and the channels."""
    raw = request.args.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= ALERTS_LIMIT_MAX:
        raise BadRequest(f"limit must be an integer from 1 to {ALERTS_LIMIT_MAX}")
    alerts = _alerts(request)
    return json(
        {
            "alerts": await alerts.recent(int(raw)),
            "stats": alerts.stats(),
            "channels": alerts.channels(),
        }
    )


async def send_test_alert(request: ApiRequest) -> HTTPResponse:
    """Send a test alert to one channel now and say how it went."""
    channel = _string(_json_object(request), "channel")
    alerts = _alerts(request)
    try:
        result = await alerts.send_test(channel, requested_by="api")
    except UnknownChannelError as exc:
        raise NotFound(str(exc)) from None
    return json(result)


def create_app(
    control: ApplianceControl, *, token: str, version: str, name: str = "siprec_api"
) -> ApiApp:
    """A Sanic app serving the API over ``control``.

    Sanic keeps a process-wide registry of apps by name: ``name`` must be unused until
    the app is closed (:meth:`ApiServer.close` unregisters it).
    """
    if not token:
        raise ValueError("the API token must not be empty")
    app: ApiApp = Sanic(
        name,
        ctx=ApiContext(control=control, token=token, version=version),
        configure_logging=False,  # the appliance configures logging
        error_handler=JsonErrorHandler(),
    )
    app.config.MOTD = False
    # TouchUp rewrites Sanic's methods in place for speed; with several apps in one
    # process (tests, restarts) the second rewrite fails, and the API is not hot.
    app.config.TOUCHUP = False
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.on_request(_require_token)
    app.add_route(health, "/api/health", methods=["GET"], ctx_public=True)
    app.add_route(list_sessions, "/api/sessions", methods=["GET"])
    session_uri = "/api/sessions/<session_id:str>"
    app.add_route(get_session, session_uri, methods=["GET"], unquote=True)
    app.add_route(terminate_session, session_uri, methods=["DELETE"], unquote=True)
    app.add_route(pause_session, session_uri + "/pause", methods=["POST"], unquote=True)
    app.add_route(resume_session, session_uri + "/resume", methods=["POST"], unquote=True)
    app.add_route(list_recordings, "/api/recordings", methods=["GET"])
    recording_uri = "/api/recordings/<recording_id:str>"
    app.add_route(get_recording, recording_uri, methods=["GET"], unquote=True)
    app.add_route(recording_audio, recording_uri + "/audio", methods=["GET"], unquote=True)
    _add_policy_routes(app)
    return app


def _add_policy_routes(app: ApiApp) -> None:
    app.add_route(get_rules, "/api/rules", methods=["GET"])
    app.add_route(validate_rules, "/api/rules/validate", methods=["POST"])
    app.add_route(dry_run_rules, "/api/rules/test", methods=["POST"])
    app.add_route(reload_rules, "/api/rules/reload", methods=["POST"])
    file_uri = "/api/rules/<file_name:str>"
    app.add_route(put_rule_file, file_uri, methods=["PUT"], unquote=True)
    app.add_route(delete_rule, file_uri + "/<rule_id:str>", methods=["DELETE"], unquote=True)
    app.add_route(list_alerts, "/api/alerts", methods=["GET"])
    app.add_route(send_test_alert, "/api/alerts/test", methods=["POST"])


# --------------------------------------------------------------------------------------
# Running inside an existing asyncio loop
# --------------------------------------------------------------------------------------


class _Connection(Protocol):
    def close_if_idle(self) -> bool: ...
    def abort(self) -> None: ...


class _SanicServer(Protocol):
    """The typed subset of ``sanic.server.async_server.AsyncioServer`` used here."""

    server: asyncio.Server
    connections: set[_Connection]

    async def startup(self) -> None: ...
    async def before_start(self) -> None: ...
    async def after_start(self) -> None: ...
    async def before_stop(self) -> None: ...
    async def after_stop(self) -> None: ...


class ApiServer:
    """A started API: where it listens, and how to stop it."""

    def __init__(self, app: ApiApp, server: _SanicServer, *, grace: float) -> None:
        self.app = app
        self._server = server
        self._grace = grace
        self._closed = False
        address = server.server.sockets[0].getsockname()
        self.host: str = address[0]
        self.port: int = address[1]

    async def close(self) -> None:
        """Stop listening, let requests in progress finish (bounded), run the stop events."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._server.before_stop()
            await self._drain()
            await self._server.after_stop()
        finally:
            Sanic.unregister_app(self.app)
            logger.info("API stopped on %s:%d", self.host, self.port)

    async def _drain(self) -> None:
        listener = self._server.server
        listener.close()
        connections = self._server.connections
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._grace
        while connections and loop.time() < deadline:
            for connection in list(connections):
                connection.close_if_idle()
            await asyncio.sleep(0.02)
        for connection in list(connections):
            connection.abort()
        await listener.wait_closed()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=128)


async def start_api(
    app: ApiApp, host: str, port: int, *, access_log: bool = False, grace: float = 5.0
) -> ApiServer:
    """Serve ``app`` on ``host:port`` in the running loop (``port`` 0: a free port).

    Uses Sanic's low-level ``create_server`` (no worker processes, no signal handlers)
    and runs the lifecycle steps ``app.run()`` would: startup, before_start, serving,
    after_start. The socket is bound here (Sanic would turn port 0 into 8000), before
    startup, so a busy port fails fast with ``OSError``; it accepts only after startup.
    """
    try:
        listening = _bind(host, port)
    except OSError:
        Sanic.unregister_app(app)  # so that the caller may create it again
        raise
    try:
        created = await app.create_server(
            sock=listening,
            access_log=access_log,
            asyncio_server_kwargs={"start_serving": False},
        )
    except BaseException:
        listening.close()
        Sanic.unregister_app(app)
        raise
    if created is None:  # only without return_asyncio_server, which is always on
        raise RuntimeError("Sanic did not return a server")
    server = cast(_SanicServer, created)
    try:
        await server.startup()
        await server.before_start()
        await server.server.start_serving()
        await server.after_start()
    except BaseException:
        server.server.close()
        Sanic.unregister_app(app)
        raise
    api = ApiServer(app, server, grace=grace)
    logger.info("API listening on http://%s:%d", api.host, api.port)
    return api
