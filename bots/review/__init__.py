"""Review room: coding decisions belong to people. The denial categorizer, review tasks with
their state machine, maker-checker and leases, and the append-only decision log. No web code:
the sweep opens tasks, the console decides them, the apply flow carries them out."""

from bots.review.categorize import Categorization, DenialCategory, DenialRules, NextAction
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
    next_state,
)
from bots.review.store import APPLY_FLOW, QueueFilter, QueuePage, ReviewStore, TaskOpener, priority_of

__all__ = [
    "APPLY_FLOW",
    "OPEN_STATES",
    "SUBMISSIONS",
    "SYSTEM",
    "TERMINAL_STATES",
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
    "Proposal",
    "QueueFilter",
    "QueuePage",
    "ReviewError",
    "ReviewStore",
    "State",
    "Task",
    "TaskOpener",
    "next_state",
    "priority_of",
    "propose",
]
