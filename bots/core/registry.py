"""The portal registry (config/portals.yaml): which portals exist, where, how to log in, what
their terms of use allow, how hard they may be worked, and which payer goes where.
Credentials are referenced by environment variable name, never stored here."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator

from bots.core.errors import ConfigError
from bots.core.yamlfile import load_model

SEARCH_FIELDS = ("claim_number", "member_id", "dos_from", "dos_to")


class CredentialRefs(BaseModel, extra="forbid"):
    username_env: str
    password_env: str
    totp_secret_env: str | None = None


class Credentials(BaseModel):
    username: SecretStr
    password: SecretStr
    totp_secret: SecretStr | None = None


Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class MaintenanceWindow(BaseModel, extra="forbid"):
    """A recurring window, in the portal's own time zone, when it must not be worked. A window
    whose end is before its start runs past midnight into the next day."""

    days: list[Day] = Field(default_factory=lambda: list(DAYS))
    start: dt.time
    end: dt.time

    def covers(self, local: dt.datetime) -> bool:
        t, day = local.time(), DAYS[local.weekday()]
        yesterday = DAYS[(local.weekday() - 1) % 7]
        if self.start <= self.end:
            return day in self.days and self.start <= t < self.end
        return (day in self.days and t >= self.start) or (yesterday in self.days and t < self.end)

    def describe(self, tz: str) -> str:
        days = "daily" if len(self.days) == 7 else ",".join(self.days)
        return f"{days} {self.start:%H:%M}-{self.end:%H:%M} {tz}"


class PortalEntry(BaseModel, extra="forbid"):
    name: str
    payer_ids: list[str] = Field(min_length=1)
    base_url: str = Field(pattern=r"^https?://")
    selector_map: Path
    status_map: Path
    timezone: str
    date_format: str = "%m/%d/%Y"
    mfa: Literal["totp", "none"] = "totp"
    credentials: CredentialRefs
    automation_permitted: bool = Field(True, description=(
        "whether the portal's terms of use permit automated access; if not, it is never worked"))
    terms_acknowledged_by: Literal["bot", "person"] = Field("bot", description=(
        "who may accept a terms-of-use page: if a person, the sweep of this portal stops there"))
    max_concurrency: int = Field(4, ge=1, le=32, description="pages working the portal at once")
    rate_limit_per_min: float | None = Field(None, gt=0, description="page loads per minute, all pages together")
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    search_url: str | None = Field(None, description=(
        "a GET path that shows search results directly, skipping the search form; placeholders "
        "{claim_number}, {member_id}, {dos_from}, {dos_to} are filled URL-encoded"))

    @field_validator("search_url")
    @classmethod
    def _placeholders(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                value.format(**dict.fromkeys(SEARCH_FIELDS, ""))
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"unknown or malformed placeholder {exc} (use {', '.join(SEARCH_FIELDS)})") from None
            if not value.startswith("/"):
                raise ValueError("must be a path starting with / (the base URL is prepended)")
        return value

    @field_validator("timezone")
    @classmethod
    def _iana(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"not an IANA time zone: {value!r}") from None
        return value

    def maintenance_at(self, when: dt.datetime) -> MaintenanceWindow | None:
        """The maintenance window covering `when` (UTC), if any."""
        local = when.astimezone(ZoneInfo(self.timezone))
        return next((w for w in self.maintenance if w.covers(local)), None)

    def credentials_from_env(self, portal: str) -> Credentials:
        refs = self.credentials
        totp_env = refs.totp_secret_env if self.mfa == "totp" else None
        if self.mfa == "totp" and not totp_env:
            raise ConfigError("registry", None, f"portals.{portal}.credentials.totp_secret_env",
                              "required when mfa is totp")
        names = [refs.username_env, refs.password_env] + ([totp_env] if totp_env else [])
        missing = [n for n in names if not os.environ.get(n)]
        if missing:
            raise ConfigError("environment", None, f"portals.{portal}.credentials",
                              f"missing environment variable(s): {', '.join(missing)}")
        totp = os.environ[totp_env] if totp_env else None
        return Credentials(username=SecretStr(os.environ[refs.username_env]),
                           password=SecretStr(os.environ[refs.password_env]),
                           totp_secret=SecretStr(totp) if totp else None)


class PortalRegistry(BaseModel, extra="forbid"):
    portals: dict[str, PortalEntry] = Field(min_length=1)

    @classmethod
    def load(cls, path: Path) -> PortalRegistry:
        return load_model(path, cls)

    def route(self, payer_id: str, when: dt.datetime) -> Route:
        """Where an item of this payer is checked now: the first registered portal for the payer
        that may be automated and is not in maintenance; else why not, as a reason for a person
        (manual) or for the next sweep (deferred)."""
        candidates = [key for key, p in self.portals.items() if payer_id in p.payer_ids]
        if not candidates:
            return Route(None, f"no portal is registered for payer {payer_id}", deferred=False)
        reasons, deferred = [], False
        for key in candidates:
            entry = self.portals[key]
            window = entry.maintenance_at(when)
            if not entry.automation_permitted:
                reasons.append(f"{key}: its terms of use do not permit automation")
            elif window is not None:
                reasons.append(f"{key}: in its maintenance window ({window.describe(entry.timezone)})")
                deferred = True
            else:
                return Route(key, None, deferred=False)
        return Route(None, "; ".join(reasons), deferred=deferred)


@dataclass(frozen=True)
class Route:
    """A routing decision: a portal key, or the reason there is none (deferred: try again later,
    else manual follow-up)."""

    portal: str | None
    reason: str | None
    deferred: bool
