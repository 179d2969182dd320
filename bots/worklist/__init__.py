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
from bots.worklist.store import WorklistStore

__all__ = [
    "DatabaseUnavailableError",
    "Decision",
    "FollowUpRules",
    "SchemaOutdatedError",
    "WorklistStore",
    "ensure_current",
    "head_revision",
    "open_engine",
    "read_worklist_csv",
    "revision",
    "upgrade",
    "write_worklist_csv",
]
