"""Configuration: defaults, YAML, environment overrides, error messages, semantic checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from siprec_appliance.config import (
    ENV_OVERRIDES,
    Config,
    HttpConfig,
    MediaConfig,
    RecordingConfig,
    SipConfig,
    TimerConfig,
    TlsConfig,
    config_from_mapping,
    load_config,
)
from siprec_appliance.errors import ConfigError
from siprec_appliance.resources import share_dir, share_path
from siprec_appliance.version import __version__

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "s3cr3t-t0ken-value-0123456789"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path | None, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env or {})
    return str(caught.value)


# --- defaults and files ---------------------------------------------------------------


def test_defaults_without_file() -> None:
    config = load_config(None, {})
    assert config == Config()
    assert config.sip.host == "0.0.0.0"
    assert (config.sip.port, config.sip.tls_port) == (5060, 5061)
    assert config.sip.tls == TlsConfig()
    assert not config.sip.tls_enabled
    assert config.sip.allowed_sources == ()
    assert config.sip.max_sessions == 10000
    assert (config.sip.min_se, config.sip.retry_after, config.sip.shutdown_grace) == (90, 30, 30.0)
    assert config.sip.user_agent == f"siprec-appliance/{__version__}"
    assert config.sip.timers == TimerConfig(t1=0.5, t2=4.0, t4=5.0)
    assert (config.media.rtp_port_min, config.media.rtp_port_max) == (10000, 20000)
    assert config.media.port_cooldown == 10.0
    assert config.media.rtp_timeout == 60.0
    assert config.http == HttpConfig(host="0.0.0.0", port=8080, api_token=None)
    assert config.storage.data_dir == Path("./var")
    assert config.rules.dir == Path("./rules")
    assert config.logging.level == "INFO"


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "# nothing\n"), {}) == Config()
    assert load_config(write(tmp_path, "sip:\nmedia:\n"), {}) == Config()


def test_yaml_file_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
sip:
  host: 192.0.2.10
  port: 5070
  tls:
    certificate: /etc/ssl/srs.pem
    private_key: /etc/ssl/srs.key
    verify_client: true
  allowed_sources: [10.0.0.0/8, "2001:db8::/32"]
  require_siprec: true
  timers: {t1: 1, t2: 8}
media:
  rtp_port_min: 30000
  rtp_port_max: 30100
  advertised_address: 203.0.113.5
http:
  port: 9000
storage:
  data_dir: /srv/siprec
rules:
  dir: /etc/siprec/rules
logging:
  level: DEBUG
""",
    )
    config = load_config(path, {})
    assert config.sip.host == "192.0.2.10"
    assert config.sip.port == 5070
    assert config.sip.tls == TlsConfig(
        certificate=Path("/etc/ssl/srs.pem"),
        private_key=Path("/etc/ssl/srs.key"),
        verify_client=True,
    )
    assert config.sip.tls_enabled
    assert config.sip.allowed_sources == ("10.0.0.0/8", "2001:db8::/32")
    assert config.sip.require_siprec is True
    assert config.sip.timers == TimerConfig(t1=1.0, t2=8.0, t4=5.0)
    assert isinstance(config.sip.timers.t1, float)
    assert config.media == MediaConfig(
        rtp_port_min=30000, rtp_port_max=30100, advertised_address="203.0.113.5"
    )
    assert config.http.port == 9000
    assert config.storage.data_dir == Path("/srv/siprec")
    assert config.rules.dir == Path("/etc/siprec/rules")
    assert config.logging.level == "DEBUG"


def test_example_config_validates_and_documents_the_defaults() -> None:
    assert load_config(REPO_ROOT / "config.example.yaml", {}) == Config()


def test_example_config_mentions_every_key_and_env_var() -> None:
    text = (REPO_ROOT / "config.example.yaml").read_text(encoding="utf-8")
    schema = json.loads(share_path("schemas", "config.schema.json").read_text(encoding="utf-8"))
    for dotted in _schema_keys(schema):
        assert f"{dotted.rsplit('.', 1)[-1]}:" in text, dotted
    for override in ENV_OVERRIDES:
        assert override.name in text, override.name


def _schema_keys(node: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, child in node.get("properties", {}).items():
        dotted = f"{prefix}{key}"
        keys.append(dotted)
        keys.extend(_schema_keys(child, dotted + "."))
    return keys


def test_schema_is_valid_and_closed_everywhere() -> None:
    schema = json.loads(share_path("schemas", "config.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)

    def check(node: dict[str, Any], where: str) -> None:
        if "properties" in node:
            assert node.get("additionalProperties") is False, where
        for key, child in node.get("properties", {}).items():
            assert "description" in child, f"{where}.{key}"
            check(child, f"{where}.{key}")

    check(schema, "<root>")


@pytest.mark.parametrize(
    ("section", "instance"),
    [
        ("sip", SipConfig()),
        ("media", MediaConfig()),
        ("http", HttpConfig()),
        ("recording", RecordingConfig()),
    ],
)
def test_schema_defaults_match_the_dataclasses(section: str, instance: Any) -> None:
    schema = json.loads(share_path("schemas", "config.schema.json").read_text(encoding="utf-8"))
    for key, child in schema["properties"][section]["properties"].items():
        if "default" in child:
            assert getattr(instance, key) == (
                tuple(child["default"]) if isinstance(child["default"], list) else child["default"]
            ), f"{section}.{key}"
            assert "Default:" in child["description"], f"{section}.{key}"


def test_share_dir_prefers_env_then_checkout(tmp_path: Path) -> None:
    assert share_dir({"SIPREC_SHARE_DIR": str(tmp_path)}) == tmp_path
    assert share_dir({}) == REPO_ROOT


# --- environment ----------------------------------------------------------------------


def test_env_overrides_beat_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "sip:\n  port: 5070\n  host: 192.0.2.1\nhttp:\n  port: 9000\n")
    config = load_config(path, {"SIPREC_SIP_PORT": "5080", "SIPREC_HTTP_PORT": "9100"})
    assert config.sip.port == 5080
    assert config.http.port == 9100
    assert config.sip.host == "192.0.2.1"  # not overridden: the file stays


@pytest.mark.parametrize(
    ("variable", "raw", "attribute", "expected"),
    [
        ("SIPREC_SIP_HOST", "127.0.0.2", ("sip", "host"), "127.0.0.2"),
        ("SIPREC_SIP_PORT", "15060", ("sip", "port"), 15060),
        ("SIPREC_SIP_TLS_PORT", "15061", ("sip", "tls_port"), 15061),
        ("SIPREC_HTTP_HOST", "::1", ("http", "host"), "::1"),
        ("SIPREC_HTTP_PORT", "18080", ("http", "port"), 18080),
        ("SIPREC_DATA_DIR", "/data", ("storage", "data_dir"), Path("/data")),
        ("SIPREC_RULES_DIR", "/rules", ("rules", "dir"), Path("/rules")),
        ("SIPREC_RTP_PORT_MIN", "12000", ("media", "rtp_port_min"), 12000),
        ("SIPREC_RTP_PORT_MAX", "13000", ("media", "rtp_port_max"), 13000),
        ("SIPREC_API_TOKEN", TOKEN, ("http", "api_token"), TOKEN),
        ("SIPREC_LOG_LEVEL", "WARNING", ("logging", "level"), "WARNING"),
        ("SIPREC_MAX_SESSIONS", "42", ("sip", "max_sessions"), 42),
        ("SIPREC_SIP_SHUTDOWN_GRACE", "2.5", ("sip", "shutdown_grace"), 2.5),
    ],
)
def test_each_env_variable(
    variable: str, raw: str, attribute: tuple[str, str], expected: object
) -> None:
    config = load_config(None, {variable: raw})
    section = getattr(config, attribute[0])
    assert getattr(section, attribute[1]) == expected
    assert getattr(getattr(Config(), attribute[0]), attribute[1]) != expected


def test_env_tls_certificate_and_key() -> None:
    config = load_config(None, {"SIPREC_SIP_TLS_CERT": "/c.pem", "SIPREC_SIP_TLS_KEY": "/k.pem"})
    assert config.sip.tls.certificate == Path("/c.pem")
    assert config.sip.tls.private_key == Path("/k.pem")
    assert config.sip.tls_enabled


def test_empty_env_variable_counts_as_unset() -> None:
    assert load_config(None, {"SIPREC_SIP_PORT": "", "SIPREC_API_TOKEN": ""}) == Config()


def test_bad_env_value_message() -> None:
    assert error_of(None, {"SIPREC_SIP_PORT": "abc"}) == "SIPREC_SIP_PORT='abc': not an integer"
    assert (
        error_of(None, {"SIPREC_SIP_SHUTDOWN_GRACE": "soon"})
        == "SIPREC_SIP_SHUTDOWN_GRACE='soon': not a number"
    )


def test_env_value_out_of_range_names_the_variable() -> None:
    message = error_of(None, {"SIPREC_SIP_PORT": "70000"})
    assert message == "SIPREC_SIP_PORT: sip.port: 70000 is greater than the maximum of 65535"


def test_env_errors_are_reported_together_with_file_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "sip:\n  port: -1\n")
    lines = error_of(path, {"SIPREC_HTTP_PORT": "x", "SIPREC_MAX_SESSIONS": "many"}).splitlines()
    assert lines == [
        f"{path}:2: sip.port: -1 is less than the minimum of 0",
        "SIPREC_MAX_SESSIONS='many': not an integer",
        "SIPREC_HTTP_PORT='x': not an integer",
    ]


# --- schema errors --------------------------------------------------------------------


def test_schema_error_names_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "# comment\nsip:\n  port: 70000\n")
    assert error_of(path) == f"{path}:3: sip.port: 70000 is greater than the maximum of 65535"


def test_unknown_key_lists_the_allowed_ones(tmp_path: Path) -> None:
    path = write(tmp_path, "sip:\n  host: 0.0.0.0\n\n\n  colour: blue\n")
    message = error_of(path)
    assert message.startswith(f"{path}:5: sip.colour: unknown key (allowed: host, port, tls_port,")
    assert "timers)" in message


def test_unknown_top_level_section(tmp_path: Path) -> None:
    path = write(tmp_path, "sip: {}\ntranscription:\n  x: 1\n")
    assert error_of(path).startswith(f"{path}:2: transcription: unknown key (allowed: sip, media,")


def test_recording_section_defaults_and_values(tmp_path: Path) -> None:
    assert Config().recording == RecordingConfig(
        format="wav", combined=True, per_stream=True, pauses="silence"
    )
    path = write(
        tmp_path,
        "recording:\n  format: opus\n  combined: true\n  per_stream: false\n  pauses: cut\n",
    )
    assert load_config(path, {}).recording == RecordingConfig(
        format="opus", per_stream=False, pauses="cut"
    )
    assert load_config(write(tmp_path, "recording:\n"), {}).recording == RecordingConfig()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("recording:\n  format: ogg\n", "recording.format: 'ogg' is not one of"),
        ("recording:\n  pauses: skip\n", "recording.pauses: 'skip' is not one of"),
        ("recording:\n  combined: maybe\n", "recording.combined: "),
    ],
)
def test_recording_section_rejects_bad_values(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, text)
    assert error_of(path).startswith(f"{path}:2: {problem}")


def test_several_errors_reported_together_in_line_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
sip:
  port: "5060"
  require_siprec: maybe
  extra: 1
media:
  rtp_port_min: 0
logging:
  level: verbose
""",
    )
    lines = error_of(path).splitlines()
    assert lines == [
        f"{path}:2: sip.port: expected an integer, got '5060'",
        f"{path}:3: sip.require_siprec: expected true or false, got 'maybe'",
        f"{path}:4: sip.extra: unknown key (allowed: host, port, tls_port, tls, "
        "advertised_address, allowed_sources, require_siprec, max_sessions, min_se, "
        "retry_after, shutdown_grace, user_agent, timers)",
        f"{path}:6: media.rtp_port_min: 0 is less than the minimum of 1",
        f"{path}:8: logging.level: 'verbose' is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
    ]


def test_nested_and_list_item_errors_have_their_own_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sip:\n  timers:\n    t1: 0\n  allowed_sources:\n    - 10.0.0.0/8\n    - 5\n",
    )
    assert error_of(path).splitlines() == [
        f"{path}:3: sip.timers.t1: 0 must be greater than 0",
        f"{path}:6: sip.allowed_sources[1]: expected a string, got 5",
    ]


def test_wrong_section_type_and_top_level(tmp_path: Path) -> None:
    assert error_of(write(tmp_path, "sip: 5\n")) == (
        f"{tmp_path / 'config.yaml'}:1: sip: expected a mapping of keys, got 5"
    )
    assert error_of(write(tmp_path, "- a\n- b\n")) == (
        f"{tmp_path / 'config.yaml'}: expected a mapping of keys, got a list"
    )


def test_mapping_source_is_named_without_line() -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_mapping({"http": {"port": "x"}}, {}, source="test")
    assert str(caught.value) == "test: http.port: expected an integer, got 'x'"


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    path = write(tmp_path, "sip:\n  port: [5060\n")
    assert error_of(path).startswith(f"{path}:3: invalid YAML: ")


def test_duplicate_key_does_not_echo_values(tmp_path: Path) -> None:
    path = write(tmp_path, f"http:\n  api_token: {TOKEN}\n  api_token: {TOKEN}x\n")
    message = error_of(path)
    assert message == f"{path}:3: invalid YAML: duplicate key 'api_token'"


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    message = error_of(tmp_path / "absent.yaml")
    assert (
        message
        == f"{tmp_path / 'absent.yaml'}: cannot read configuration: No such file or directory"
    )


def test_secret_values_never_appear_in_errors(tmp_path: Path) -> None:
    short = "tooshort"
    path = write(tmp_path, f"http:\n  api_token: {short}\n")
    message = error_of(path)
    assert message == f"{path}:2: http.api_token: must be at least 16 characters long"
    assert short not in message
    message = error_of(write(tmp_path, "http:\n  api_token: 12345678901234567890\n"))
    assert "12345678901234567890" not in message
    assert "http.api_token: expected a string or null, got a hidden value" in message
    assert short not in error_of(None, {"SIPREC_API_TOKEN": short})


def test_api_token_is_not_in_repr() -> None:
    config = load_config(None, {"SIPREC_API_TOKEN": TOKEN})
    assert config.http.api_token == TOKEN
    assert TOKEN not in repr(config)


# --- semantic checks ------------------------------------------------------------------


def test_rtp_range_must_hold_two_ports(tmp_path: Path) -> None:
    path = write(tmp_path, "media:\n  rtp_port_min: 20000\n  rtp_port_max: 20000\n")
    assert error_of(path) == (
        f"{path}:2: media.rtp_port_min: 20000 must be less than media.rtp_port_max (20000); "
        "the range must hold at least 2 ports"
    )
    config = load_config(
        write(tmp_path, "media:\n  rtp_port_min: 20000\n  rtp_port_max: 20001\n"), {}
    )
    assert (config.media.rtp_port_min, config.media.rtp_port_max) == (20000, 20001)


def test_rtp_range_from_env_against_default_names_the_variable() -> None:
    message = error_of(None, {"SIPREC_RTP_PORT_MIN": "30000"})
    assert message.startswith("SIPREC_RTP_PORT_MIN: media.rtp_port_min: 30000 must be less than")


def test_allowed_sources_must_be_cidrs(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sip:\n  allowed_sources:\n    - 10.0.0.0/8\n    - 10.0.0.300/8\n    - 192.0.2.7\n"
        "    - not-a-net\n",
    )
    assert error_of(path).splitlines() == [
        f"{path}:4: sip.allowed_sources[1]: '10.0.0.300/8' is not a valid IP network "
        "in CIDR notation (e.g. 10.0.0.0/8)",
        f"{path}:6: sip.allowed_sources[3]: 'not-a-net' is not a valid IP network "
        "in CIDR notation (e.g. 10.0.0.0/8)",
    ]
    # host bits set are accepted (strict=False), a bare address is a /32
    config = load_config(write(tmp_path, "sip:\n  allowed_sources: [10.1.2.3/8, 192.0.2.7]\n"), {})
    assert config.sip.allowed_sources == ("10.1.2.3/8", "192.0.2.7")


def test_tls_certificate_and_key_both_or_neither(tmp_path: Path) -> None:
    path = write(tmp_path, "sip:\n  tls:\n    certificate: /c.pem\n")
    assert error_of(path) == (
        f"{path}:3: sip.tls.certificate: certificate and private_key must be given together "
        "(private_key is missing)"
    )
    assert error_of(None, {"SIPREC_SIP_TLS_KEY": "/k.pem"}) == (
        "SIPREC_SIP_TLS_KEY: sip.tls.private_key: certificate and private_key must be given "
        "together (certificate is missing)"
    )


def test_tls_port_must_differ_from_sip_port() -> None:
    env = {
        "SIPREC_SIP_TLS_CERT": "/c",
        "SIPREC_SIP_TLS_KEY": "/k",
        "SIPREC_SIP_TLS_PORT": "5060",
    }
    assert error_of(None, env) == "SIPREC_SIP_TLS_PORT: sip.tls_port: 5060 is also sip.port (TCP)"
    # without a certificate TLS is off and the port is not used
    assert load_config(None, {"SIPREC_SIP_TLS_PORT": "5060"}).sip.tls_port == 5060


def test_t1_must_not_exceed_t2(tmp_path: Path) -> None:
    path = write(tmp_path, "sip:\n  timers:\n    t1: 5\n    t2: 4\n")
    assert (
        error_of(path)
        == f"{path}:3: sip.timers.t1: 5.0 must not be greater than sip.timers.t2 (4.0)"
    )
    assert load_config(write(tmp_path, "sip:\n  timers: {t1: 4, t2: 4}\n"), {}).sip.timers.t1 == 4.0


def test_semantic_errors_are_reported_together(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sip:\n  allowed_sources: [bad]\n  timers: {t1: 9}\nmedia:\n  rtp_port_max: 1000\n",
    )
    lines = error_of(path).splitlines()
    assert [line.split(": ")[1] for line in lines] == [
        "sip.allowed_sources[0]",
        "sip.timers.t1",
        "media.rtp_port_min",
    ]


def test_config_is_frozen() -> None:
    config = Config()
    with pytest.raises(AttributeError):
        config.sip.port = 1  # type: ignore[misc]


# --- alerts and disk ------------------------------------------------------------------

ALERTS_YAML = """\
alerts:
  appliance_name: srs-lab-1
  dedup_window: 120
  rate_limit: {count: 5, period: 30}
  retry: {initial_delay: 1, max_attempts: 3}
  channels:
    ops-slack:
      type: slack
      webhook_url_env: SLACK_WEBHOOK_URL
    ops-bot:
      type: slack
      token_file: /etc/siprec/slack-token
      channel: "#ops"
      api_url: http://127.0.0.1:9/api/
    ops-mail:
      type: email
      host: smtp.example.com
      security: tls
      username: srs
      password_env: SMTP_PASSWORD
      from: srs@example.com
      to: [ops@example.com]
    tickets:
      type: webhook
      url: https://tickets.example.com/hook
      secret_env: WEBHOOK_SECRET
      verify: false
  routes:
    - events: [disk_low, rules_reload_failed]
      min_severity: warning
      channels: [ops-slack, ops-mail]
    - channels: [tickets]
disk:
  warning_free_percent: 15
  critical_free_bytes: 1073741824
"""


def test_alerts_and_disk_defaults() -> None:
    from siprec_appliance.config import AlertsConfig, DiskConfig

    config = Config()
    assert config.alerts == AlertsConfig()
    assert config.alerts.enabled and config.alerts.channels == () and config.alerts.routes == ()
    assert config.disk == DiskConfig()
    assert (config.disk.critical_free_bytes, config.disk.retry_after) == (512 * 1024**2, 300)


def test_alert_schema_defaults_match_the_dataclasses() -> None:
    from siprec_appliance.alerts.settings import RateLimitConfig, RetryConfig
    from siprec_appliance.config import AlertsConfig, DiskConfig

    schema = json.loads(share_path("schemas", "config.schema.json").read_text(encoding="utf-8"))
    sections = {
        "alerts": (schema["properties"]["alerts"], AlertsConfig()),
        "alerts.rate_limit": (
            schema["properties"]["alerts"]["properties"]["rate_limit"],
            RateLimitConfig(),
        ),
        "alerts.retry": (schema["properties"]["alerts"]["properties"]["retry"], RetryConfig()),
        "disk": (schema["properties"]["disk"], DiskConfig()),
    }
    for section, (node, instance) in sections.items():
        for key, child in node["properties"].items():
            if "default" not in child:
                continue
            assert "Default:" in child["description"], f"{section}.{key}"
            if key not in ("channels", "routes"):
                assert getattr(instance, key) == child["default"], f"{section}.{key}"


def test_alerts_section_with_every_channel_type(tmp_path: Path) -> None:
    from siprec_appliance.alerts.settings import (
        EmailChannelConfig,
        RouteConfig,
        SecretRef,
        SlackChannelConfig,
        WebhookChannelConfig,
    )

    config = load_config(write(tmp_path, ALERTS_YAML), {})
    alerts = config.alerts
    assert alerts.appliance_name == "srs-lab-1"
    assert (alerts.dedup_window, alerts.rate_limit.count, alerts.rate_limit.period) == (120, 5, 30)
    assert (alerts.retry.initial_delay, alerts.retry.max_attempts) == (1.0, 3)
    assert isinstance(alerts.retry.initial_delay, float)
    slack, bot, mail, hook = alerts.channels
    assert slack == SlackChannelConfig(
        name="ops-slack", webhook_url=SecretRef(env="SLACK_WEBHOOK_URL")
    )
    assert slack.uses_webhook and not bot.uses_webhook
    assert bot == SlackChannelConfig(
        name="ops-bot",
        token=SecretRef(file=Path("/etc/siprec/slack-token")),
        channel="#ops",
        api_url="http://127.0.0.1:9/api/",
    )
    assert mail == EmailChannelConfig(
        name="ops-mail",
        host="smtp.example.com",
        port=465,  # implicit TLS default
        security="tls",
        username="srs",
        password=SecretRef(env="SMTP_PASSWORD"),
        sender="srs@example.com",
        recipients=("ops@example.com",),
    )
    assert hook == WebhookChannelConfig(
        name="tickets",
        url="https://tickets.example.com/hook",
        secret=SecretRef(env="WEBHOOK_SECRET"),
        verify=False,
    )
    assert alerts.routes == (
        RouteConfig(
            events=("disk_low", "rules_reload_failed"),
            min_severity="warning",
            channels=("ops-slack", "ops-mail"),
        ),
        RouteConfig(channels=("tickets",)),
    )
    assert alerts.channel("tickets") is hook and alerts.channel("nope") is None
    assert config.disk.warning_free_percent == 15.0
    assert config.disk.critical_free_bytes == 1024**3
    assert "SLACK" not in repr(config.alerts).replace("SLACK_WEBHOOK_URL", "")


@pytest.mark.parametrize(("security", "port"), [("starttls", 587), ("tls", 465), ("none", 25)])
def test_smtp_port_defaults_by_security(tmp_path: Path, security: str, port: int) -> None:
    text = (
        f"alerts:\n  channels:\n    m:\n      type: email\n      host: h\n"
        f"      security: {security}\n      from: a@b\n      to: [c@d]\n"
    )
    [mail] = load_config(write(tmp_path, text), {}).alerts.channels
    assert mail.port == port  # type: ignore[union-attr]


def test_alert_channel_schema_errors_name_key_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
alerts:
  channels:
    ops:
      type: webhook
      url: https://x.example/hook
      secret_env: S
      colour: blue
    mail:
      type: email
      host: smtp
    pager:
      type: sms
    "bad name":
      type: slack
      webhook_url_env: X
  routes:
    - events: [disk_full]
      channels: [ops]
""",
    )
    assert error_of(path).splitlines() == [
        f"{path}:2: alerts.channels: 'bad name' does not match the pattern "
        "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        f"{path}:7: alerts.channels.ops.colour: unknown key (allowed: type, url, secret_env, "
        "secret_file, ca_file, verify, timeout)",
        f"{path}:8: alerts.channels.mail: missing required key(s): from, to",
        f"{path}:12: alerts.channels.pager.type: 'sms' is not one of slack, email, webhook",
        f"{path}:17: alerts.routes[0].events[0]: 'disk_full' is not one of session_started, "
        "session_ended, recording_failed, rtp_timeout, srtp_auth_failures, "
        "rules_reload_failed, rules_reloaded, disk_low, disk_critical, disk_ok, "
        "tls_certificate_expiring, capacity_near_limit, action_failed, rule_alert",
    ]


def test_alert_semantic_problems(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
alerts:
  channels:
    both:
      type: slack
      webhook_url_env: A
      token_env: B
    neither:
      type: slack
    bot:
      type: slack
      token_env: B
    twice:
      type: webhook
      url: ftp://x.example/
      secret_env: S
      secret_file: /s
    unsigned:
      type: webhook
      url: http://127.0.0.1:8000/
    mail:
      type: email
      host: h
      username: u
      from: a@b
      to: [c@d]
  routes:
    - channels: [both, missing]
disk:
  warning_free_bytes: 100
  critical_free_bytes: 200
""",
    )
    lines = error_of(path).splitlines()
    assert lines == [
        f"{path}:3: alerts.channels.both: give an incoming webhook or a bot token, not both",
        f"{path}:7: alerts.channels.neither: needs webhook_url_env or webhook_url_file, "
        "or token_env or token_file",
        f"{path}:9: alerts.channels.bot: a bot token needs channel (e.g. '#ops' or a channel ID)",
        f"{path}:14: alerts.channels.twice.url: must be an http:// or https:// URL with a host",
        f"{path}:16: alerts.channels.twice.secret_file: give secret_env or secret_file, not both",
        f"{path}:17: alerts.channels.unsigned: needs secret_env or secret_file "
        "(the HMAC-SHA256 signing key)",
        f"{path}:23: alerts.channels.mail.username: needs password_env or password_file",
        f"{path}:27: alerts.routes[0].channels[1]: unknown channel 'missing' (configured: "
        "both, neither, bot, twice, unsigned, mail)",
        f"{path}:30: disk.critical_free_bytes: 200 must not be greater than "
        "disk.warning_free_bytes (100)",
    ]


def test_disk_thresholds_must_be_ordered(tmp_path: Path) -> None:
    path = write(tmp_path, "disk:\n  critical_free_percent: 12\n")
    assert error_of(path) == (
        f"{path}:2: disk.critical_free_percent: 12.0 must not be greater than "
        "disk.warning_free_percent (10.0)"
    )
    assert error_of(write(tmp_path, "disk:\n  hysteresis_percent: -1\n")).endswith(
        "disk.hysteresis_percent: -1 is less than the minimum of 0"
    )


def test_docs_alerts_example_is_a_valid_configuration(tmp_path: Path) -> None:
    text = (REPO_ROOT / "docs" / "alerts.md").read_text(encoding="utf-8")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    config = load_config(write(tmp_path, example), {})
    assert {channel.kind for channel in config.alerts.channels} == {"slack", "email", "webhook"}
    assert config.alerts.routes
