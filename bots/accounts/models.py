"""What the accounts room hands out: plain frozen values, never ORM rows (nothing lazy-loads later)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bots.core.models import Role


@dataclass(frozen=True)
class CurrentUser:
    """The user of one console session, as every request sees it."""

    id: int
    username: str
    role: Role
    session_id: int


@dataclass(frozen=True)
class UserView:
    """A console user for lists: no password hash, no TOTP secret."""

    id: int
    username: str
    role: Role
    totp: bool
    disabled_at: dt.datetime | None
    locked_until: dt.datetime | None  # only while the lock holds
    failed_logins: int
    created_at: dt.datetime
    password_changed_at: dt.datetime


@dataclass(frozen=True)
class LoginRecord:
    id: int
    at: dt.datetime
    username: str
    user_id: int | None
    success: bool
    reason: str


@dataclass(frozen=True)
class AccessRecord:
    id: int
    at: dt.datetime
    username: str
    role: str
    action: str
    what: str
    item_id: int | None
    task_id: int | None
