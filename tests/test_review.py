"""Review tasks: every legal and illegal transition, who may take it, maker-checker, leases,
conflicts, one open task per claim, and the append-only decision log."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from bots.core.models import Adjustment, CheckResult, ClaimDetail, Outcome, Role, ServiceLine
from bots.core.settings import ReviewSettings
from bots.denials import DenialRules, NextAction
from bots.review import (
    SYSTEM,
    Action,
    Actor,
    ConflictError,
    IllegalTransitionError,
    NotAllowedError,
    Proposal,
    ReviewError,
    ReviewStore,
    State,
    TaskOpener,
    next_state,
    priority_of,
)
from bots.worklist import FollowUpRules, WorklistStore, upgrade
from tests.conftest import ROOT

# The table every test below is checked against, written from the issue (not read from the code)
LEGAL = {
    (Action.APPROVE, State.PENDING): (State.APPROVED, Role.SUPERVISOR),
    (Action.REJECT, State.PENDING): (State.REJECTED, Role.SUPERVISOR),
    (Action.RETURN, State.PENDING): (State.RETURNED, Role.SUPERVISOR),
    (Action.ANSWER, State.RETURNED): (State.PENDING, Role.CODER),
    (Action.APPLIED, State.APPROVED): (State.APPLIED, SYSTEM),
    (Action.APPLY_FAILED, State.APPROVED): (State.APPLY_FAILED, SYSTEM),
    (Action.RESOLVE, State.APPROVED): (State.RESOLVED, SYSTEM),
    (Action.RETRY, State.APPLY_FAILED): (State.APPROVED, Role.SUPERVISOR),
    (Action.REJECT, State.APPLY_FAILED): (State.REJECTED, Role.SUPERVISOR),
}
EVERYONE = [*Role, SYSTEM]


@pytest.mark.parametrize(("action", "state"), list(itertools.product(Action, State)))
def test_every_transition_is_legal_for_exactly_its_role(action: Action, state: State) -> None:
    for role in EVERYONE:
        actor = Actor("someone", role)
        legal = LEGAL.get((action, state))
        if legal is None:
            with pytest.raises(IllegalTransitionError, match=f"{state.value.replace('_', ' ')} cannot be"):
                next_state(action, state, actor)
        elif role == legal[1]:
            assert next_state(action, state, actor) == legal[0]
        else:
            with pytest.raises(NotAllowedError, match=f"{role} role may not"):
                next_state(action, state, actor)


NOW = dt.datetime(2026, 11, 29, 15, 0, tzinfo=dt.UTC)
ALICE, BOB = Actor("alice", Role.SUPERVISOR), Actor("bob", Role.SUPERVISOR)
CODER, AUDITOR, ADMIN = Actor("carol", Role.CODER), Actor("ann", Role.AUDITOR), Actor("root", Role.ADMIN)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stores(tmp_path, clock):
    url = f"sqlite:///{tmp_path / 'wl.db'}"
    upgrade(url)
    worklist = WorklistStore(url)
    settings = ReviewSettings(lease_s=60, sla_s=3600, timely_filing_days={"BSTM1": 90})
    opener = TaskOpener(DenialRules.load(ROOT / "config/denials.yaml"), settings, clock)
    worklist.upsert(
        [
            {
                "payer_id": "BSTM1",
                "account_number": f"PA{n}",
                "member_id": "M1",
                "dos_from": dt.date(2026, 10, 1),
                "dos_to": dt.date(2026, 10, 1),
                "billed_cents": 15000 * n,
                "owner": "carol",
            }
            for n in (1, 2, 3)
        ]
    )
    return worklist, ReviewStore(worklist.engine, settings, clock), opener


RULES = FollowUpRules.load(ROOT / "config/followup.yaml")


def check(stores, item_id: int, result: CheckResult) -> None:
    worklist, _, opener = stores
    worklist.record(
        item_id, result, RULES.decide(result), portal="bluestem", run_id="run-1", flow_run_id=None, after=opener
    )


def coding_denial(modifier: str = "LT") -> CheckResult:
    detail = ClaimDetail(
        payer_claim_number="2026000000001",
        status_text="Denied",
        paid_cents=0,
        lines=[
            ServiceLine(line_no=1, procedure_code="99213", modifiers=[modifier], billed_cents=15000),
            ServiceLine(line_no=2, procedure_code="97110", billed_cents=5000),
        ],
        adjustments=[Adjustment(line_no=2, group_code="CO", carc="4", rarc="M20", amount_cents=5000)],
    )
    return CheckResult(outcome=Outcome.STATUS, category="F2", status_text="Denied", detail=detail, evidence=["ab" * 32])


def test_a_coding_denial_opens_one_task_and_a_recheck_updates_it(stores) -> None:
    worklist, review, _ = stores
    check(stores, 1, coding_denial())
    task = review.task_for_item(1)
    assert task is not None and (task.state, task.kind, task.category) == ("pending", "denial", "coding")
    assert task.codes == "CO-4,M20" and task.assignee == "carol"
    proposal = Proposal.model_validate_json(task.proposal_json)
    # the adjustment named line 2: the proposal is about it, with its codes as they stand
    assert (proposal.action, proposal.line_no, proposal.procedure_code) == (NextAction.CORRECTED_CLAIM, 2, "97110")
    assert task.filing_deadline == dt.date(2026, 12, 30) and task.due_at == NOW + dt.timedelta(hours=1)
    assert task.line_ids and len(task.line_ids.split(",")) == 2
    check(stores, 1, coding_denial())
    again = review.task_for_item(1)
    assert again.id == task.id and again.checks == 2
    assert review.counts() == {"pending": 1}


def test_paid_claims_open_no_task_and_unmapped_or_ambiguous_do(stores) -> None:
    _, review, _ = stores
    paid = ClaimDetail(payer_claim_number="1", status_text="Paid", paid_cents=100)
    check(stores, 1, CheckResult(outcome=Outcome.STATUS, category="F1", detail=paid))
    check(stores, 2, CheckResult(outcome=Outcome.UNMAPPED, status_text="Held <b>for</b> review"))
    check(stores, 3, CheckResult(outcome=Outcome.AMBIGUOUS, matches=2))
    assert review.task_for_item(1) is None
    assert review.task_for_item(2).kind == "unmapped" and review.task_for_item(3).kind == "ambiguous"


def test_the_queue_sorts_by_filing_limit_then_balance_and_pages_by_keyset(stores, clock) -> None:
    _, review, _ = stores
    for item_id in (1, 2, 3):
        check(stores, item_id, coding_denial())
    page = review.queue(review_filter(), limit=2)
    assert [t.item_id for t, _ in page.tasks] == [3, 2] and page.next_after is not None
    rest = review.queue(review_filter(), limit=2, after=page.next_after)
    assert [t.item_id for t, _ in rest.tasks] == [1] and rest.next_after is None
    assert priority_of(100_00, 5) > priority_of(10_000_00, 60) > priority_of(10_000_00, 400)


def review_filter(**kw):
    from bots.review import QueueFilter

    return QueueFilter(**kw)


def test_edit_then_maker_checker_then_another_supervisor_approves(stores) -> None:
    _, review, _ = stores
    check(stores, 1, coding_denial())
    task = review.task_for_item(1)
    proposal = Proposal(
        action=NextAction.CORRECTED_CLAIM, line_no=2, procedure_code="97110", modifiers=["GP"], note="add GP"
    )
    task = review.edit(task.id, ALICE, task.version, proposal, "modifier missing")
    with pytest.raises(NotAllowedError, match="maker-checker: alice edited"):
        review.decide(task.id, ALICE, Action.APPROVE, task.version, "looks right")
    for who in (CODER, AUDITOR, ADMIN):
        with pytest.raises(NotAllowedError):
            review.decide(task.id, who, Action.APPROVE, task.version, "ok")
    with pytest.raises(NotAllowedError):
        review.edit(task.id, AUDITOR, task.version, proposal)
    task = review.decide(task.id, BOB, Action.APPROVE, task.version, "modifier GP is right")
    assert task.state == "approved" and task.open_item_id == 1
    log = review.decisions(task.id)
    assert [(d.action, d.actor, d.from_state, d.to_state) for d in log] == [
        ("open", "sweep", "pending", "pending"),
        ("edit", "alice", "pending", "pending"),
        ("approve", "bob", "pending", "approved"),
    ]
    with pytest.raises(IllegalTransitionError):
        review.edit(task.id, CODER, task.version, proposal)


def test_a_reason_is_required_and_a_stale_version_is_a_conflict(stores) -> None:
    _, review, _ = stores
    check(stores, 1, coding_denial())
    task = review.task_for_item(1)
    with pytest.raises(ReviewError, match="give a reason"):
        review.decide(task.id, ALICE, Action.REJECT, task.version, "  ")
    review.decide(task.id, ALICE, Action.RETURN, task.version, "which line?")
    with pytest.raises(ConflictError, match="changed by someone else"):
        review.decide(task.id, BOB, Action.REJECT, task.version, "stale view")
    task = review.task(task.id)
    task = review.decide(task.id, CODER, Action.ANSWER, task.version, "line 2, see the op note")
    assert task.state == "pending"


def test_two_decisions_at_once_exactly_one_wins(stores) -> None:
    _, review, _ = stores
    check(stores, 1, coding_denial())
    task = review.task_for_item(1)
    results: list[object] = []
    barrier = threading.Barrier(2)

    def decide(actor: Actor, action: Action) -> None:
        barrier.wait()
        try:
            results.append(review.decide(task.id, actor, action, task.version, "at once").state)
        except ConflictError as exc:
            results.append(exc)

    threads = [threading.Thread(target=decide, args=a) for a in ((ALICE, Action.APPROVE), (BOB, Action.REJECT))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(r, ConflictError) for r in results) == 1
    assert len(review.decisions(task.id)) == 2  # open + the one decision that won


def test_a_lease_holds_a_task_for_its_supervisor_until_it_runs_out(stores, clock) -> None:
    _, review, _ = stores
    check(stores, 1, coding_denial())
    task = review.hold(review.task_for_item(1).id, ALICE)
    assert task.lease_holder == "alice"
    assert review.hold(task.id, BOB).lease_holder == "alice"
    with pytest.raises(ConflictError, match="alice has this task open until"):
        review.decide(task.id, BOB, Action.APPROVE, task.version, "mine")
    clock.now += dt.timedelta(seconds=61)
    assert review.decide(task.id, BOB, Action.APPROVE, task.version, "lease ran out").state == "approved"


def test_apply_bookkeeping_and_nothing_to_submit_resolves(stores, clock) -> None:
    _, review, _ = stores
    check(stores, 1, coding_denial())
    check(stores, 2, CheckResult(outcome=Outcome.UNMAPPED, status_text="Odd"))
    denial, unmapped = review.task_for_item(1), review.task_for_item(2)
    assert review.decide(unmapped.id, ALICE, Action.APPROVE, unmapped.version, "mapped by hand").state == "resolved"
    assert review.task_for_item(2).open_item_id is None
    review.decide(denial.id, ALICE, Action.APPROVE, denial.version, "go")
    assert [t.id for t in review.to_apply()] == [denial.id]
    first = review.begin_apply(denial.id, "run-a")
    assert (first.apply_key, first.apply_attempts) == (f"RCM-T{denial.id}", 1)
    assert review.begin_apply(denial.id, "run-b") is None  # two runs at once: one submits
    clock.now += dt.timedelta(seconds=review.settings.apply_hold_s + 1)  # run-a died holding it
    again = review.begin_apply(denial.id, "run-b")
    assert (again.apply_key, again.apply_attempts) == (first.apply_key, 2)  # looked up before resubmitting
    task = review.finish_apply(denial.id, reference=None, error="portal said no", evidence=[])
    assert task.state == "apply_failed"
    task = review.decide(task.id, BOB, Action.RETRY, task.version, "try again")
    task = review.finish_apply(task.id, reference="CR-1", error=None, evidence=["cd" * 32])
    assert (task.state, task.portal_reference, task.open_item_id) == ("applied", "CR-1", None)
    # the same adjudication seen again (the payer has not processed the correction yet) opens
    # nothing; a new one (another status date) opens a new task
    check(stores, 1, coding_denial())
    assert review.task_for_item(1).id == denial.id and review.counts().get("pending") is None
    readjudicated = coding_denial()
    readjudicated.detail.status_date = dt.date(2026, 12, 20)
    check(stores, 1, readjudicated)
    assert review.task_for_item(1).id != denial.id


def test_a_rejected_proposal_is_not_reopened_by_the_next_check(stores) -> None:
    _, review, _ = stores
    check(stores, 1, coding_denial())
    task = review.task_for_item(1)
    review.decide(task.id, ALICE, Action.REJECT, task.version, "coded right; appeal instead")
    check(stores, 1, coding_denial())
    assert review.task_for_item(1).id == task.id and review.task(task.id).state == "rejected"


def test_a_recheck_moves_the_version_and_never_replaces_an_edited_proposal(stores) -> None:
    _, review, _ = stores
    check(stores, 1, coding_denial())
    task = review.task_for_item(1)
    mine = Proposal(action=NextAction.APPEAL, line_no=1, note="appeal with the op note")
    task = review.edit(task.id, CODER, task.version, mine)
    check(stores, 1, coding_denial())
    again = review.task(task.id)
    assert again.version == task.version + 1 and Proposal.model_validate_json(again.proposal_json) == mine
    with pytest.raises(ConflictError):
        review.decide(task.id, ALICE, Action.APPROVE, task.version, "from the earlier view")


def test_the_decision_log_refuses_update_and_delete(stores) -> None:
    worklist, review, _ = stores
    check(stores, 1, coding_denial())
    for statement in ("UPDATE review_decisions SET actor = 'mallory'", "DELETE FROM review_decisions"):
        with pytest.raises(DatabaseError, match="append-only"), worklist.engine.begin() as conn:
            conn.execute(text(statement))


def test_bulk_approval_reports_each_task(stores) -> None:
    _, review, _ = stores
    for item_id in (1, 2):
        check(stores, item_id, coding_denial())
    one, two = review.task_for_item(1), review.task_for_item(2)
    review.hold(two.id, BOB)
    outcome = review.decide_many([(one.id, one.version), (two.id, two.version)], ALICE, Action.APPROVE, "batch")
    assert outcome[one.id] is None and "bob has this task open" in outcome[two.id]


def test_maker_checker_holds_for_a_retry_and_an_unchanged_edit_is_refused(stores) -> None:
    _, review, _ = stores
    check(stores, 1, coding_denial())
    task = review.task_for_item(1)
    proposal = Proposal.model_validate_json(task.proposal_json)
    with pytest.raises(ReviewError, match="nothing changed"):
        review.edit(task.id, CODER, task.version, proposal)  # no laundering an edit through a no-op
    task = review.edit(task.id, ALICE, task.version, proposal.model_copy(update={"modifiers": ["59"]}))
    task = review.decide(task.id, BOB, Action.APPROVE, task.version, "ok")
    task = review.finish_apply(task.id, reference=None, error="portal down", evidence=[])
    with pytest.raises(NotAllowedError, match="maker-checker"):
        review.decide(task.id, ALICE, Action.RETRY, task.version, "again")
    assert review.decide(task.id, BOB, Action.RETRY, task.version, "again").state == "approved"


def test_holds_are_for_tasks_a_supervisor_decides_and_one_at_a_time(stores) -> None:
    _, review, _ = stores
    for item_id in (1, 2):
        check(stores, item_id, coding_denial())
    one, two = review.task_for_item(1), review.task_for_item(2)
    assert review.hold(one.id, ALICE).lease_holder == "alice"
    assert review.hold(two.id, ALICE).lease_holder == "alice" and review.task(one.id).lease_holder is None
    returned = review.decide(two.id, ALICE, Action.RETURN, review.task(two.id).version, "which line?")
    assert review.hold(returned.id, BOB).lease_holder is None  # a returned task is the coder's to answer
    assert review.hold(one.id, CODER).lease_holder is None


def test_a_reason_has_a_limit(stores) -> None:
    _, review, _ = stores
    check(stores, 1, coding_denial())
    task = review.task_for_item(1)
    with pytest.raises(ReviewError, match="at most 2000"):
        review.decide(task.id, ALICE, Action.REJECT, task.version, "x" * 2001)


def test_a_small_edit_by_someone_else_does_not_launder_an_approvers_own_edit(stores) -> None:
    _, review, _ = stores
    check(stores, 1, coding_denial())
    task = review.task_for_item(1)
    proposal = Proposal.model_validate_json(task.proposal_json)
    task = review.edit(task.id, ALICE, task.version, proposal.model_copy(update={"procedure_code": "99215"}))
    task = review.edit(
        task.id,
        CODER,
        task.version,
        Proposal.model_validate_json(task.proposal_json).model_copy(update={"note": "coding denial."}),
    )
    with pytest.raises(NotAllowedError, match="maker-checker: alice edited"):
        review.decide(task.id, ALICE, Action.APPROVE, task.version, "mine, laundered")
    assert review.decide(task.id, BOB, Action.APPROVE, task.version, "checked").state == "approved"


def test_a_corrected_claim_denied_again_opens_a_new_task(stores) -> None:
    _, review, _ = stores
    check(stores, 1, coding_denial())
    task = review.task_for_item(1)
    review.decide(task.id, ALICE, Action.REJECT, task.version, "appeal instead")
    again = coding_denial()
    again.detail.payer_claim_number = "2026000000002"  # the payer's number for the corrected claim
    check(stores, 1, again)
    assert review.task_for_item(1).id != task.id


def test_decisions_are_ledgered_once_and_a_look_alike_does_not_stand_in(stores, tmp_path) -> None:
    """Each decision becomes one evidence record (kind decision), once even when caught up twice;
    a record merely named like a decision (appended by someone else) does not hide the real one."""
    from bots.evidence import EvidenceIndex, LocalEvidenceStore
    from bots.review.ledger import ledger_decisions

    worklist, review, _ = stores
    check(stores, 1, coding_denial())
    store = LocalEvidenceStore(tmp_path / "evidence")
    decision_id = review.decisions(review.task_for_item(1).id)[0].id
    store.put(
        b'{"forged": true}',
        "application/json",
        item_id=1,
        portal="bluestem",
        page_url="",
        run_id=f"decision-{decision_id:012d}",
        flow_run_id=None,
        kind="decision",
    )
    assert ledger_decisions(EvidenceIndex(worklist.engine, store)) == 1
    assert ledger_decisions(EvidenceIndex(worklist.engine, store)) == 0
    real = [r for r in store.records() if r.run_id == f"decision-{decision_id:012d}"]
    assert len(real) == 2 and json.loads(store.read(real[1]))["action"] == "open"
