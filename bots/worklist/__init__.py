"""Worklist room: AR follow-up items, their service lines and append-only status history."""

from bots.worklist.csvio import read_worklist_csv, write_worklist_csv
from bots.worklist.db import (
    DatabaseUnavailableError,
    SchemaOutdatedError,
    ensure_current,
    head_revision,
    open_engine,
    revision,
    upgrade,
)
from bots.worklist.followup import Decision, FollowUpRules
from bots.worklist.migrations.ops import append_only
from bots.worklist.schema import Base, History, Item, ServiceLineRow
from bots.worklist.store import NEEDS_ATTENTION, ItemPage, ItemRow, RunPage, RunSummary, WorklistStore

__all__ = [
    "Base",
    "DatabaseUnavailableError",
    "Decision",
    "FollowUpRules",
    "History",
    "Item",
    "ItemPage",
    "ItemRow",
    "NEEDS_ATTENTION",
    "RunPage",
    "RunSummary",
    "SchemaOutdatedError",
    "ServiceLineRow",
    "WorklistStore",
    "append_only",
    "ensure_current",
    "head_revision",
    "open_engine",
    "read_worklist_csv",
    "revision",
    "upgrade",
    "write_worklist_csv",
]
