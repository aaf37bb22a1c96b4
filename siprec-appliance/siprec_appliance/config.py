"""Appliance configuration: a YAML file, checked against a JSON Schema, then the environment.

The order of precedence is: built-in defaults < the YAML file < ``SIPREC_*`` environment
variables (:data:`ENV_OVERRIDES`). The schema (``schemas/config.schema.json``) is the
reference for keys, types and defaults; the dataclasses below hold the result.

Every problem is reported as a :class:`~siprec_appliance.errors.ConfigError` whose message
has one line per problem, in the form ``<file>:<line>: <dotted.key>: <problem>`` (or the
name of the environment variable instead of the file when the value came from there).
All schema problems are collected before raising, so an operator can fix them in one go.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from jsonschema import Draft202012Validator, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from siprec_appliance.alerts import settings as alert_settings
from siprec_appliance.alerts.settings import AlertsConfig, DiskConfig
from siprec_appliance.errors import ConfigError
from siprec_appliance.resources import share_path
from siprec_appliance.version import __version__

__all__ = [
    "ENV_OVERRIDES",
    "AlertsConfig",
    "Config",
    "DiskConfig",
    "EnvOverride",
    "HttpConfig",
    "LoggingConfig",
    "MediaConfig",
    "MetadataConfig",
    "RecordingConfig",
    "RulesConfig",
    "SipConfig",
    "StorageConfig",
    "TimerConfig",
    "TlsConfig",
    "config_from_mapping",
    "load_config",
]

# --------------------------------------------------------------------------------------
# The configuration model
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsConfig:
    """TLS for SIP (RFC 3261 §26.2); enabled when certificate and private_key are set."""

    certificate: Path | None = None
    private_key: Path | None = None
    ca_certificates: Path | None = None
    verify_client: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerConfig:
    """SIP transaction timers in seconds (RFC 3261 §17.1.1.1)."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SipConfig:
    """SIP signalling towards the Session Recording Clients."""

    host: str = "0.0.0.0"
    port: int = 5060
    tls_port: int = 5061
    tls: TlsConfig = field(default_factory=TlsConfig)
    advertised_address: str | None = None
    allowed_sources: tuple[str, ...] = ()
    require_siprec: bool = False
    max_sessions: int = 10000
    min_se: int = 90
    retry_after: int = 30
    shutdown_grace: float = 30.0
    user_agent: str = f"siprec-appliance/{__version__}"
    timers: TimerConfig = field(default_factory=TimerConfig)

    @property
    def tls_enabled(self) -> bool:
        """True when SIP over TLS is to be served on ``tls_port``."""
        return self.tls.certificate is not None and self.tls.private_key is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaConfig:
    """RTP reception (RFC 3550)."""

    rtp_port_min: int = 10000
    rtp_port_max: int = 20000
    port_cooldown: float = 10.0
    advertised_address: str | None = None
    rtp_timeout: float = 60.0
    workers: int | str = "auto"  # media worker processes: "auto" = one per core, 0 = none


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpConfig:
    """The REST API and web interface."""

    host: str = "0.0.0.0"
    port: int = 8080
    api_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageConfig:
    """Where recordings, metadata and state are written."""

    data_dir: Path = Path("./var")


@dataclass(frozen=True, slots=True, kw_only=True)
class RulesConfig:
    """Where the recording policy rules are read from, and what applies when no rule
    decides whether a call is recorded (``default_record``)."""

    dir: Path = Path("./rules")
    default_record: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class MetadataConfig:
    """Recording metadata (RFC 7865) handling."""

    reject_unparsable: bool = False
    request_snapshots: bool = True


RECORDING_FORMATS = ("wav", "flac", "opus", "mp3")
PAUSE_MODES = ("silence", "cut")


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingConfig:
    """What is written for each recording session (see ``appliance/mixdown.py``).

    ``format`` is the combined file's format (``wav``: 16-bit PCM, ``flac``, ``opus``
    in Ogg, ``mp3``); the per-stream files are always 16-bit PCM WAV, written while
    the call runs. ``per_stream: false`` removes them once the combined file is
    written (never when it failed). ``pauses``: a paused span (RFC 7866 §7.1.1) is
    ``silence`` in the combined file, or ``cut`` out of it when every stream is paused.
    """

    format: str = "wav"
    combined: bool = True
    per_stream: bool = True
    pauses: str = "silence"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggingConfig:
    """Logging of the appliance."""

    level: str = "INFO"


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """The whole appliance configuration."""

    sip: SipConfig = field(default_factory=SipConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    rules: RulesConfig = field(default_factory=RulesConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    metadata: MetadataConfig = field(default_factory=MetadataConfig)
    recording: RecordingConfig = field(default_factory=RecordingConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    disk: DiskConfig = field(default_factory=DiskConfig)


# --------------------------------------------------------------------------------------
# Environment overrides (a contract with the packaging: keep names stable)
# --------------------------------------------------------------------------------------

Key = str | int
KeyPath = tuple[Key, ...]


@dataclass(frozen=True, slots=True)
class EnvOverride:
    """An environment variable that replaces one configuration key."""

    name: str
    path: tuple[str, ...]


ENV_OVERRIDES: tuple[EnvOverride, ...] = (
    EnvOverride("SIPREC_SIP_HOST", ("sip", "host")),
    EnvOverride("SIPREC_SIP_PORT", ("sip", "port")),
    EnvOverride("SIPREC_SIP_TLS_PORT", ("sip", "tls_port")),
    EnvOverride("SIPREC_SIP_TLS_CERT", ("sip", "tls", "certificate")),
    EnvOverride("SIPREC_SIP_TLS_KEY", ("sip", "tls", "private_key")),
    EnvOverride("SIPREC_SIP_SHUTDOWN_GRACE", ("sip", "shutdown_grace")),
    EnvOverride("SIPREC_MAX_SESSIONS", ("sip", "max_sessions")),
    EnvOverride("SIPREC_MEDIA_WORKERS", ("media", "workers")),
    EnvOverride("SIPREC_SIP_REQUIRE_SIPREC", ("sip", "require_siprec")),
    EnvOverride("SIPREC_HTTP_HOST", ("http", "host")),
    EnvOverride("SIPREC_HTTP_PORT", ("http", "port")),
    EnvOverride("SIPREC_API_TOKEN", ("http", "api_token")),
    EnvOverride("SIPREC_DATA_DIR", ("storage", "data_dir")),
    EnvOverride("SIPREC_RULES_DIR", ("rules", "dir")),
    EnvOverride("SIPREC_RULES_DEFAULT_RECORD", ("rules", "default_record")),
    EnvOverride("SIPREC_RTP_PORT_MIN", ("media", "rtp_port_min")),
    EnvOverride("SIPREC_RTP_PORT_MAX", ("media", "rtp_port_max")),
    EnvOverride("SIPREC_LOG_LEVEL", ("logging", "level")),
)

# Keys whose values must never appear in a message (messages end up in logs).
SECRET_PATHS: frozenset[KeyPath] = frozenset({("http", "api_token")})

_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"0", "false", "no", "off"})

# --------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------


def load_config(path: Path | None, env: Mapping[str, str]) -> Config:
    """Read the YAML file at ``path`` (None: defaults only), then apply ``env``.

    Raises :class:`ConfigError` naming the file, line, key and problem.
    """
    if path is None:
        return _load({}, env, source="<defaults>")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc.reason}") from exc
    return _load(_parse_yaml(text, source=str(path)), env, source=str(path))


def config_from_mapping(
    data: Mapping[str, Any] | None, env: Mapping[str, str], *, source: str = "<config>"
) -> Config:
    """Like :func:`load_config` for an already parsed document (tests, other front ends)."""
    return _load(data, env, source=source)


# --------------------------------------------------------------------------------------
# The pipeline: parse, validate file, apply env, validate again, build, check semantics
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Problem:
    path: KeyPath
    message: str


def _load(document: Any, env: Mapping[str, str], *, source: str) -> Config:
    schema, validator = _schema()
    data = _to_plain(document)
    if data is None:
        data = {}
    problems = _schema_problems(validator, data)
    if not isinstance(data, dict):  # nothing to apply the environment to
        _raise_if(problems, _Locator(source, document, {}))
    overridden, env_errors = _apply_env(data, env, schema)
    locator = _Locator(source, document, overridden)
    _raise_if(problems, locator, extra=env_errors)
    _raise_if(_schema_problems(validator, data), locator)
    config = _build_config(data)
    _raise_if(_semantic_problems(config), locator)
    return config


def _raise_if(problems: list[_Problem], locator: _Locator, extra: Iterable[str] = ()) -> None:
    ordered = sorted(problems, key=locator.line_number)  # stable: schema order within a line
    lines = list(dict.fromkeys(locator.format(problem) for problem in ordered))  # no repeats
    lines.extend(extra)
    if lines:
        raise ConfigError("\n".join(lines))


def _parse_yaml(text: str, *, source: str) -> Any:
    yaml = YAML(typ="rt")  # round trip: keeps line and column of every key
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        line = f":{exc.problem_mark.line + 1}" if exc.problem_mark is not None else ""
        raise ConfigError(f"{source}{line}: invalid YAML: {_yaml_problem(exc)}") from exc
    except YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from exc


def _yaml_problem(exc: MarkedYAMLError) -> str:
    problem = str(exc.problem or exc.context or "syntax error")
    duplicate = re.match(r'found duplicate key "(.*?)"', problem)
    if duplicate:  # ruamel's text quotes both values, which may be secrets
        return f"duplicate key {duplicate.group(1)!r}"
    return problem


def _to_plain(node: Any) -> Any:
    """ruamel's round-trip types to plain JSON-like Python values (keys become str)."""
    if isinstance(node, Mapping):
        return {str(key): _to_plain(value) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return [_to_plain(item) for item in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


@functools.cache
def _schema_at(schema_path: Path) -> tuple[dict[str, Any], Draft202012Validator]:
    try:
        schema: dict[str, Any] = json.loads(schema_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot read the configuration schema {schema_path}: {exc} "
            "(set SIPREC_SHARE_DIR to the directory holding schemas/)"
        ) from exc
    return schema, Draft202012Validator(schema)


def _schema() -> tuple[dict[str, Any], Draft202012Validator]:
    """The configuration schema (``schemas/config.schema.json``) and its validator."""
    return _schema_at(share_path("schemas", "config.schema.json"))


# --------------------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------------------


def _apply_env(
    data: dict[str, Any], env: Mapping[str, str], schema: Mapping[str, Any]
) -> tuple[dict[KeyPath, str], list[str]]:
    """Write the set variables into ``data``; returns {path: variable} and error lines.

    An empty variable counts as unset.
    """
    overridden: dict[KeyPath, str] = {}
    errors: list[str] = []
    for override in ENV_OVERRIDES:
        raw = env.get(override.name)
        if not raw:
            continue
        try:
            value = _convert_env(override, raw, _schema_type(schema, override.path))
        except ValueError as exc:
            errors.append(str(exc))
            continue
        _set_path(data, override.path, value)
        overridden[override.path] = override.name
    return overridden, errors


def _convert_env(override: EnvOverride, raw: str, json_type: str) -> Any:
    shown = "<hidden>" if override.path in SECRET_PATHS else repr(raw)
    converter = _ENV_CONVERTERS.get(json_type)
    if converter is None:
        return raw
    convert, expected = converter
    try:
        return convert(raw.strip())
    except ValueError:
        raise ValueError(f"{override.name}={shown}: not {expected}") from None


def _to_bool(raw: str) -> bool:
    word = raw.lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError(raw)


_ENV_CONVERTERS: dict[str, tuple[Callable[[str], Any], str]] = {
    "integer": (int, "an integer"),
    "number": (float, "a number"),
    "boolean": (_to_bool, "a boolean (true/false, yes/no, on/off, 1/0)"),
}


def _schema_type(schema: Mapping[str, Any], path: tuple[str, ...]) -> str:
    node: Mapping[str, Any] = schema
    for key in path:
        node = node["properties"][key]
    declared = node.get("type", "string")
    types = [declared] if isinstance(declared, str) else list(declared)
    return next((t for t in types if t != "null"), "string")


def _set_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = data
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = value


# --------------------------------------------------------------------------------------
# Schema problems in plain words
# --------------------------------------------------------------------------------------

_TYPE_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "object": "a mapping of keys",
    "array": "a list",
    "null": "null",
}


def _schema_problems(validator: Draft202012Validator, data: Any) -> list[_Problem]:
    problems: list[_Problem] = []
    for error in validator.iter_errors(data):
        problems.extend(_translate(error))
    return problems


def _translate(error: ValidationError) -> list[_Problem]:
    path: KeyPath = tuple(error.absolute_path)
    if error.validator == "additionalProperties":
        known = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        allowed = ", ".join(known)
        instance: Mapping[str, Any] = error.instance if isinstance(error.instance, Mapping) else {}
        extras = [key for key in instance if key not in known]
        return [_Problem((*path, key), f"unknown key (allowed: {allowed})") for key in extras]
    secret = path in SECRET_PATHS
    formatter = _FORMATTERS.get(str(error.validator))
    if formatter is None:
        return [_Problem(path, "invalid value" if secret else error.message)]
    return [_Problem(path, formatter(error.instance, error.validator_value, secret))]


def _describe(value: Any, secret: bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if secret:
        return "a hidden value"
    return repr(value) if isinstance(value, str) else str(value)


def _type_problem(value: Any, expected: Any, secret: bool) -> str:
    names = [expected] if isinstance(expected, str) else list(expected)
    words = " or ".join(_TYPE_WORDS.get(name, name) for name in names if name != "null")
    if "null" in names and "object" not in names:
        words += " or null"
    return f"expected {words}, got {_describe(value, secret)}"


def _enum_problem(value: Any, allowed: Any, secret: bool) -> str:
    choices = ", ".join(str(choice) for choice in allowed)
    return f"{_describe(value, secret)} is not one of {choices}"


def _length_problem(value: Any, limit: Any, secret: bool) -> str:
    if limit == 1:
        return "must not be empty"
    return f"must be at least {limit} characters long"


def _max_length_problem(value: Any, limit: Any, secret: bool) -> str:
    return f"must be at most {limit} characters long"


def _required_problem(value: Any, required: Any, secret: bool) -> str:
    present = value if isinstance(value, Mapping) else {}
    missing = ", ".join(str(key) for key in required if key not in present)
    return f"missing required key(s): {missing}"


def _pattern_problem(value: Any, pattern: Any, secret: bool) -> str:
    return f"{_describe(value, secret)} does not match the pattern {pattern}"


def _min_items_problem(value: Any, limit: Any, secret: bool) -> str:
    return "must not be empty" if limit == 1 else f"needs at least {limit} items"


def _bound_problem(words: str) -> Callable[[Any, Any, bool], str]:
    def problem(value: Any, limit: Any, secret: bool) -> str:
        return f"{_describe(value, secret)} {words} {limit}"

    return problem


_FORMATTERS: dict[str, Callable[[Any, Any, bool], str]] = {
    "type": _type_problem,
    "enum": _enum_problem,
    "minLength": _length_problem,
    "maxLength": _max_length_problem,
    "required": _required_problem,
    "pattern": _pattern_problem,
    "minItems": _min_items_problem,
    "maximum": _bound_problem("is greater than the maximum of"),
    "minimum": _bound_problem("is less than the minimum of"),
    "exclusiveMaximum": _bound_problem("must be less than"),
    "exclusiveMinimum": _bound_problem("must be greater than"),
}


# --------------------------------------------------------------------------------------
# Where a problem is: file and line, or environment variable
# --------------------------------------------------------------------------------------


class _Locator:
    """Turns a key path into ``file:line`` (from ruamel) or the overriding variable."""

    def __init__(self, source: str, document: Any, overridden: Mapping[KeyPath, str]) -> None:
        self._source = source
        self._document = document
        self._overridden = overridden

    def format(self, problem: _Problem) -> str:
        dotted = _dotted(problem.path)
        where = self.where(problem.path)
        return f"{where}: {dotted}: {problem.message}" if dotted else f"{where}: {problem.message}"

    def where(self, path: KeyPath) -> str:
        for length in range(len(path), 0, -1):
            variable = self._overridden.get(path[:length])
            if variable is not None:
                return variable
        line = self._line(path)
        return f"{self._source}:{line}" if line is not None else self._source

    def line_number(self, problem: _Problem) -> int:
        """Sort key: the problem's line in the file (0 if unknown or from the environment)."""
        return self._line(problem.path) or 0

    def _line(self, path: KeyPath) -> int | None:
        """1-based line of the deepest key of ``path`` present in the document."""
        node = self._document
        line: int | None = None
        for key in path:
            position = _position(node, key)
            if position is None:
                break
            line = position + 1
            node = node[key] if isinstance(key, int) else _lookup(node, key)
        return line


def _position(node: Any, key: Key) -> int | None:
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    try:
        if isinstance(key, int) and isinstance(node, list):
            return int(lc.item(key)[0])
        if isinstance(node, Mapping) and _original_key(node, key) is not None:
            return int(lc.key(_original_key(node, key))[0])
    except (KeyError, IndexError, TypeError):
        return None
    return None


def _original_key(node: Mapping[Any, Any], key: Key) -> Any:
    """The document's own key for ``key`` (keys were made str), or None."""
    if key in node:
        return key
    return next((original for original in node if str(original) == str(key)), None)


def _lookup(node: Mapping[Any, Any], key: Key) -> Any:
    return node[_original_key(node, key)]


def _dotted(path: KeyPath) -> str:
    text = ""
    for key in path:
        if isinstance(key, int):
            text += f"[{key}]"
        else:
            text += f".{key}" if text else key
    return text


# --------------------------------------------------------------------------------------
# Building the dataclasses and the checks the schema cannot express
# --------------------------------------------------------------------------------------

_T = TypeVar("_T")
_Converters = Mapping[str, Callable[[Any], Any]]


def _optional_path(value: Any) -> Path | None:
    return None if value is None else Path(value)


def _build(cls: Callable[..., _T], data: Any, converters: _Converters) -> _T:
    items: Mapping[str, Any] = data or {}
    return cls(**{key: converters.get(key, _same)(value) for key, value in items.items()})


def _same(value: Any) -> Any:
    return value


_TLS_FIELDS: _Converters = {
    "certificate": _optional_path,
    "private_key": _optional_path,
    "ca_certificates": _optional_path,
}
_TIMER_FIELDS: _Converters = {"t1": float, "t2": float, "t4": float}
_SIP_FIELDS: _Converters = {
    "tls": lambda value: _build(TlsConfig, value, _TLS_FIELDS),
    "timers": lambda value: _build(TimerConfig, value, _TIMER_FIELDS),
    "allowed_sources": tuple,
    "shutdown_grace": float,
}
_MEDIA_FIELDS: _Converters = {
    "port_cooldown": float,
    "rtp_timeout": float,
    "workers": lambda value: value if value == "auto" else int(value),
}


def _build_config(data: Mapping[str, Any]) -> Config:
    return Config(
        sip=_build(SipConfig, data.get("sip"), _SIP_FIELDS),
        media=_build(MediaConfig, data.get("media"), _MEDIA_FIELDS),
        http=_build(HttpConfig, data.get("http"), {}),
        storage=_build(StorageConfig, data.get("storage"), {"data_dir": Path}),
        rules=_build(RulesConfig, data.get("rules"), {"dir": Path}),
        logging=_build(LoggingConfig, data.get("logging"), {}),
        metadata=_build(MetadataConfig, data.get("metadata"), {}),
        recording=_build(RecordingConfig, data.get("recording"), {}),
        alerts=alert_settings.build_alerts_config(data.get("alerts")),
        disk=alert_settings.build_disk_config(data.get("disk")),
    )


def _semantic_problems(config: Config) -> list[_Problem]:
    return [
        *_rtp_range_problems(config.media),
        *_allowed_source_problems(config.sip),
        *_tls_problems(config.sip),
        *_timer_problems(config.sip.timers),
        *(_Problem(*problem) for problem in alert_settings.alerts_problems(config.alerts)),
        *(_Problem(*problem) for problem in alert_settings.disk_problems(config.disk)),
    ]


def _rtp_range_problems(media: MediaConfig) -> list[_Problem]:
    if media.rtp_port_min < media.rtp_port_max:
        return []
    return [
        _Problem(
            ("media", "rtp_port_min"),
            f"{media.rtp_port_min} must be less than media.rtp_port_max "
            f"({media.rtp_port_max}); the range must hold at least 2 ports",
        )
    ]


def _allowed_source_problems(sip: SipConfig) -> list[_Problem]:
    problems = []
    for index, source in enumerate(sip.allowed_sources):
        try:
            ipaddress.ip_network(source, strict=False)
        except ValueError:
            problems.append(
                _Problem(
                    ("sip", "allowed_sources", index),
                    f"{source!r} is not a valid IP network in CIDR notation (e.g. 10.0.0.0/8)",
                )
            )
    return problems


def _tls_problems(sip: SipConfig) -> list[_Problem]:
    tls = sip.tls
    if (tls.certificate is None) != (tls.private_key is None):
        missing, given = (
            ("private_key", "certificate")
            if tls.private_key is None
            else ("certificate", "private_key")
        )
        return [
            _Problem(
                ("sip", "tls", given),
                f"certificate and private_key must be given together ({missing} is missing)",
            )
        ]
    if sip.tls_enabled and sip.port == sip.tls_port and sip.port != 0:
        return [_Problem(("sip", "tls_port"), f"{sip.tls_port} is also sip.port (TCP)")]
    return []


def _timer_problems(timers: TimerConfig) -> list[_Problem]:
    if timers.t1 <= timers.t2:
        return []
    return [
        _Problem(
            ("sip", "timers", "t1"),
            f"{timers.t1} must not be greater than sip.timers.t2 ({timers.t2})",
        )
    ]
