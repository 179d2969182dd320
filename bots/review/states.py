"""The review task's state machine: which action moves a task from which state to which, and
who may take it. Pure: the store applies it inside a transaction; the tests walk every pair.

    pending --approve--> approved --applied--> applied
       |  \\--reject--> rejected     \\--apply_failed--> apply_failed --retry--> approved
       |                                   (nothing to submit: --resolve--> resolved)
       \\--return--> returned --answer--> pending              apply_failed --reject--> rejected
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bots.core.errors import RcmbotError
from bots.core.models import Role

__all__ = [
    "Action",
    "Actor",
    "ConflictError",
    "IllegalTransitionError",
    "NotAllowedError",
    "OPEN_STATES",
    "ReviewError",
    "SYSTEM",
    "State",
    "TERMINAL_STATES",
    "check_edit",
    "next_state",
]

SYSTEM = "system"  # the role of rcmbot's own flows (the apply flow), never a console user's


class State(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    RETURNED = "returned"  # returned for information: a coder answers
    APPLIED = "applied"
    APPLY_FAILED = "apply_failed"
    RESOLVED = "resolved"  # approved with nothing to submit


class Action(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    RETURN = "return"
    ANSWER = "answer"
    RETRY = "retry"
    APPLIED = "applied"
    APPLY_FAILED = "apply_failed"
    RESOLVE = "resolve"


TERMINAL_STATES = frozenset({State.REJECTED, State.APPLIED, State.RESOLVED})
OPEN_STATES = frozenset(State) - TERMINAL_STATES

# (action, from state) -> (to state, the roles that may take it)
_MOVES: dict[tuple[Action, State], tuple[State, frozenset[str]]] = {
    (Action.APPROVE, State.PENDING): (State.APPROVED, frozenset({Role.SUPERVISOR})),
    (Action.REJECT, State.PENDING): (State.REJECTED, frozenset({Role.SUPERVISOR})),
    (Action.RETURN, State.PENDING): (State.RETURNED, frozenset({Role.SUPERVISOR})),
    (Action.ANSWER, State.RETURNED): (State.PENDING, frozenset({Role.CODER})),
    (Action.APPLIED, State.APPROVED): (State.APPLIED, frozenset({SYSTEM})),
    (Action.APPLY_FAILED, State.APPROVED): (State.APPLY_FAILED, frozenset({SYSTEM})),
    (Action.RESOLVE, State.APPROVED): (State.RESOLVED, frozenset({SYSTEM})),
    (Action.RETRY, State.APPLY_FAILED): (State.APPROVED, frozenset({Role.SUPERVISOR})),
    (Action.REJECT, State.APPLY_FAILED): (State.REJECTED, frozenset({Role.SUPERVISOR})),
}

# Who may edit a proposed decision, and in which states (an approved decision is never changed)
EDITORS = frozenset({Role.CODER, Role.SUPERVISOR})
EDITABLE = frozenset({State.PENDING, State.RETURNED})


class ReviewError(RcmbotError):
    """A review action that cannot be taken; the message says why, in words a user reads."""


class IllegalTransitionError(ReviewError):
    """The action does not apply to the task's state."""


class NotAllowedError(ReviewError):
    """The actor's role (or maker-checker) does not allow the action."""


class ConflictError(ReviewError):
    """Someone else changed the task first (or holds it): reload and decide again."""


@dataclass(frozen=True)
class Actor:
    name: str
    role: str  # a Role value, or SYSTEM


def next_state(action: Action, state: State, actor: Actor) -> State:
    """The state `action` leads to from `state`, or the reason it may not be taken."""
    move = _MOVES.get((action, state))
    if move is None:
        raise IllegalTransitionError(f"a task that is {state.value.replace('_', ' ')} cannot be {_past(action)}")
    to, roles = move
    if actor.role not in roles:
        raise NotAllowedError(f"a user with the {actor.role} role may not {action.value.replace('_', ' ')} tasks")
    return to


def check_edit(state: State, actor: Actor) -> None:
    if actor.role not in EDITORS:
        raise NotAllowedError(f"a user with the {actor.role} role may not edit proposed decisions")
    if state not in EDITABLE:
        raise IllegalTransitionError(f"a task that is {state.value.replace('_', ' ')} cannot be edited")


def _past(action: Action) -> str:
    return {
        Action.APPROVE: "approved",
        Action.REJECT: "rejected",
        Action.RETURN: "returned for information",
        Action.ANSWER: "answered",
        Action.RETRY: "retried",
        Action.APPLIED: "marked applied",
        Action.APPLY_FAILED: "marked apply failed",
        Action.RESOLVE: "resolved",
    }[action]
