"""Tables of the review room: tasks and their append-only decision log. Changed only through
Alembic migrations (bots/review/migrations/versions, in the worklist database's history)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bots.core.dbtypes import UTCDateTime
from bots.worklist.schema import Base


class Task(Base):
    """One claim's question for a person. At most one open task per worklist item: `open_item_id`
    holds the item's id while the task is open and NULL once it ends, under a unique constraint
    (NULLs never collide), so a second check updates the open task instead of opening another."""

    __tablename__ = "review_tasks"
    __table_args__ = (
        UniqueConstraint("open_item_id", name="uq_review_open_item"),
        # the queue: open tasks by priority, keyset on (priority, id)
        Index("ix_review_queue", "state", "priority", "id"),
        Index("ix_review_payer", "payer_id", "state", "priority", "id"),
        Index("ix_review_category", "category", "state", "priority", "id"),
        Index("ix_review_assignee", "assignee", "state", "priority", "id"),
        Index("ix_review_age", "state", "created_at"),  # the age filter (migration 0005)
        Index("ix_review_lease", "lease_holder"),  # the tasks a supervisor holds (migration 0006)
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("worklist_items.id"), index=True)
    open_item_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # why it was opened: denial, unmapped, ambiguous
    state: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1)  # bumped by every change: one decision wins
    payer_id: Mapped[str] = mapped_column(String(32))
    portal: Mapped[str] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(40))  # denial category (bots.denials.categorize)
    codes: Mapped[str] = mapped_column(String(200), default="")  # e.g. "CO-4,M20" or "A7"
    rules_version: Mapped[str | None] = mapped_column(String(32))
    facts_json: Mapped[str] = mapped_column(Text, default="{}")  # what the check read (ClaimDetail and status)
    evidence_json: Mapped[str] = mapped_column(Text, default="[]")  # sha256 of the check's evidence
    line_ids: Mapped[str] = mapped_column(String(200), default="")  # service_lines ids, comma-separated
    proposal_json: Mapped[str] = mapped_column(Text, default="{}")  # the decision to approve (Proposal)
    open_balance_cents: Mapped[int] = mapped_column(Integer, default=0)
    filing_deadline: Mapped[dt.date | None] = mapped_column(Date)
    priority: Mapped[int] = mapped_column(Integer, default=0)  # higher first
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    assignee: Mapped[str | None] = mapped_column(String(64))
    last_edited_by: Mapped[str | None] = mapped_column(String(64))  # maker-checker: may not approve
    lease_holder: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # applying an approved decision, exactly once: the key goes into the portal's "your reference"
    # before the form is sent, so an unknown outcome is looked up, never blindly resubmitted
    apply_key: Mapped[str | None] = mapped_column(String(40))
    apply_attempts: Mapped[int] = mapped_column(Integer, default=0)
    portal_reference: Mapped[str | None] = mapped_column(String(64))
    apply_error: Mapped[str | None] = mapped_column(Text)
    checks: Mapped[int] = mapped_column(Integer, default=1)  # checks of the claim that raised or updated it
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Decision(Base):
    """Every transition of a task, appended and never changed (the database refuses UPDATE and
    DELETE on this table: see the migration's triggers)."""

    __tablename__ = "review_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("review_tasks.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))  # approve, reject, return, answer, edit, apply, open, update
    reason: Mapped[str] = mapped_column(Text, default="")
    form_json: Mapped[str] = mapped_column(Text, default="{}")  # the submitted form, as received
