"""Rendering alerts with Jinja2 in a sandbox: subject, short summary, plain text, HTML.

Shipped templates live in ``alerts/templates/``: ``<name>.txt`` (no escaping) and
``<name>.html`` (autoescaped), both extending ``base.txt``/``base.html``; the
``body`` block of the text template is the short summary Slack shows. The template is
``Alert.template_name`` (a rule may pick one), else the one named after the event
type (``disk_low``/``disk_critical``/``disk_ok`` share ``disk``), else ``default``.

A rule's ``alert`` action may bring inline Jinja2 source (``template`` for the body,
``subject`` for the title). It runs in :class:`jinja2.sandbox.SandboxedEnvironment`
(no attribute access to internals, bounded ``range``), its output is cut to
:data:`MAX_TEXT` characters, and a template that fails does not lose the alert: the
message says why and lists the facts. :func:`check_template` lets the rules loader
reject a broken template when the rules are loaded.

Template variables: ``alert`` (the record as a dict), ``facts``, ``title``,
``severity``, ``type``, ``id``, ``created_at``, ``last_seen``, ``occurrences``,
``suppressed`` (messages held back by the rate limit before this one), ``appliance``
and ``message`` (the rule's rendered inline template, or "").
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from siprec_appliance.alerts.errors import AlertTemplateError
from siprec_appliance.alerts.model import Alert, iso_time

__all__ = [
    "MAX_TEXT",
    "TEMPLATE_DIR",
    "Message",
    "Renderer",
    "check_template",
    "shipped_templates",
]

log = logging.getLogger("siprec.alerts")

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
MAX_TEXT = 20_000
MAX_SUBJECT = 200
_BLANK_LINES = re.compile(r"\n{3,}")
_SHARED_TEMPLATES = {"disk_low": "disk", "disk_critical": "disk", "disk_ok": "disk"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """An alert rendered for delivery (the same for every channel)."""

    alert: Alert
    subject: str
    summary: str
    text: str
    html: str
    suppressed: int = 0
    appliance: str = ""

    def payload(self) -> dict[str, Any]:
        """The JSON body of the generic webhook."""
        return {
            **self.alert.to_dict(),
            "subject": self.subject,
            "summary": self.summary,
            "text": self.text,
            "suppressed": self.suppressed,
            "appliance": self.appliance,
        }


def show(value: Any) -> str:
    """The ``show`` filter: lists joined with commas, None as ``-``, floats short."""
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ", ".join(show(item) for item in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{key}={show(item)}" for key, item in value.items()) or "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _environment(autoescape: bool, template_dir: Path) -> SandboxedEnvironment:
    environment = SandboxedEnvironment(
        loader=FileSystemLoader(str(template_dir)),
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["show"] = show
    return environment


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shipped_templates(template_dir: Path = TEMPLATE_DIR) -> frozenset[str]:
    """Names usable as a rule's ``template_name`` (those with a .txt and a .html)."""
    names = {path.stem for path in template_dir.glob("*.txt")}
    return frozenset(
        name for name in names if (template_dir / f"{name}.html").is_file() and name != "base"
    )


_CHECK_ENV = SandboxedEnvironment()


def check_template(source: str) -> None:
    """Raise :class:`AlertTemplateError` if ``source`` is not valid Jinja2."""
    try:
        _CHECK_ENV.parse(source)
    except TemplateError as exc:
        raise AlertTemplateError(f"invalid alert template: {exc}") from None


class Renderer:
    """Turns an :class:`Alert` into a :class:`Message` (thread-safe once built)."""

    def __init__(self, appliance: str, template_dir: Path = TEMPLATE_DIR) -> None:
        self.appliance = appliance
        self._text = _environment(False, template_dir)
        self._html = _environment(True, template_dir)
        self._names = shipped_templates(template_dir)
        self._inline: dict[str, Template] = {}

    def template_for(self, alert: Alert) -> str:
        """The shipped template name used for ``alert``."""
        for name in (alert.template_name, _SHARED_TEMPLATES.get(alert.event_type)):
            if name and name in self._names:
                return name
        return alert.event_type if alert.event_type in self._names else "default"

    def render(self, alert: Alert, *, suppressed: int = 0) -> Message:
        context = self._context(alert, suppressed)
        context["message"] = self._inline_text(alert.template, context, MAX_TEXT)
        subject = self._inline_text(alert.subject, context, MAX_SUBJECT) or alert.title
        subject = _cut(" ".join(subject.split()), MAX_SUBJECT)
        context["title"] = subject
        name = self.template_for(alert)
        try:
            summary, text, html = self._shipped(name, context)
        except Exception as exc:  # e.g. a rule picked a template its facts do not fit
            log.warning("alert %s: template %s failed (%s); using default", alert.id, name, exc)
            summary, text, html = self._shipped("default", context)
        return Message(
            alert=alert,
            subject=subject,
            summary=_cut(summary.strip(), MAX_TEXT),
            text=_cut(_BLANK_LINES.sub("\n\n", text).strip(), MAX_TEXT) + "\n",
            html=html,
            suppressed=suppressed,
            appliance=self.appliance,
        )

    def _shipped(self, name: str, context: dict[str, Any]) -> tuple[str, str, str]:
        """(summary, text, html) from the shipped template ``name``."""
        text_template = self._text.get_template(f"{name}.txt")
        summary = "".join(text_template.blocks["body"](text_template.new_context(context)))
        html = self._html.get_template(f"{name}.html").render(context)
        return summary, text_template.render(context), html

    def _context(self, alert: Alert, suppressed: int) -> dict[str, Any]:
        record = alert.to_dict()
        return {
            "alert": record,
            "facts": alert.facts,
            "title": alert.title,
            "severity": str(alert.severity),
            "type": alert.event_type,
            "id": alert.id,
            "created_at": record["created_at"],
            "last_seen": iso_time(alert.last_seen),
            "occurrences": alert.occurrences,
            "suppressed": suppressed,
            "appliance": self.appliance,
            "message": "",
        }

    def _inline_text(self, source: str | None, context: dict[str, Any], limit: int) -> str:
        """A rule's inline template rendered in the sandbox; on error, say so."""
        if not source:
            return ""
        try:
            template = self._inline.get(source)
            if template is None:
                template = self._text.from_string(source)
                if len(self._inline) < 256:
                    self._inline[source] = template
            return _cut(template.render(context), limit)
        except Exception as exc:  # a rule's template must never lose the alert
            log.warning("alert %s: the rule's template failed: %s", context["id"], exc)
            return f"(the rule's alert template failed: {type(exc).__name__}: {exc})"
