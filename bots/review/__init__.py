"""Review room: coding decisions belong to people. The denial categorizer, review tasks with
their state machine, maker-checker and leases, and the append-only decision log. No web code:
the sweep opens tasks, the console decides them, the apply flow carries them out."""

from bots.review.categorize import PORTAL_CHANGING, Categorization, DenialCategory, DenialRules, NextAction
from bots.review.proposal import SUBMISSIONS, Proposal, propose
from bots.review.schema import Decision, Task
from bots.review.states import (
    OPEN_STATES,
    SYSTEM,
    TERMINAL_STATES,
    Action,
    Actor,
    ConflictError,
    IllegalTransitionError,
    NotAllowedError,
    ReviewError,
    State,
    check_edit,
    next_state,
)
from bots.review.store import APPLY_FLOW, QueueFilter, QueuePage, ReviewStore, TaskOpener, priority_of

__all__ = [
    "APPLY_FLOW",
    "Action",
    "Actor",
    "Categorization",
    "ConflictError",
    "Decision",
    "DenialCategory",
    "DenialRules",
    "IllegalTransitionError",
    "NextAction",
    "NotAllowedError",
    "OPEN_STATES",
    "PORTAL_CHANGING",
    "Proposal",
    "QueueFilter",
    "QueuePage",
    "ReviewError",
    "ReviewStore",
    "SUBMISSIONS",
    "SYSTEM",
    "State",
    "TERMINAL_STATES",
    "Task",
    "TaskOpener",
    "check_edit",
    "next_state",
    "priority_of",
    "propose",
]
