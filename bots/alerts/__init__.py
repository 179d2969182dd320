"""Alerts room: a failed run, an open circuit breaker, refused credentials, broken selectors or a
terms page that needs a person raise one alert per incident (Alerts.raise_alert), kept in the
worklist database for the console and sent through the configured channels (a webhook, e-mail
over SMTP). No web code: the sweep and the flows raise alerts, the console and `rcmbot alerts`
show them."""

from typing import TYPE_CHECKING

from bots.alerts.models import CHANNELS, Alert, AlertKind, Delivery, incident_key
from bots.core.lazy import lazy_exports

if TYPE_CHECKING:
    from bots.alerts.channels import Channel, ChannelError, EmailChannel, WebhookChannel, channels_from, payload
    from bots.alerts.holds import hold_portal, resume_portal
    from bots.alerts.schema import AlertDeliveryRow, AlertRow
    from bots.alerts.store import Alerts

__all__ = [
    "Alert",
    "AlertDeliveryRow",
    "AlertKind",
    "AlertRow",
    "Alerts",
    "CHANNELS",
    "Channel",
    "ChannelError",
    "Delivery",
    "EmailChannel",
    "WebhookChannel",
    "channels_from",
    "hold_portal",
    "incident_key",
    "payload",
    "resume_portal",
]

# Loaded on first use: importing the room for its kinds and values loads no database or HTTP code.
_MODULES = {
    "Channel": "bots.alerts.channels",
    "ChannelError": "bots.alerts.channels",
    "EmailChannel": "bots.alerts.channels",
    "WebhookChannel": "bots.alerts.channels",
    "channels_from": "bots.alerts.channels",
    "payload": "bots.alerts.channels",
    "AlertDeliveryRow": "bots.alerts.schema",
    "AlertRow": "bots.alerts.schema",
    "Alerts": "bots.alerts.store",
    "hold_portal": "bots.alerts.holds",
    "resume_portal": "bots.alerts.holds",
}

__getattr__ = lazy_exports(__name__, _MODULES)
