"""Alert delivery channels: Slack, e-mail and signed webhooks (a dispatch table by type)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from siprec_appliance.alerts.channels.base import Channel
from siprec_appliance.alerts.channels.slack import SlackChannel
from siprec_appliance.alerts.channels.smtp import EmailChannel
from siprec_appliance.alerts.channels.webhook import WebhookChannel
from siprec_appliance.alerts.settings import ChannelConfig

__all__ = [
    "CHANNEL_FACTORIES",
    "Channel",
    "EmailChannel",
    "SlackChannel",
    "WebhookChannel",
    "build_channel",
]

CHANNEL_FACTORIES: dict[str, Callable[[Any, Mapping[str, str]], Channel]] = {
    "slack": SlackChannel,
    "email": EmailChannel,
    "webhook": WebhookChannel,
}


def build_channel(config: ChannelConfig, env: Mapping[str, str]) -> Channel:
    """The channel object for one ``alerts.channels`` entry."""
    return CHANNEL_FACTORIES[config.kind](config, env)
