"""Tables of the accounts room: console users, their sessions, login events and the access log.
Changed only through Alembic migrations (bots/accounts/migrations/versions, in the worklist
database's history). login_events and access_log are append-only in the database itself."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bots.core.dbtypes import UTCDateTime
from bots.worklist.schema import Base


class ConsoleUser(Base):
    """A person who signs in to the console. Never deleted: disabled, so the logs keep meaning."""

    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # bots.core.models.Role
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id, parameters inside
    totp_secret: Mapped[str | None] = mapped_column(String(64))  # base32; None: no second factor
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)  # in a row; a success clears it
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ConsoleSession(Base):
    """A signed-in browser. Only the token's SHA-256 is kept: a copy of the database opens no session."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("console_users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(16))  # logout, idle, max age, disabled, password reset


class LoginEvent(Base):
    """Every login attempt, as typed, with why it failed; never the password or the code."""

    __tablename__ = "login_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    username: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(Integer)
    success: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(32))


class AccessEntry(Base):
    """Who looked at what in the console, by internal ids only (no names, member ids, account or
    claim numbers, dates): the log itself must not become a second copy of the PHI."""

    __tablename__ = "access_log"
    __table_args__ = (
        Index("ix_access_log_username", "username", "id"),
        Index("ix_access_log_action", "action", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    username: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    what: Mapped[str] = mapped_column(String(200))
    item_id: Mapped[int | None] = mapped_column(Integer)
    task_id: Mapped[int | None] = mapped_column(Integer)
