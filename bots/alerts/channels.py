"""The ways an alert leaves rcmbot: a webhook (a JSON POST) and e-mail over SMTP. A channel's
`send` raises `ChannelError` saying why it failed, in words that hold neither the webhook's URL
(it may carry a token) nor any credential; the Alerts class records that and carries on."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterable, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Protocol

import httpx
from pydantic import SecretStr

from bots.alerts.models import Alert
from bots.core.errors import RcmbotError
from bots.core.settings import Settings

__all__ = ["Channel", "ChannelError", "EmailChannel", "WebhookChannel", "channels_from", "payload"]

ERROR_MAX = 500  # characters of a failure kept


class ChannelError(RcmbotError):
    """A channel could not deliver an alert (the message says why, with nothing secret in it)."""


class Channel(Protocol):
    name: str

    def send(self, alert: Alert) -> None:
        """Deliver `alert` or raise ChannelError."""


def payload(alert: Alert) -> dict[str, Any]:
    """What the webhook receives."""
    return {
        "kind": alert.kind.value,
        "key": alert.key,
        "subject": alert.subject,
        "text": alert.text,
        "portal": alert.portal,
        "run_id": alert.run_id,
        "raised_at": alert.raised_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _why(exc: BaseException, secrets: Iterable[str | None]) -> str:
    """An exception as a short reason, every secret in it blanked."""
    text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[REDACTED]")
    return text[:ERROR_MAX]


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


class WebhookChannel:
    """POSTs `payload(alert)` as JSON; any answer but 2xx is a failure (redirects are not followed)."""

    name = "webhook"

    def __init__(
        self,
        url: SecretStr,
        timeout_s: float,
        token: SecretStr | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url, self.timeout_s, self.token, self.transport = url, timeout_s, token, transport

    def send(self, alert: Alert) -> None:
        headers = {"User-Agent": "rcmbot-alerts"}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token.get_secret_value()}"
        try:
            with httpx.Client(timeout=self.timeout_s, transport=self.transport, follow_redirects=False) as client:
                answer = client.post(self.url.get_secret_value(), json=payload(alert), headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            raise ChannelError(_why(exc, [self.url.get_secret_value(), _secret(self.token)])) from None
        if not answer.is_success:
            raise ChannelError(f"the webhook answered HTTP {answer.status_code}")


class EmailChannel:
    """One message to every recipient through an SMTP server (STARTTLS and login when asked)."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        timeout_s: float,
        *,
        starttls: bool = False,
        username: str | None = None,
        password: SecretStr | None = None,
    ) -> None:
        self.host, self.port, self.sender, self.recipients = host, port, sender, list(recipients)
        self.timeout_s, self.starttls, self.username, self.password = timeout_s, starttls, username, password

    def message(self, alert: Alert) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = f"[rcmbot] {alert.subject}"
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Date"] = formatdate(alert.raised_at.timestamp(), usegmt=True)
        msg["Message-ID"] = make_msgid(domain="rcmbot.invalid")
        details = [
            ("kind", alert.kind.value),
            ("incident", alert.key),
            ("portal", alert.portal),
            ("run", alert.run_id),
            ("raised", alert.raised_at.strftime("%Y-%m-%d %H:%M:%S UTC")),
        ]
        body = "\n".join(f"{name + ':':<10}{value}" for name, value in details if value)
        msg.set_content(f"{alert.text}\n\n{body}\n")
        return msg

    def send(self, alert: Alert) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, _secret(self.password) or "")
                smtp.send_message(self.message(alert), from_addr=self.sender, to_addrs=self.recipients)
        except (OSError, ValueError) as exc:  # smtplib's errors are OSErrors, as are refused, timed out, TLS
            raise ChannelError(_why(exc, [self.username, _secret(self.password)])) from None


def channels_from(settings: Settings) -> list[Channel]:
    """The channels `settings.alerts` configures, in the order they are tried (none: alerts are
    only kept)."""
    s = settings.alerts
    found: list[Channel] = []
    if s.webhook_url is not None:
        found.append(WebhookChannel(s.webhook_url, s.webhook_timeout_s, s.webhook_token))
    if s.smtp_host:
        found.append(
            EmailChannel(
                s.smtp_host,
                s.smtp_port,
                s.smtp_from,
                s.smtp_to,
                s.smtp_timeout_s,
                starttls=s.smtp_starttls,
                username=s.smtp_username,
                password=s.smtp_password,
            )
        )
    return found
