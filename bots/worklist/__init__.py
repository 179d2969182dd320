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
from bots.worklist.runs import HELD, DeadRun, PortalHolds, Resumed, SweepRuns, held_reason, holder_alive, this_process
from bots.worklist.schema import Base, History, Item, PortalHold, ServiceLineRow, SweepRun
from bots.worklist.store import NEEDS_ATTENTION, ItemPage, ItemRow, RunOutcomes, RunPage, RunSummary, WorklistStore

__all__ = [
    "Base",
    "DatabaseUnavailableError",
    "DeadRun",
    "Decision",
    "FollowUpRules",
    "HELD",
    "History",
    "Item",
    "ItemPage",
    "ItemRow",
    "NEEDS_ATTENTION",
    "PortalHold",
    "PortalHolds",
    "Resumed",
    "RunOutcomes",
    "RunPage",
    "RunSummary",
    "SchemaOutdatedError",
    "ServiceLineRow",
    "SweepRun",
    "SweepRuns",
    "WorklistStore",
    "append_only",
    "ensure_current",
    "head_revision",
    "held_reason",
    "holder_alive",
    "open_engine",
    "read_worklist_csv",
    "revision",
    "this_process",
    "upgrade",
    "write_worklist_csv",
]
