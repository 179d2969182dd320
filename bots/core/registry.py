"""The portal registry (config/portals.yaml): which portals exist, where, how to log in, what
their terms of use allow, how hard they may be worked, and which payer goes where.
Credentials are referenced by environment variable name, never stored here."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, StringConstraints, field_validator, model_validator

from bots.core.errors import ConfigError
from bots.core.models import MATCH_FIELDS, FailureKind, ItemRef, MatchField
from bots.core.yamlfile import load_model

SEARCH_FIELDS = ("claim_number", "member_id", "dos_from", "dos_to")
# A canary's `reaches`: a screen or outcome name, or an element key (screen.element).
REACHABLE = re.compile(r"^[a-z_]+(\.[a-z_]+)?$")


SECRETS = ("username", "password", "totp_secret", "mailbox_token")


class CredentialRefs(BaseModel, extra="forbid"):
    """Where each secret lives: the name of an environment variable (`<secret>_env`) or of a
    Prefect Secret block (`<secret>_block`). Never the value."""

    username_env: str | None = None
    username_block: str | None = None
    password_env: str | None = None
    password_block: str | None = None
    totp_secret_env: str | None = None
    totp_secret_block: str | None = None
    mailbox_token_env: str | None = None
    mailbox_token_block: str | None = None

    @model_validator(mode="after")
    def _one_place_each(self) -> CredentialRefs:
        for name in SECRETS:
            if getattr(self, f"{name}_env") and getattr(self, f"{name}_block"):
                raise ValueError(f"give {name}_env or {name}_block, not both")
        for name in ("username", "password"):
            if self.ref(name) is None:
                raise ValueError(f"give {name}_env (an environment variable) or {name}_block (a Prefect Secret block)")
        return self

    def env_for(self, values: dict[str, str]) -> dict[str, str]:
        """Environment variables that supply these secret values (a simulated portal's
        throwaway user); secrets kept in Prefect Secret blocks are left out."""
        return {env: value for name, value in values.items() if (env := getattr(self, f"{name}_env"))}

    def ref(self, name: str) -> tuple[str, str] | None:
        """("env" | "block", where) for one secret, or None if not configured."""
        env, block = getattr(self, f"{name}_env"), getattr(self, f"{name}_block")
        return ("env", env) if env else ("block", block) if block else None


# Reads a Prefect Secret block's value by block name (None if there is no such block). Core
# may not import Prefect: the orchestration layer hands its reader in (use_secret_blocks).
BlockReader = Callable[[str], str | None]
_block_reader: list[BlockReader] = []


def use_secret_blocks(reader: BlockReader) -> None:
    _block_reader[:] = [reader]


def _secret(kind: str, where: str) -> str | None:
    if kind == "env":
        return os.environ.get(where) or None
    if not _block_reader:
        raise ConfigError(
            "credentials",
            None,
            where,
            "Prefect Secret blocks are read through Prefect: run rcmbot's commands or flows, which set it up",
        )
    return _block_reader[0](where)


class MissingCredentialsError(ConfigError):
    """A secret the portal's login needs is not available where this runs (not the registry's
    fault: the environment's, or a missing Prefect Secret block)."""


class Credentials(BaseModel):
    username: SecretStr
    password: SecretStr
    totp_secret: SecretStr | None = None
    mailbox_token: SecretStr | None = None


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


class Canary(BaseModel, extra="forbid"):
    """A claim `rcmbot selectors check` looks up to drive the portal through every screen (a
    denial reaches the adjustment details; a member search the results pages; a claim the
    portal does not hold the empty results)."""

    payer_id: str
    account_number: str
    claim_number: str | None = None
    member_id: str | None = None
    dos_from: dt.date
    dos_to: dt.date
    billed: Decimal = Field(ge=0, decimal_places=2)
    reaches: list[str] = Field(
        default_factory=list,
        description=(
            "what the check must see this canary reach: screens (detail, results...), elements "
            "(detail.adjustments, results.next_page...) or outcomes (not_found, ambiguous...)"
        ),
    )

    @field_validator("reaches", mode="before")
    @classmethod
    def _words(cls, value: object) -> object:
        words = [value] if isinstance(value, str) else value
        if isinstance(words, list):
            for word in words:
                if not isinstance(word, str) or not REACHABLE.match(word):
                    raise ValueError(
                        f"{word!r}: name a screen (detail), an element key (detail.adjustments) or an "
                        "outcome (not_found), or a list of them; a description goes in a YAML comment"
                    )
        return words

    @model_validator(mode="after")
    def _searchable(self) -> Canary:
        if not self.claim_number and not self.member_id:
            raise ValueError("give claim_number, or member_id (searched with the service dates)")
        return self

    def item(self, n: int) -> ItemRef:
        """As a worklist item; canaries get negative ids, never a worklist item's."""
        return ItemRef(
            id=-n,
            payer_id=self.payer_id,
            account_number=self.account_number,
            member_id=self.member_id or "",
            dos_from=self.dos_from,
            dos_to=self.dos_to,
            billed_cents=int(self.billed * 100),
            payer_claim_number=self.claim_number,
        )


class RequestPages(BaseModel, extra="forbid"):
    """Where a payer portal takes corrected-claim and reconsideration requests (the apply flow)."""

    form_page: str = Field(description="the path of the request form")
    list_page: str = Field(
        description=(
            "the path of the submitted-requests page; {claim_number} is filled URL-encoded where the "
            "portal filters the list by claim"
        )
    )

    @field_validator("form_page", "list_page")
    @classmethod
    def _path(cls, value: str) -> str:
        _path_only(value)
        return value


class PortalEntry(BaseModel, extra="forbid"):
    name: str
    payer_ids: list[str] = Field(min_length=1)
    base_url: str = Field(pattern=r"^https?://")
    selector_map: Path
    status_map: Path
    timezone: str
    date_format: str = "%m/%d/%Y"
    shape: Literal["detail", "batch"] = Field(
        "detail",
        description=(
            "detail: search, results, a detail page or panel per claim; batch: a clearinghouse inquiry "
            "of several claims at once, answered with 277 codes per claim"
        ),
    )
    login: Literal["single_page", "two_step"] = Field(
        "single_page",
        description=("two_step: the username page comes first (its button is login.next), then the password page"),
    )
    mfa: Literal["totp", "mailbox", "none"] = "totp"
    mailbox_url: str | None = Field(
        None, description=("with mfa mailbox: the inbox page the code is read from; a path is relative to base_url")
    )
    batch_size: int = Field(10, ge=1, le=10, description="claims per inquiry, with shape batch")
    canaries: list[Canary] = Field(default_factory=list, description="claims for `rcmbot selectors check`")
    bot: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description=("module:Class of a PortalBot subclass, for a portal that needs behaviour the shapes lack"),
    )
    credentials: CredentialRefs
    automation_permitted: bool = Field(
        True, description=("whether the portal's terms of use permit automated access; if not, it is never worked")
    )
    terms_acknowledged_by: Literal["bot", "person"] = Field(
        "bot", description=("who may accept a terms-of-use page: if a person, the sweep of this portal stops there")
    )
    max_concurrency: int = Field(4, ge=1, le=32, description="pages working the portal at once")
    rate_limit_per_min: float | None = Field(None, gt=0, description="page loads per minute, all pages together")
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    search_url: str | None = Field(
        None,
        description=(
            "a GET path that shows search results directly, skipping the search form; placeholders "
            "{claim_number}, {member_id}, {dos_from}, {dos_to} are filled URL-encoded"
        ),
    )
    login_url: str = Field("/", description="the path of the sign-in page (the base URL is prepended)")
    search_page: str = Field(
        "/", description="the path of the search (or inquiry) form, when no nav.new_search link leads there"
    )
    requests: RequestPages | None = Field(
        None, description="the portal's corrected-claim / reconsideration form, if it has one"
    )
    match_on: list[MatchField] = Field(
        default_factory=lambda: list(MATCH_FIELDS),
        min_length=1,
        description=(
            "what identifies an item's claim among search results: claim_number (alone, when the "
            "worklist knows it), else the others listed together (account_number, dos, billed)"
        ),
    )

    @field_validator("search_url")
    @classmethod
    def _placeholders(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                value.format(**dict.fromkeys(SEARCH_FIELDS, ""))
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"unknown or malformed placeholder {exc} (use {', '.join(SEARCH_FIELDS)})") from None
            _path_only(value)
        return value

    @field_validator("login_url", "search_page")
    @classmethod
    def _path(cls, value: str) -> str:
        return _path_only(value)

    @field_validator("match_on")
    @classmethod
    def _matchable(cls, value: list[MatchField]) -> list[MatchField]:
        if len(set(value)) != len(value):
            raise ValueError("lists a field twice")
        if set(value) <= {"claim_number"}:
            raise ValueError("add account_number, dos or billed: items without a claim number are matched by them")
        return value

    @model_validator(mode="after")
    def _mfa_needs(self) -> PortalEntry:
        needs = {"totp": "totp_secret", "mailbox": "mailbox_token"}.get(self.mfa)
        if needs and self.credentials.ref(needs) is None:
            raise ValueError(f"mfa {self.mfa} needs credentials.{needs}_env or credentials.{needs}_block")
        if self.mfa == "mailbox" and not self.mailbox_url:
            raise ValueError("mfa mailbox needs mailbox_url")
        return self

    @field_validator("date_format")
    @classmethod
    def _date_format(cls, value: str) -> str:
        """A format that writes a date and reads it back (`%Q` and friends fail here, not mid-sweep)."""
        day = dt.date(2026, 7, 4)
        try:
            read = dt.datetime.strptime(day.strftime(value), value).date()
        except ValueError as exc:
            raise ValueError(f"not a date format: {value!r} ({exc})") from None
        if read != day:
            raise ValueError(f"{value!r} does not write the whole date (year, month and day)")
        return value

    @field_validator("timezone")
    @classmethod
    def _iana(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"not an IANA time zone: {value!r}") from None
        return value

    @property
    def claims_per_inquiry(self) -> int:
        return self.batch_size if self.shape == "batch" else 1

    def maintenance_at(self, when: dt.datetime) -> MaintenanceWindow | None:
        """The maintenance window covering `when` (UTC), if any."""
        local = when.astimezone(ZoneInfo(self.timezone))
        return next((w for w in self.maintenance if w.covers(local)), None)

    def resolve_credentials(self, portal: str) -> Credentials:
        """The secrets this portal's login needs, from the environment or Prefect Secret blocks."""
        wanted = ["username", "password"] + {"totp": ["totp_secret"], "mailbox": ["mailbox_token"]}.get(self.mfa, [])
        values, missing = {}, []
        for name in wanted:
            kind, where = self.credentials.ref(name) or ("env", "?")
            value = _secret(kind, where)
            if value is None:
                missing.append(f"{'environment variable' if kind == 'env' else 'Prefect Secret block'} {where}")
            values[name] = SecretStr(value or "")
        if missing:
            raise MissingCredentialsError(
                "credentials", None, f"portals.{portal}.credentials", f"missing: {', '.join(missing)}"
            )
        return Credentials(**values)


def _path_only(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("must be a path starting with / (the base URL is prepended)")
    return value


# A portal's key names files, directories and Prefect limits: plain lowercase words only.
PortalKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=40)]


class PortalRegistry(BaseModel, extra="forbid"):
    portals: dict[PortalKey, PortalEntry] = Field(min_length=1)

    @classmethod
    def load(cls, path: Path) -> PortalRegistry:
        return load_model(path, cls)

    def route(self, payer_id: str, when: dt.datetime, unusable: Mapping[str, Blocked] | None = None) -> Route:
        """Where an item of this payer is checked now: the first registered portal for the payer
        that may be automated, is not in maintenance and not `unusable` (portal -> why, such as
        a failed selectors check); else why not, as a reason for a person (manual) or for the
        next sweep (deferred), with the failure kind of the first portal that would have served."""
        candidates = [key for key, p in self.portals.items() if payer_id in p.payer_ids]
        if not candidates:
            return Route(None, f"no portal is registered for payer {payer_id}", False, FailureKind.NO_PORTAL)
        reasons, failures = [], []
        for key in candidates:
            entry = self.portals[key]
            window = entry.maintenance_at(when)
            if not entry.automation_permitted:
                reasons.append(f"{key}: its terms of use do not permit automation")
            elif window is not None:
                reasons.append(f"{key}: in its maintenance window ({window.describe(entry.timezone)})")
                failures.append(FailureKind.MAINTENANCE)
            elif unusable and key in unusable:
                reasons.append(unusable[key].reason)
                failures.append(unusable[key].failure)
            else:
                return Route(key, None, deferred=False)
        return Route(None, "; ".join(reasons), bool(failures), failures[0] if failures else FailureKind.NO_PORTAL)


class Blocked(NamedTuple):
    """Why a portal is not worked now: a reason for a person, and its kind."""

    reason: str
    failure: FailureKind


@dataclass(frozen=True)
class Route:
    """A routing decision: a portal key, or the reason there is none (deferred: try again later,
    else manual follow-up) and its kind."""

    portal: str | None
    reason: str | None
    deferred: bool
    failure: FailureKind | None = None
