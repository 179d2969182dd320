"""Review room: coding decisions belong to people. Review tasks (opened from what the denial
categorizer of bots.denials says) with their state machine, maker-checker and leases, and the
append-only decision log. No web code:
the sweep opens tasks, the console decides them, the apply flow carries them out."""

from bots.review.ledger import ledger_decisions, seal
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
    "ConflictError",
    "Decision",
    "IllegalTransitionError",
    "NotAllowedError",
    "OPEN_STATES",
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
    "ledger_decisions",
    "next_state",
    "priority_of",
    "propose",
    "seal",
]
