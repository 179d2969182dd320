"""The checkpoint, end to end in real Chromium: a sweep opens a review task for a coding denial,
nothing reaches the portal until a supervisor approves, the apply run submits the approved
decision exactly once (counted in the portal's own records), and a crash between submitting and
recording leads to no second submission."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from bots.apply import ApplyRun
from bots.core.models import Role
from bots.denials import NextAction
from bots.review import Action, Actor, Proposal, ReviewError, ReviewStore
from bots.worklist.runs import PortalHolds
from bots.worklist.store import WorklistStore
from tests.conftest import off_the_main_thread, run_async, shared_browser, sweep_rows

ALICE, BOB = Actor("alice", Role.SUPERVISOR), Actor("bob", Role.SUPERVISOR)
CODER = Actor("carol", Role.CODER)


def coding_denials(dataset, n: int):
    return [r for r in dataset.worklist if r.payer_id == "BSTM1" and r.kind == "denied_coding"][:n]


def apply(settings, portal) -> object:
    run = ApplyRun.load(settings, base_urls={"bluestem": portal.url})

    async def go() -> object:
        return await run.run(browser=await shared_browser())

    return run_async(go())


@pytest.fixture
def swept(settings, portal, dataset):
    """Two coding denials swept: two pending review tasks, nothing submitted."""
    sweep, _ = sweep_rows(settings, portal, coding_denials(dataset, 2))
    review = ReviewStore(sweep.store.engine, settings.review)
    tasks = [t for t, _ in review.queue(_open()).tasks]
    assert len(tasks) == 2 and {t.category for t in tasks} == {"coding"}
    return review, tasks


def _open():
    from bots.review import QueueFilter

    return QueueFilter()


def test_nothing_is_submitted_until_approved_then_exactly_once(settings, portal, swept) -> None:
    review, (first, second) = swept
    assert apply(settings, portal).as_dict()["approved"] == 0 and portal.server.submissions() == []
    proposal = Proposal.model_validate_json(first.proposal_json)
    edited = proposal.model_copy(update={"modifiers": ["59"], "note": "distinct procedural service"})
    task = review.edit(first.id, CODER, first.version, edited, "add modifier 59")
    review.decide(task.id, ALICE, Action.APPROVE, task.version, "59 is supported by the note")
    summary = apply(settings, portal)
    assert (summary.applied, summary.failed) == (1, 0)
    records = portal.server.submissions()
    assert len(records) == 1
    record, done = records[0], review.task(first.id)
    assert (done.state, done.portal_reference) == ("applied", record["reference"])
    assert (record["kind"], record["modifiers"], record["your_reference"]) == ("corrected", "59", f"RCM-T{first.id}")
    assert record["line_no"] == proposal.line_no and len(review.decisions(first.id)[-1].form_json) > 2
    # a second run has nothing to do: the portal still holds one request; the other task waits
    assert apply(settings, portal).approved == 0 and len(portal.server.submissions()) == 1
    assert review.task(second.id).state == "pending"


class Crash(Exception):
    """The process dying between the portal's confirmation and the database's record."""


def test_a_crash_between_submitting_and_recording_leads_to_no_second_submission(
    settings, portal, swept, monkeypatch
) -> None:
    review, (task, _) = swept
    # the crashed run's hold on the task runs out at once here (600 s by default)
    settings = settings.model_copy(update={"review": settings.review.model_copy(update={"apply_hold_s": 0.001})})
    review.decide(task.id, ALICE, Action.APPROVE, task.version, "as proposed")

    def crash(*args, **kwargs):
        raise Crash

    with monkeypatch.context() as patched:
        patched.setattr(ReviewStore, "finish_apply", crash)
        with pytest.raises(Crash):
            apply(settings, portal)
    assert len(portal.server.submissions()) == 1 and review.task(task.id).state == "approved"
    summary = apply(settings, portal)
    assert (summary.applied, summary.found_earlier) == (1, 1)
    records = portal.server.submissions()
    assert len(records) == 1 and review.task(task.id).portal_reference == records[0]["reference"]


def test_two_apply_runs_at_once_submit_once(settings, portal, swept) -> None:
    review, (task, _) = swept
    review.decide(task.id, ALICE, Action.APPROVE, task.version, "as proposed")
    runs = [ApplyRun.load(settings, base_urls={"bluestem": portal.url}) for _ in range(2)]

    async def both() -> list[object]:
        browser = await shared_browser()
        return list(await asyncio.gather(*(run.run(browser=browser) for run in runs)))

    summaries = run_async(both())
    assert sorted(s.applied for s in summaries) == [0, 1]
    assert len(portal.server.submissions()) == 1 and review.task(task.id).state == "applied"


def test_a_refused_request_fails_with_the_portals_reason_and_can_be_retried(settings, portal, swept) -> None:
    review, (task, _) = swept
    proposal = Proposal.model_validate_json(task.proposal_json)
    with pytest.raises(ReviewError, match="line 9 is not a service line of this claim"):
        review.edit(task.id, CODER, task.version, proposal.model_copy(update={"line_no": 9}))
    review.decide(task.id, ALICE, Action.APPROVE, task.version, "ok")
    # the claim changed at the portal after the check: its line 1 is gone there (here: renumbered)
    with review.engine.begin() as conn:
        stale = proposal.model_copy(update={"line_no": 9}).model_dump_json()
        conn.execute(text("UPDATE review_tasks SET proposal_json = :p WHERE id = :id"), {"p": stale, "id": task.id})
    assert apply(settings, portal).failed == 1
    failed = review.task(task.id)
    assert failed.state == "apply_failed" and "has no line 9" in failed.apply_error
    assert portal.server.submissions() == []
    retried = review.decide(failed.id, BOB, Action.RETRY, failed.version, "try once more")
    assert retried.state == "approved"


def test_an_approved_action_with_nothing_to_submit_is_resolved_not_sent(settings, portal, swept) -> None:
    review, (task, _) = swept
    appeal_by_hand = Proposal(action=NextAction.WRITE_OFF_REVIEW, note="below the appeal threshold")
    task = review.edit(task.id, CODER, task.version, appeal_by_hand)
    assert review.decide(task.id, ALICE, Action.APPROVE, task.version, "write it off").state == "resolved"
    assert apply(settings, portal).approved == 0 and portal.server.submissions() == []


@pytest.mark.xdist_group("prefect-server")
def test_the_flow_applies_approved_decisions_with_a_task_run_each(settings, portal, swept, on_prefect_server) -> None:
    from bots.orchestration.applyflow import run_apply_flow

    review, (first, second) = swept
    for task in (first, second):
        review.decide(task.id, ALICE, Action.APPROVE, task.version, "as proposed")
    summary = off_the_main_thread(run_apply_flow, settings, {"bluestem": portal.url})
    assert (summary["approved"], summary["applied"], summary["failed"]) == (2, 2, 0)
    assert len(portal.server.submissions()) == 2
    assert {review.task(t.id).state for t in (first, second)} == {"applied"}


def test_approvals_during_a_run_ask_for_one_more_run_not_one_each(monkeypatch, settings) -> None:
    import threading

    from bots.orchestration import applyflow

    started, release, runs = threading.Event(), threading.Event(), []

    def slow_run(*args: object) -> dict[str, int]:
        runs.append(1)
        started.set()
        release.wait(10)
        return {"approved": 0}

    monkeypatch.setattr(applyflow, "run_apply_flow", slow_run)
    trigger = applyflow.ApplyTrigger(settings)
    trigger()
    assert started.wait(10)
    for _ in range(5):  # five approvals while the first run is under way
        trigger()
    release.set()
    trigger.wait()
    assert len(runs) == 2 and trigger.runs == 2


def test_refused_credentials_hold_the_portal_for_the_apply_run_too(settings, portal, swept, monkeypatch) -> None:
    review, tasks = swept
    for task in tasks:
        review.decide(task.id, ALICE, Action.APPROVE, task.version, "as proposed")
    monkeypatch.setenv("RCMBOT_BLUESTEM_PASSWORD", "not-the-password")
    first = apply(settings, portal)
    logins = [(x["step"], x["result"]) for x in portal.server.witness()["logins"] if x["result"] != "ok"]
    assert logins == [("password", "refused")] and portal.server.submissions() == []
    assert first.failed == 1 and review.task(tasks[1].id).state == "approved"  # the second waits, not counted
    assert "bluestem" in PortalHolds(review_worklist(review)).active()
    again = apply(settings, portal)  # held: nobody signs in, the approved request waits
    assert again.failed == 0 and review.task(tasks[1].id).state == "approved"
    assert [x["result"] for x in portal.server.witness()["logins"]].count("refused") == 1


def review_worklist(review: ReviewStore) -> WorklistStore:
    return WorklistStore(review.engine)
