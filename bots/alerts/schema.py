"""Tables of the alerts room: one alert per incident, and every attempt to deliver one. Changed
only through Alembic migrations (bots/alerts/migrations/versions, in the worklist database's
history). alert_deliveries is append-only in the database itself."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from bots.core.dbtypes import UTCDateTime
from bots.worklist.schema import Base

__all__ = ["AlertDeliveryRow", "AlertRow"]

OPEN = text("resolved_at IS NULL")


class AlertRow(Base):
    """An incident. At most one open (unresolved) alert per key, in the database itself: two
    processes raising the same incident at once cannot both open one."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("uq_alert_open_key", "key", unique=True, sqlite_where=OPEN, postgresql_where=OPEN),
        Index("ix_alert_raised", "raised_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))  # "credentials_refused:juniper"
    kind: Mapped[str] = mapped_column(String(32))  # an AlertKind
    portal: Mapped[str | None] = mapped_column(String(64))
    run_id: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))  # redacted, as text and e-mail show it
    text: Mapped[str] = mapped_column(Text)  # redacted
    raised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    times_seen: Mapped[int] = mapped_column(Integer, default=1)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(100))


class AlertDeliveryRow(Base):
    """One attempt to send an alert through one channel, as it went."""

    __tablename__ = "alert_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # "webhook", "email"
    attempted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
