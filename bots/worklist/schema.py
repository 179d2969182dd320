"""Tables of the worklist database. Changed only through Alembic migrations."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bots.core.dbtypes import UTCDateTime


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "worklist_items"
    __table_args__ = (
        UniqueConstraint("payer_id", "account_number", name="uq_item_key"),
        # a person finds an item by any number they have at hand (the console's search)
        Index("ix_item_account", "account_number"),
        Index("ix_item_claim", "payer_claim_number"),
        Index("ix_item_member", "member_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Key and descriptive fields (from the CSV import)
    payer_id: Mapped[str] = mapped_column(String(32))
    account_number: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[str] = mapped_column(String(64))
    patient_name: Mapped[str | None] = mapped_column(String(200))
    dos_from: Mapped[dt.date] = mapped_column(Date)
    dos_to: Mapped[dt.date] = mapped_column(Date)
    billed_cents: Mapped[int] = mapped_column(Integer)
    owner: Mapped[str | None] = mapped_column(String(100))
    payer_claim_number: Mapped[str | None] = mapped_column(String(64))
    # Latest check
    outcome: Mapped[str | None] = mapped_column(String(16))
    status_category: Mapped[str | None] = mapped_column(String(4))
    status_code: Mapped[str | None] = mapped_column(String(8))
    status_text: Mapped[str | None] = mapped_column(String(200))
    status_date: Mapped[dt.date | None] = mapped_column(Date)
    allowed_cents: Mapped[int | None] = mapped_column(Integer)
    paid_cents: Mapped[int | None] = mapped_column(Integer)
    patient_resp_cents: Mapped[int | None] = mapped_column(Integer)
    check_number: Mapped[str | None] = mapped_column(String(64))
    check_date: Mapped[dt.date | None] = mapped_column(Date)
    carc_codes: Mapped[str | None] = mapped_column(String(200))
    rarc_codes: Mapped[str | None] = mapped_column(String(200))
    next_action: Mapped[str | None] = mapped_column(String(200))
    next_follow_up_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    last_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The sweep run working the item now, until when (renewed by its heartbeat): no other run selects it
    lease_holder: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ServiceLineRow(Base):
    """Service lines keep their ids across checks (upserted by line number), so later
    records such as review tasks can point at them."""

    __tablename__ = "service_lines"
    __table_args__ = (UniqueConstraint("item_id", "line_no", name="uq_line"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("worklist_items.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    procedure_code: Mapped[str] = mapped_column(String(16))
    modifiers: Mapped[str] = mapped_column(String(32), default="")
    diagnosis_pointers: Mapped[str] = mapped_column(String(16), default="")
    units: Mapped[int] = mapped_column(Integer, default=1)
    billed_cents: Mapped[int] = mapped_column(Integer)
    paid_cents: Mapped[int] = mapped_column(Integer, default=0)


class History(Base):
    """One row per check, never updated or deleted: an item's timeline."""

    __tablename__ = "status_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("worklist_items.id"), index=True)
    checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    flow_run_id: Mapped[str | None] = mapped_column(String(64))
    portal: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    status_category: Mapped[str | None] = mapped_column(String(4))
    status_text: Mapped[str | None] = mapped_column(String(200))
    status_date: Mapped[dt.date | None] = mapped_column(Date)
    paid_cents: Mapped[int | None] = mapped_column(Integer)
    next_action: Mapped[str | None] = mapped_column(String(200))
    detail_json: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of sha256
    error: Mapped[str | None] = mapped_column(Text)
    failure: Mapped[str | None] = mapped_column(String(32))  # why a check failed or was deferred (FailureKind)


class SweepRun(Base):
    """A sweep run while it works and after: who runs it and its last sign of life, so a run whose
    process died is told from one still working (its leases let go, its Prefect runs marked crashed)."""

    __tablename__ = "sweep_runs"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    flow_run_id: Mapped[str | None] = mapped_column(String(64))
    holder: Mapped[str] = mapped_column(String(200))  # host and process id
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ending: Mapped[str | None] = mapped_column(String(16))  # completed, failed, crashed
    selected: Mapped[int] = mapped_column(Integer, default=0)  # items it leased


class PortalHold(Base):
    """A portal no sweep or apply run signs in to until a person releases it (`rcmbot portal
    resume`, the console's Resume): its credentials were refused. Kept after release."""

    __tablename__ = "portal_holds"
    __table_args__ = (
        Index("ix_hold_portal", "portal", "released_at"),
        Index(
            "uq_hold_active",
            "portal",
            unique=True,
            sqlite_where=text("released_at IS NULL"),
            postgresql_where=text("released_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))  # a FailureKind: credentials_refused
    reason: Mapped[str] = mapped_column(Text)
    run_id: Mapped[str | None] = mapped_column(String(64))
    held_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    released_by: Mapped[str | None] = mapped_column(String(100))
