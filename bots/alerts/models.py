"""What the alerts room hands out: plain frozen values, never ORM rows (nothing lazy-loads later)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["CHANNELS", "Alert", "AlertKind", "Delivery", "incident_key"]

CHANNELS = ("webhook", "email")  # every channel there is, in the order they are tried
# An incident key: its kind, a colon, then what the incident is about (a portal key, a flow name, a
# run id): internal names only, never a member id, a name, an account or a claim number.
KEY = re.compile(r"^(?P<kind>[a-z_]+):[A-Za-z0-9_.:@-]{1,150}$")
NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")  # a portal key or a run id


class AlertKind(StrEnum):
    """What went wrong (what `rcmbot alerts test` sends is a `test`)."""

    RUN_FAILED = "run_failed"  # a sweep or another flow run failed or crashed
    CIRCUIT_OPEN = "circuit_open"  # a portal's circuit breaker opened: too many failed claims in a row
    CREDENTIALS_REFUSED = "credentials_refused"  # a portal refused the bot's sign-in: it is held
    SELECTORS_BROKEN = "selectors_broken"  # a portal's screens no longer match its selector map
    NEEDS_PERSON = "needs_person"  # a terms page (or the like) only a person may accept
    TEST = "test"


def incident_key(kind: AlertKind | str, about: str) -> str:
    """The incident key convention, `<kind>:<about>`: `credentials_refused:juniper`,
    `circuit_open:bluestem`, `run_failed:claim-status-sweep`. One open alert per key: raising it
    again while it is open only counts."""
    key = f"{AlertKind(kind).value}:{about}"
    if not KEY.match(key):
        raise ValueError(f"not an incident key: {key[:160]!r} (<kind>:<letters, digits, '_.:@-'>, at most 150)")
    return key


@dataclass(frozen=True)
class Delivery:
    """One attempt to send one alert through one channel."""

    id: int
    alert_id: int
    channel: str  # "webhook" or "email"
    attempted_at: dt.datetime
    ok: bool
    error: str | None  # why it failed: never the webhook's URL or a credential


@dataclass(frozen=True)
class Alert:
    """One incident: raised once, then only counted (`times_seen`, `last_seen_at`) until resolved."""

    id: int
    key: str
    kind: AlertKind
    portal: str | None
    run_id: str | None
    subject: str
    text: str
    raised_at: dt.datetime
    last_seen_at: dt.datetime
    times_seen: int
    resolved_at: dt.datetime | None
    resolved_by: str | None
    deliveries: tuple[Delivery, ...] = ()  # every attempt, oldest first

    @property
    def open(self) -> bool:
        return self.resolved_at is None

    @property
    def delivered(self) -> dict[str, bool]:
        """Channel -> whether any attempt through it succeeded, for the channels tried."""
        found: dict[str, bool] = {}
        for d in self.deliveries:
            found[d.channel] = found.get(d.channel, False) or d.ok
        return found

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view: times as ISO 8601 UTC, each channel tried with whether it delivered."""

        def iso(at: dt.datetime | None) -> str | None:
            return at.strftime("%Y-%m-%dT%H:%M:%SZ") if at is not None else None

        return {
            "id": self.id,
            "key": self.key,
            "kind": self.kind.value,
            "portal": self.portal,
            "run_id": self.run_id,
            "subject": self.subject,
            "text": self.text,
            "raised_at": iso(self.raised_at),
            "last_seen_at": iso(self.last_seen_at),
            "times_seen": self.times_seen,
            "resolved_at": iso(self.resolved_at),
            "resolved_by": self.resolved_by,
            "delivered": self.delivered,
        }

    def latest(self, channel: str) -> Delivery | None:
        """The last attempt through `channel`, if any."""
        return next((d for d in reversed(self.deliveries) if d.channel == channel), None)
