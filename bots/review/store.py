"""ReviewStore: the only code that reads and writes review tasks and their decision log.

Every decision, edit and re-check moves the task's `version` on, in one transaction: a change
made from a stale view (or racing another) matches no row and is refused as a conflict, so of
two decisions on one task exactly one wins. Holds (a supervisor's lease, an apply run's claim)
are not changes of what a person decides on and leave the version alone. Every transition and
edit appends a row to the decision log."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Engine, func, or_, select, update
from sqlalchemy.orm import Session

from bots.core.models import CheckResult, Outcome, Role
from bots.core.settings import ReviewSettings
from bots.denials import Categorization, DenialRules, NextAction
from bots.review.proposal import Proposal, propose
from bots.review.schema import Decision, Task
from bots.review.states import (
    OPEN_STATES,
    SYSTEM,
    TERMINAL_STATES,
    Action,
    Actor,
    ConflictError,
    NotAllowedError,
    ReviewError,
    State,
    check_edit,
    next_state,
)
from bots.worklist.schema import History, Item, ServiceLineRow

__all__ = [
    "APPLY_FLOW",
    "QueueFilter",
    "QueuePage",
    "ReviewStore",
    "TaskOpener",
    "priority_of",
]

APPLY_FLOW = Actor("apply flow", SYSTEM)
APPLY_HOLDER = "apply:"  # the lease holder of a task an apply run is submitting
DECIDABLE = frozenset({State.PENDING, State.APPLY_FAILED})  # where a supervisor's hold matters
MAX_REASON, MAX_EDIT_REASON = 2000, 500
FACETS_TTL = dt.timedelta(seconds=60)
SWEEP = Actor("sweep", SYSTEM)  # opens tasks


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def priority_of(open_balance_cents: int, days_left: int | None) -> int:
    """Higher first: the nearest timely-filing limit (7, 30, 90 days or later), then the largest
    open balance. A whole number, so the queue sorts and pages on an index."""
    urgency = 1 if days_left is None else 4 if days_left <= 7 else 3 if days_left <= 30 else 2 if days_left <= 90 else 1
    return urgency * 10**9 + min(max(open_balance_cents, 0) // 100, 10**9 - 1)


class TaskOpener:
    """Opens or updates an item's review task after a check, inside the transaction that records
    the check (WorklistStore.record's `after`): a claim's task and its check land together."""

    def __init__(self, rules: DenialRules, settings: ReviewSettings, clock: Callable[[], dt.datetime] = now_utc):
        self.rules, self.settings, self.clock = rules, settings, clock

    def __call__(self, s: Session, item: Item, history: History, result: CheckResult) -> Task | None:
        kind, categorization = self._kind(result)
        task = s.scalar(select(Task).where(Task.open_item_id == item.id))
        basis = _basis(result, categorization)
        if task is None and (kind is None or self._decided(s, item.id, basis)):
            return None
        now = self.clock()
        detail = result.detail
        if task is None:
            task = Task(
                item_id=item.id,
                open_item_id=item.id,
                state=State.PENDING,
                version=1,
                payer_id=item.payer_id,
                created_at=now,
                due_at=now + dt.timedelta(seconds=self.settings.sla_s),
                assignee=item.owner,
                apply_attempts=0,
                checks=0,
                proposal_json="{}",
            )
            s.add(task)
        else:  # what a person sees changes: a decision made from the earlier view is a conflict
            task.version = Task.version + 1  # type: ignore[assignment]
        task.kind = kind or task.kind
        task.portal = history.portal
        task.checks = Task.checks + 1 if task.id else 1  # type: ignore[assignment]
        task.updated_at = now
        task.evidence_json = json.dumps(result.evidence)
        task.facts_json = json.dumps(
            {
                "outcome": result.outcome.value,
                "category": result.category,
                "status_code": result.status_code,
                "status_text": result.status_text,
                "matches": result.matches,
                "history_id": history.id,
                "basis": basis,
                "detail": detail.model_dump(mode="json") if detail else None,
            }
        )
        if categorization is not None:
            task.category, task.rules_version = categorization.category.value, categorization.version
            task.codes = ",".join(categorization.codes)
        lines = list(s.scalars(select(ServiceLineRow.id).where(ServiceLineRow.item_id == item.id)))
        task.line_ids = ",".join(str(i) for i in lines)
        self._prioritise(task, item, now.date())
        s.flush()
        # The bot's proposal follows the latest check only while nobody has touched it; guarded in
        # the database, so a decision committed meanwhile is never overwritten.
        if categorization is not None and detail is not None:
            proposal = propose(categorization, detail.adjustments, detail.lines)
        else:
            proposal = Proposal(action=NextAction.NONE, note=f"{result.outcome.value}: resolve by hand")
        s.execute(
            update(Task)
            .where(Task.id == task.id, Task.state == State.PENDING, Task.last_edited_by.is_(None))
            .values(proposal_json=proposal.model_dump_json())
            .execution_options(synchronize_session=False)
        )
        s.refresh(task)
        if task.checks == 1:
            s.add(_log(task, SWEEP, State.PENDING, State.PENDING, "open", now, reason=task.kind))
        return task

    @staticmethod
    def _decided(s: Session, item_id: int, basis: str) -> bool:
        """Whether the item's latest task was decided on what this check found again: an applied
        correction the payer has not processed yet, a rejected proposal. Only a new adjudication
        (another status, other codes, another status date) opens a new task."""
        latest = s.scalar(select(Task.facts_json).where(Task.item_id == item_id).order_by(Task.id.desc()).limit(1))
        return latest is not None and json.loads(latest).get("basis") == basis

    def _kind(self, result: CheckResult) -> tuple[str | None, Any]:
        if result.outcome in (Outcome.UNMAPPED, Outcome.AMBIGUOUS):
            return result.outcome.value, None
        if result.outcome != Outcome.STATUS:
            return None, None
        detail = result.detail
        categorization = self.rules.categorize(
            result.category, detail.adjustments if detail else [], result.status_code
        )
        if categorization.coding or categorization.changes_portal:
            return "denial", categorization
        return None, None

    def _prioritise(self, task: Task, item: Item, today: dt.date) -> None:
        paid = item.paid_cents or 0
        task.open_balance_cents = max(0, item.billed_cents - paid - (item.patient_resp_cents or 0))
        days = self.settings.timely_filing_days.get(item.payer_id, self.settings.default_timely_filing_days)
        task.filing_deadline = item.dos_from + dt.timedelta(days=days)
        task.priority = priority_of(task.open_balance_cents, (task.filing_deadline - today).days)


def _line_numbers(task: Task) -> list[int]:
    """The claim's service line numbers as its latest check read them (none: not read)."""
    detail = json.loads(task.facts_json or "{}").get("detail") or {}
    return [line["line_no"] for line in detail.get("lines", [])]


def _bounded(text: str, limit: int, what: str) -> None:
    if len(text) > limit:
        raise ReviewError(f"{what} is {len(text)} characters long; at most {limit}")


def _basis(result: CheckResult, categorization: Categorization | None) -> str:
    """What a task was opened on, to tell a new adjudication from the same one seen again."""
    detail = result.detail
    codes = ",".join(categorization.codes) if categorization else ""
    status_date = detail.status_date.isoformat() if detail and detail.status_date else ""
    claim = detail.payer_claim_number if detail else ""  # a corrected claim gets a number of its own
    return "|".join((result.outcome.value, result.category or "", codes, claim, status_date, result.status_text or ""))


def _log(
    task: Task, actor: Actor, before: str, after: str, action: str, at: dt.datetime, reason: str = "", form: Any = None
) -> Decision:
    return Decision(
        task_id=task.id,
        at=at,
        actor=actor.name,
        role=actor.role,
        from_state=before,
        to_state=after,
        action=action,
        reason=reason,
        form_json=json.dumps(form or {}, default=str),
    )


@dataclass(frozen=True)
class QueueFilter:
    states: tuple[str, ...] = (State.PENDING, State.RETURNED, State.APPLY_FAILED)
    payer_id: str | None = None
    category: str | None = None
    assignee: str | None = None
    older_than_days: int | None = None


@dataclass
class QueuePage:
    tasks: list[tuple[Task, Item]]
    next_after: tuple[int, int] | None  # keyset: (priority, id) of the last row, when more follow


class ReviewStore:
    def __init__(self, engine: Engine, settings: ReviewSettings, clock: Callable[[], dt.datetime] = now_utc):
        self.engine, self.settings, self.clock = engine, settings, clock
        self._facets: tuple[dt.datetime, dict[str, list[str]]] | None = None

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # -- reading ------------------------------------------------------------------------------
    def task(self, task_id: int) -> Task | None:
        with self.session() as s:
            return s.get(Task, task_id)

    def open_tasks(self, item_ids: Sequence[int]) -> dict[int, int]:
        """Item id -> its open task's id, for a page of items: one query on the unique index."""
        with self.session() as s:
            rows = s.execute(select(Task.open_item_id, Task.id).where(Task.open_item_id.in_(item_ids)))
            return {item_id: task_id for item_id, task_id in rows if item_id is not None}

    def task_for_item(self, item_id: int) -> Task | None:
        """The item's open task, else its latest."""
        with self.session() as s:
            return s.scalar(
                select(Task).where(Task.item_id == item_id).order_by(Task.open_item_id.is_(None), Task.id.desc())
            )

    def decisions(self, task_id: int) -> list[Decision]:
        with self.session() as s:
            return list(s.scalars(select(Decision).where(Decision.task_id == task_id).order_by(Decision.id)))

    def queue(self, where: QueueFilter, limit: int = 50, after: tuple[int, int] | None = None) -> QueuePage:
        """Tasks by priority, highest first (then newest), `limit` at a time after the keyset `after`."""
        with self.session() as s:
            ids = self._ordered(s, where, limit + 1, after, descending=True)
            rows = [
                (t, i)
                for t, i in s.execute(select(Task, Item).join(Item, Item.id == Task.item_id).where(Task.id.in_(ids)))
            ]
        rows.sort(key=lambda row: (-row[0].priority, -row[0].id))
        more = len(rows) > limit
        rows = rows[:limit]
        return QueuePage(rows, (rows[-1][0].priority, rows[-1][0].id) if more and rows else None)

    def neighbours(self, task: Task, where: QueueFilter) -> tuple[int | None, int | None]:
        """The tasks before and after `task` in the queue's order (previous, next): the keyboard's
        p and n. A few index lookups, whatever the queue's size."""
        key = (task.priority, task.id)
        with self.session() as s:
            following = self._ordered(s, where, 1, key, descending=True)
            preceding = self._ordered(s, where, 1, key, descending=False)
        return (preceding[0] if preceding else None), (following[0] if following else None)

    def _ordered(
        self, s: Session, where: QueueFilter, limit: int, past: tuple[int, int] | None, *, descending: bool
    ) -> list[int]:
        """Ids of the first `limit` tasks matching `where`, in (priority, id) order (descending: the
        queue's), beyond the keyset `past`. One query per state, each an ordered range of the
        (…, state, priority, id) indexes, merged here: an IN over states would sort every match."""
        found: list[tuple[int, int]] = []
        for state in where.states:
            query = select(Task.priority, Task.id).where(Task.state == state, *self._matching(where))
            if past is not None:
                p, i = past
                beyond = (Task.priority < p) | ((Task.priority == p) & (Task.id < i))
                query = query.where(
                    beyond if descending else (Task.priority > p) | ((Task.priority == p) & (Task.id > i))
                )
            order = (Task.priority.desc(), Task.id.desc()) if descending else (Task.priority, Task.id)
            found += [(row[0], row[1]) for row in s.execute(query.order_by(*order).limit(limit))]
        found.sort(reverse=descending)
        return [task_id for _, task_id in found[:limit]]

    def _matching(self, where: QueueFilter) -> list[ColumnElement[bool]]:
        """The conditions of the queue's filters, but the state."""
        conditions: list[ColumnElement[bool]] = []
        if where.payer_id:
            conditions.append(Task.payer_id == where.payer_id)
        if where.category:
            conditions.append(Task.category == where.category)
        if where.assignee:
            conditions.append(Task.assignee == where.assignee)
        if where.older_than_days is not None:
            conditions.append(Task.created_at <= self.clock() - dt.timedelta(days=where.older_than_days))
        return conditions

    def open_counts(self) -> dict[str, int]:
        """Open tasks by state (what waits on a person or on the apply flow)."""
        return {state: n for state, n in self.counts().items() if state in OPEN_STATES}

    def counts(self) -> dict[str, int]:
        with self.session() as s:
            return {state: n for state, n in s.execute(select(Task.state, func.count()).group_by(Task.state))}

    def facets(self) -> dict[str, list[str]]:
        """The payers, categories and assignees tasks have (the queue's filter choices); read at
        most once a minute: each is a pass over an index, and the choices change slowly."""
        now = self.clock()
        if self._facets is None or now - self._facets[0] > FACETS_TTL:
            with self.session() as s:
                found = {
                    name: sorted(v for v in s.scalars(select(col).distinct()) if v)
                    for name, col in (
                        ("payer_id", Task.payer_id),
                        ("category", Task.category),
                        ("assignee", Task.assignee),
                    )
                }
            self._facets = (now, found)
        return self._facets[1]

    # -- a person's actions ---------------------------------------------------------------------
    def hold(self, task_id: int, actor: Actor) -> Task:
        """A supervisor opening a task they may decide (pending, apply failed) holds it for
        `lease_s` unless someone else's hold is live, and lets go of any other task they held; the
        task as it stands either way (its lease says who holds it, shown to others)."""
        now = self.clock()
        with self.session() as s, s.begin():
            task = self._get(s, task_id)
            if actor.role != Role.SUPERVISOR or task.state not in DECIDABLE:
                return task
            s.execute(
                update(Task)
                .where(Task.lease_holder == actor.name, Task.id != task_id)
                .values(lease_holder=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )
            if task.lease_holder in (None, actor.name) or (task.lease_until or now) <= now:
                task.lease_holder, task.lease_until = actor.name, now + dt.timedelta(seconds=self.settings.lease_s)
            return task

    def edit(self, task_id: int, actor: Actor, version: int, proposal: Proposal, reason: str = "") -> Task:
        now = self.clock()
        with self.session() as s, s.begin():
            task = self._get(s, task_id)
            self._current(task, version)
            check_edit(State(task.state), actor)
            self._not_held_by_other(task, actor, now)
            if proposal == self._proposal(task):
                raise ReviewError("nothing changed: the proposed decision is as it was")
            lines = _line_numbers(task)
            if proposal.line_no is not None and lines and proposal.line_no not in lines:
                shown = ", ".join(map(str, lines))
                raise ReviewError(f"line {proposal.line_no} is not a service line of this claim (its lines: {shown})")
            _bounded(reason, MAX_EDIT_REASON, "why you changed it")
            form = proposal.model_dump(mode="json")
            self._bump(s, task, version, proposal_json=proposal.model_dump_json(), last_edited_by=actor.name)
            s.add(_log(task, actor, task.state, task.state, "edit", now, reason, form))
            return self._get(s, task_id)

    def decide(
        self,
        task_id: int,
        actor: Actor,
        action: Action,
        version: int,
        reason: str,
        form: dict[str, Any] | None = None,
        **recorded: Any,
    ) -> Task:
        """Take `action` on the task as `actor` saw it at `version`; a person's reason is required.
        `recorded`: task columns set in the same transaction (the apply flow's portal reference)."""
        if actor.role != SYSTEM and not reason.strip():
            raise ReviewError("give a reason: it goes into the decision log")
        _bounded(reason, MAX_REASON, "the reason")
        now = self.clock()
        with self.session() as s, s.begin():
            task = self._get(s, task_id)
            self._current(task, version)
            before = State(task.state)
            after = next_state(action, before, actor)
            approving = action in (Action.APPROVE, Action.RETRY)  # a retry approves it again
            if approving and self.settings.maker_checker and actor.name in self._editors(s, task.id):
                raise NotAllowedError(
                    f"maker-checker: {actor.name} edited this decision, so another supervisor must approve it"
                )
            if actor.role != SYSTEM:
                self._not_held_by_other(task, actor, now)
            changes: dict[str, Any] = {"state": after, "lease_holder": None, "lease_until": None, **recorded}
            if action in (Action.APPROVE, Action.REJECT, Action.RETURN):
                changes["decided_at"] = now
            problems = self._proposal(task).problems() if after == State.APPROVED else {}
            if problems:
                raise ReviewError(
                    "the proposed decision cannot be submitted as it stands: " + "; ".join(problems.values())
                )
            if after in TERMINAL_STATES:
                changes["open_item_id"] = None
            self._bump(s, task, version, **changes)
            s.add(_log(task, actor, before, after, action, now, reason, form))
            if after == State.APPROVED and self._proposal(task).submission is None:
                self._bump(s, task, task.version, state=State.RESOLVED, open_item_id=None)
                s.add(_log(task, APPLY_FLOW, after, State.RESOLVED, Action.RESOLVE, now, "nothing to submit"))
            return self._get(s, task_id)

    def decide_many(
        self, picks: Iterable[tuple[int, int]], actor: Actor, action: Action, reason: str
    ) -> dict[int, str | None]:
        """Bulk decisions: each (task id, version seen) on its own; task id -> None or why not."""
        outcome: dict[int, str | None] = {}
        for task_id, version in picks:
            try:
                self.decide(task_id, actor, action, version, reason, {"bulk": True})
                outcome[task_id] = None
            except ReviewError as exc:
                outcome[task_id] = str(exc)
        return outcome

    # -- the apply flow -------------------------------------------------------------------------
    def to_apply(self, limit: int = 100) -> list[Task]:
        """Approved tasks with a request to submit, oldest decision first."""
        with self.session() as s:
            query = select(Task).where(Task.state == State.APPROVED).order_by(Task.decided_at, Task.id).limit(limit)
            return list(s.scalars(query))

    def begin_apply(self, task_id: int, owner: str) -> Task | None:
        """Claim an approved task for one apply run (`owner`) and count the attempt, committed
        before the portal is touched: two runs at once never both submit it, and an attempt whose
        outcome is unknown (a crash) is looked up on the portal by its apply key before any
        resubmission. None if the task is not approved, or another run holds it (a run that died
        holding it lets go after `apply_hold_s`)."""
        now = self.clock()
        holder = f"{APPLY_HOLDER}{owner}"
        with self.session() as s, s.begin():
            claimed = s.execute(
                update(Task)
                .where(
                    Task.id == task_id,
                    Task.state == State.APPROVED,
                    or_(  # not held by a live apply run (a supervisor's hold does not count here)
                        Task.lease_holder.is_(None),
                        ~Task.lease_holder.startswith(APPLY_HOLDER),
                        Task.lease_until.is_(None),
                        Task.lease_until <= now,
                    ),
                )
                .values(
                    apply_attempts=Task.apply_attempts + 1,
                    apply_key=f"RCM-T{task_id}",
                    lease_holder=holder,
                    lease_until=now + dt.timedelta(seconds=self.settings.apply_hold_s),
                )
                .execution_options(synchronize_session=False)
            )
            return s.get(Task, task_id) if claimed.rowcount == 1 else None  # type: ignore[attr-defined]

    def finish_apply(self, task_id: int, *, reference: str | None, error: str | None, evidence: Sequence[str]) -> Task:
        """Record the portal's answer: its reference (applied) or why it failed. A re-check of the
        claim may move the task's version meanwhile: the answer is recorded on the task as it is."""
        action = Action.APPLIED if reference else Action.APPLY_FAILED
        for attempt in range(3):
            task = self.task(task_id)
            if task is None:
                raise ReviewError(f"no review task {task_id}")
            form = {
                "portal_reference": reference,
                "error": error,
                "evidence": list(evidence),
                "apply_key": task.apply_key,
            }
            try:
                return self.decide(
                    task_id,
                    APPLY_FLOW,
                    action,
                    task.version,
                    error or "submitted",
                    form,
                    portal_reference=reference,
                    apply_error=error,
                )
            except ConflictError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def release_apply(self, task_id: int, owner: str) -> None:
        """Let go of a task an apply run claimed and could not finish (its step failed): the next
        run looks on the portal first, as after any attempt."""
        with self.session() as s, s.begin():
            s.execute(
                update(Task)
                .where(Task.id == task_id, Task.lease_holder == f"{APPLY_HOLDER}{owner}")
                .values(lease_holder=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )

    # -- internals ------------------------------------------------------------------------------
    @staticmethod
    def _get(s: Session, task_id: int) -> Task:
        task = s.get(Task, task_id)
        if task is None:
            raise ReviewError(f"no review task {task_id}")
        return task

    @staticmethod
    def _proposal(task: Task) -> Proposal:
        return Proposal.model_validate_json(task.proposal_json)

    def _not_held_by_other(self, task: Task, actor: Actor, now: dt.datetime) -> None:
        if task.lease_holder not in (None, actor.name) and task.lease_until and task.lease_until > now:
            raise ConflictError(
                f"{task.lease_holder} has this task open until {task.lease_until:%H:%M:%S} UTC; decide after that"
            )

    @staticmethod
    def _editors(s: Session, task_id: int) -> set[str]:
        """Everyone who edited the task's proposal: none of them may approve it (nor retry it), so a
        later small edit by someone else cannot launder an earlier substantive one."""
        edits = select(Decision.actor).where(Decision.task_id == task_id, Decision.action == "edit")
        return set(s.scalars(edits))

    @staticmethod
    def _current(task: Task, version: int) -> None:
        """Refuse a change made from a stale view before judging it against a state the user never saw."""
        if task.version != version:
            raise ConflictError(f"task {task.id} was changed by someone else meanwhile: reload it and decide again")

    def _bump(self, s: Session, task: Task, version: int, **values: Any) -> None:
        """Apply `values` if the task is still at `version`; else someone else was first."""
        done = s.execute(
            update(Task)
            .where(Task.id == task.id, Task.version == version)
            .values(version=version + 1, updated_at=self.clock(), **values)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise ConflictError(f"task {task.id} was changed by someone else meanwhile: reload it and decide again")
        s.refresh(task)
