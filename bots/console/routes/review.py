"""The review queue and a task's page: read by every role, decided by supervisors, edited and
answered by coders. The state machine in bots.review says who may do what; these routes parse,
call the store, and render (a refused action comes back with the input kept and why)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import SQLAlchemyError

from bots.accounts import CurrentUser as User
from bots.console.deps import CurrentUser, audit, require
from bots.console.pages import flash, render
from bots.console.reviewing import (
    ACTION_LABELS,
    STATE_TABS,
    Facts,
    ProposalForm,
    QueueQuery,
    days_left,
    number,
    proposed,
    sla,
    split_evidence,
)
from bots.core.errors import RcmbotError
from bots.core.logs import get_logger
from bots.core.models import Role
from bots.review import (
    Action,
    Actor,
    ConflictError,
    NotAllowedError,
    Proposal,
    ReviewError,
    ReviewStore,
    Task,
)
from bots.worklist import WorklistStore

log = get_logger(__name__)
router = APIRouter()
# Whoever may post to a task at all; the state machine then decides the action itself
Decider = Annotated[User, Depends(require(Role.SUPERVISOR, Role.CODER))]
DECISIONS = {
    action.value: action for action in (Action.APPROVE, Action.REJECT, Action.RETURN, Action.ANSWER, Action.RETRY)
}
# What the decision log keeps of a submitted form: what the person chose and wrote, nothing else
RECORDED = ("action", "reason", "version", *ProposalForm.FIELDS, "edit_reason")


def reviews(request: Request) -> ReviewStore:
    store: ReviewStore = request.app.state.review
    return store


def worklist(request: Request) -> WorklistStore:
    store: WorklistStore = request.app.state.worklist
    return store


Reviews = Annotated[ReviewStore, Depends(reviews)]
TaskId = Annotated[int, FastPath(ge=1, le=2**62)]  # what a database integer holds
Worklist = Annotated[WorklistStore, Depends(worklist)]


def actor(user: User) -> Actor:
    return Actor(user.username, user.role.value)


@router.get("/review", response_class=HTMLResponse)
def queue(request: Request, user: CurrentUser, review: Reviews) -> HTMLResponse:
    query = QueueQuery.parse(dict(request.query_params))
    page = review.queue(query.filter, request.app.state.settings.console.page_size, query.after)
    shown = [task.id for task, _ in page.tasks]
    audit(
        request,
        "view_queue",
        f"queue {query.tab}: {len(shown)} tasks" + (f", ids {shown[0]}..{shown[-1]}" if shown else ""),
    )
    now = dt.datetime.now(dt.UTC)
    rows = [(task, item, sla(task, now), days_left(task, now.date()), proposed(task)) for task, item in page.tasks]
    context = {
        "query": query,
        "rows": rows,
        "tabs": list(STATE_TABS),
        "counts": review.counts(),
        "facets": review.facets(),
        "next_page": query.query(after=f"{page.next_after[0]}:{page.next_after[1]}") if page.next_after else None,
        "bulk": user.role == Role.SUPERVISOR and query.tab == "open",
        "now": now,
    }
    return render(request, "review/queue.html", context)


@router.post("/review/bulk")
async def bulk(request: Request, user: Annotated[User, Depends(require(Role.SUPERVISOR))], review: Reviews) -> Response:
    form = await request.form()
    reason = str(form.get("reason", "")).strip()
    picks = [_pick(str(v)) for v in form.getlist("pick")]
    chosen = [p for p in picks if p is not None]
    if not chosen or not reason:
        response = RedirectResponse(f"/review?{form.get('back', '')}", 303)
        flash(request, response, "choose tasks and give a reason to approve them together", "error")
        return response
    outcome = review.decide_many(chosen, actor(user), Action.APPROVE, reason)
    _on_the_record(request)
    refused = {task_id: why for task_id, why in outcome.items() if why}
    if len(refused) < len(outcome):
        _apply_soon(request)
    response = RedirectResponse(f"/review?{form.get('back', '')}", 303)
    approved = len(outcome) - len(refused)
    text = f"{approved} task(s) approved" + "".join(f"; task {i}: {why}" for i, why in refused.items())
    flash(request, response, text, "error" if refused else "ok")
    return response


def _pick(value: str) -> tuple[int, int] | None:
    task_id, _, version = value.partition(":")
    pair = number(task_id), number(version)
    return (pair[0], pair[1]) if pair[0] is not None and pair[1] is not None else None


@router.get("/review/tasks/{task_id}", response_class=HTMLResponse)
def task_page(request: Request, task_id: TaskId, user: CurrentUser, review: Reviews, items: Worklist) -> Response:
    try:
        task = review.hold(task_id, actor(user))
    except ReviewError:
        return render(request, "error.html", {"status": 404, "detail": f"no review task {task_id}"}, 404)
    return _task_view(request, user, review, items, task)


def _task_view(
    request: Request,
    user: User,
    review: ReviewStore,
    items: WorklistStore,
    task: Task,
    *,
    status: int = 200,
    form: ProposalForm | None = None,
    decision: dict[str, str] | None = None,
    problem: str | None = None,
    theirs: dict[str, str] | None = None,
) -> HTMLResponse:
    audit(request, "view_task", f"task {task.id}", item_id=task.item_id, task_id=task.id)  # every render shows PHI
    now = dt.datetime.now(dt.UTC)
    query = QueueQuery.parse(dict(request.query_params))
    previous, following = review.neighbours(task, query.filter)
    proposal = Proposal.model_validate_json(task.proposal_json)
    shots, snapshots = split_evidence(request.app.state.evidence, json.loads(task.evidence_json or "[]"))
    context: dict[str, Any] = {
        "task": task,
        "item": items.item(task.item_id),
        "facts": Facts.of(task),
        "proposal": proposal,
        "form": form or ProposalForm.of(proposal),
        "decision": decision or {},
        "problem": problem,
        "theirs": theirs,
        "actions": ACTION_LABELS,
        "decisions": review.decisions(task.id),
        "shots": shots,
        "snapshots": snapshots,
        "sla": sla(task, now),
        "days_left": days_left(task, now.date()),
        "held_by_other": task.lease_holder not in (None, user.username) and (task.lease_until or now) > now,
        "previous": previous,
        "following": following,
        "back": query.query(),
        "maker_checker": request.app.state.settings.review.maker_checker,
    }
    return render(request, "review/task.html", context, status)


@router.post("/review/tasks/{task_id}/decide", response_class=HTMLResponse)
async def decide(request: Request, task_id: TaskId, user: Decider, review: Reviews, items: Worklist) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    action = DECISIONS.get(form.get("action", ""))
    version = number(form.get("version", "")) or -1
    task = review.task(task_id)
    if task is None:
        return render(request, "error.html", {"status": 404, "detail": f"no review task {task_id}"}, 404)
    try:
        if action is None:
            raise ReviewError("choose approve, reject or return")
        review.decide(task_id, actor(user), action, version, form.get("reason", ""), _recorded(form))
    except ReviewError as exc:
        return _refused(request, user, review, items, task, exc, decision=form)
    _on_the_record(request)
    if action in (Action.APPROVE, Action.RETRY):
        _apply_soon(request)
    audit(request, "decide_task", f"task {task_id} {action.value}", item_id=task.item_id, task_id=task_id)
    response = RedirectResponse(_after_decision(review, task, form.get("back", "")), 303)
    flash(request, response, f"task {task_id}: {action.value} recorded")
    return response


def _refused(
    request: Request,
    user: User,
    review: ReviewStore,
    items: WorklistStore,
    task: Task,
    exc: ReviewError,
    **kept: Any,
) -> HTMLResponse:
    """The task page again with why, and what was typed kept: 403 for a role or maker-checker,
    409 for a conflict (the task as it now is), 422 for anything else."""
    status = 403 if isinstance(exc, NotAllowedError) else 409 if isinstance(exc, ConflictError) else 422
    current = (review.task(task.id) or task) if status == 409 else task
    if status == 409 and "form" in kept:  # what the other person saved, beside what this one typed
        kept["theirs"] = ProposalForm.of(Proposal.model_validate_json(current.proposal_json)).values
    return _task_view(request, user, review, items, current, status=status, problem=str(exc), **kept)


def _after_decision(review: ReviewStore, task: Task, back: str) -> str:
    """The next task of the queue, for working through it; else the queue."""
    following = review.neighbours(task, QueueQuery.parse(_params(back)).filter)[1]
    return f"/review/tasks/{following}?{back}" if following else f"/review?{back}"


def _params(query: str) -> dict[str, str]:
    return dict(parse_qsl(query))


def _recorded(form: dict[str, str]) -> dict[str, str]:
    """The submitted form as the decision log keeps it (not the CSRF token)."""
    return {k: v for k, v in form.items() if k in RECORDED}


@router.post("/review/tasks/{task_id}/edit", response_class=HTMLResponse)
async def edit(request: Request, task_id: TaskId, user: Decider, review: Reviews, items: Worklist) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    task = review.task(task_id)
    if task is None:
        return render(request, "error.html", {"status": 404, "detail": f"no review task {task_id}"}, 404)
    typed = ProposalForm.read(form)
    version = number(form.get("version", "")) or -1
    if typed.proposal is None:
        problem = "the proposed decision has problems: see the fields marked below"
        return _task_view(request, user, review, items, task, status=422, form=typed, problem=problem)
    try:
        review.edit(task_id, actor(user), version, typed.proposal, form.get("edit_reason", ""))
    except ReviewError as exc:
        return _refused(request, user, review, items, task, exc, form=typed)
    _on_the_record(request)
    audit(request, "edit_task", f"task {task_id}", item_id=task.item_id, task_id=task_id)
    response = RedirectResponse(f"/review/tasks/{task_id}?{form.get('back', '')}", 303)
    flash(request, response, f"task {task_id}: proposed decision saved")
    return response


def _on_the_record(request: Request) -> None:
    """A decision goes into the evidence log at once (the next run or hourly checkpoint signs it).
    It is already committed in the database, so trouble here is logged, not shown: the hourly
    catch-up ledgers it then."""
    ledger = getattr(request.app.state, "ledger", None)
    try:
        if ledger is not None:
            ledger()
    except (RcmbotError, OSError, SQLAlchemyError) as exc:
        log.error("decision_not_ledgered", error=str(exc))


def _apply_soon(request: Request) -> None:
    """Approved decisions go to the portals now when the console runs embedded (the demo, `rcmbot
    serve`); otherwise the apply flow's schedule picks them up."""
    trigger = getattr(request.app.state, "apply_trigger", None)
    if trigger is not None:
        trigger()
