"""The review queue and task pages as each role would use them, in real headless Chromium: a coder
edits, a supervisor approves and the apply run submits exactly once (the portal's own records);
maker-checker; bulk approval; approval from the keyboard alone; who may not decide (also by a
hand-made POST); CSRF; a concurrent decision's conflict message; portal text shown as text."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from argon2 import PasswordHasher
from playwright.sync_api import Page, expect

from bots.accounts import AccountStore
from bots.apply import ApplyRun
from bots.console import RunningConsole
from bots.console.server import console_app
from bots.core.models import Adjustment, CheckResult, ClaimDetail, Outcome, Role, ServiceLine
from bots.core.settings import Settings
from bots.denials import DenialRules
from bots.review import QueueFilter, ReviewStore, TaskOpener
from bots.worklist import FollowUpRules, WorklistStore
from bots.worklist.db import open_engine, upgrade
from tests.conftest import ROOT, run_async, shared_browser, sweep_rows
from tests.test_console_auth import PASSWORD, sign_in

RULES = FollowUpRules.load(ROOT / "config/followup.yaml")
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@dataclass
class Desk:
    """A console on a worklist database of its own, and ways to fill it."""

    url: str
    settings: Settings
    accounts: AccountStore
    review: ReviewStore
    worklist: WorklistStore
    opener: TaskOpener

    def user(self, role: Role) -> str:
        name = f"{role.value}-{secrets.token_hex(3)}"
        self.accounts.add_user(name, role, PASSWORD)
        return name

    def denial(self, status_text: str = "Denied", balance: int = 15000) -> int:
        """A worklist item whose check found a coding denial: its review task's id."""
        key = f"PA{secrets.randbelow(10**8):08d}"
        self.worklist.upsert(
            [
                {
                    "payer_id": "BSTM1",
                    "account_number": key,
                    "member_id": "M1",
                    "dos_from": dt.date(2026, 10, 1),
                    "dos_to": dt.date(2026, 10, 1),
                    "billed_cents": balance,
                }
            ]
        )
        item = self.worklist.search(key)[0]
        detail = ClaimDetail(
            payer_claim_number=f"9{secrets.randbelow(10**12):012d}",
            status_text=status_text,
            paid_cents=0,
            lines=[ServiceLine(line_no=1, procedure_code="99213", billed_cents=balance)],
            adjustments=[Adjustment(line_no=1, group_code="CO", carc="4", rarc="M20", amount_cents=balance)],
        )
        result = CheckResult(outcome=Outcome.STATUS, category="F2", status_text=status_text, detail=detail)
        self.worklist.record(
            item.id,
            result,
            RULES.decide(result),
            portal="bluestem",
            run_id="run-t",
            flow_run_id=None,
            after=self.opener,
        )
        task = self.review.task_for_item(item.id)
        assert task is not None
        return task.id


def open_desk(settings: Settings) -> tuple[Desk, RunningConsole]:
    upgrade(settings.worklist_url)
    engine = open_engine(settings.worklist_url)
    app = console_app(settings, engine)
    app.state.accounts = AccountStore(engine, settings.console, hasher=CHEAP)
    running = RunningConsole(app, "127.0.0.1", 0).start()
    opener = TaskOpener(DenialRules.load(ROOT / "config/denials.yaml"), settings.review)
    desk = Desk(running.url, settings, app.state.accounts, app.state.review, app.state.worklist, opener)
    return desk, running


@pytest.fixture(scope="session")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    state = tmp_path_factory.mktemp("review-console")
    settings = Settings(project_root=ROOT, state_dir=state, evidence_dir=state / "evidence", console={"port": 0})
    opened, running = open_desk(settings)
    yield opened
    running.stop()


def signed_in(page: Page, desk: Desk, role: Role, next_path: str = "/review") -> str:
    name = desk.user(role)
    sign_in(page, desk, name, next_path=next_path)  # type: ignore[arg-type]
    expect(page).to_have_url(re.compile(re.escape(next_path) + "$"))
    page.wait_for_load_state()  # its scripts (deferred) are running: keys work
    return name


def decide(page: Page, action: str, reason: str) -> None:
    page.get_by_label({"approve": "Approve", "reject": "Reject", "return": "Return for information"}[action]).check()
    page.get_by_label("Reason (required)").fill(reason)
    page.get_by_role("button", name="Record decision").click()


def test_the_same_supervisor_cannot_approve_a_decision_they_edited(page: Page, desk: Desk) -> None:
    task_id = desk.denial()
    signed_in(page, desk, Role.SUPERVISOR, f"/review/tasks/{task_id}")
    page.get_by_label("Modifiers (comma-separated)").fill("59")
    page.get_by_role("button", name="Save proposed decision").click()
    expect(page.get_by_role("status").first).to_contain_text(f"task {task_id}: proposed decision saved")
    decide(page, "approve", "mine")
    expect(page.get_by_role("alert")).to_contain_text("maker-checker")
    expect(page.get_by_label("Reason (required)")).to_have_value("mine")  # the input is kept
    assert desk.review.task(task_id).state == "pending"


def test_a_bad_proposal_comes_back_with_the_input_kept_and_the_field_named(page: Page, desk: Desk) -> None:
    task_id = desk.denial()
    signed_in(page, desk, Role.CODER, f"/review/tasks/{task_id}")
    page.get_by_label("Procedure code").fill("ABC")
    page.get_by_label("Modifiers (comma-separated)").fill("25, 5")
    page.get_by_role("button", name="Save proposed decision").click()
    expect(page.get_by_role("alert")).to_contain_text("the proposed decision has problems")
    expect(page.get_by_label("Procedure code")).to_have_value("ABC")
    expect(page.locator("#p-procedure_code-problem")).to_contain_text("CPT code")
    expect(page.locator("#p-modifiers-problem")).to_contain_text("'5' is not a modifier")


@pytest.mark.parametrize("role", [Role.CODER, Role.AUDITOR, Role.ADMIN])
def test_only_supervisors_approve_even_by_a_hand_made_post(page: Page, desk: Desk, role: Role) -> None:
    task_id = desk.denial()
    signed_in(page, desk, role, f"/review/tasks/{task_id}")
    expect(page.get_by_role("button", name="Record decision")).to_have_count(0)
    version = desk.review.task(task_id).version
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    answer = page.request.post(
        f"{desk.url}/review/tasks/{task_id}/decide",
        form={"action": "approve", "reason": "sneaky", "version": str(version), "csrftoken": token or ""},
        headers={"accept": "text/html"},
    )
    assert answer.status == 403
    bulk = page.request.post(
        f"{desk.url}/review/bulk", form={"pick": f"{task_id}:{version}", "reason": "x", "csrftoken": token or ""}
    )
    assert bulk.status == 403
    assert desk.review.task(task_id).state == "pending"


def test_a_decision_without_a_valid_csrf_token_is_refused(page: Page, desk: Desk) -> None:
    task_id = desk.denial()
    signed_in(page, desk, Role.SUPERVISOR, f"/review/tasks/{task_id}")
    version = desk.review.task(task_id).version
    for token in ("", "forged-token"):
        answer = page.request.post(
            f"{desk.url}/review/tasks/{task_id}/decide",
            form={"action": "approve", "reason": "no token", "version": str(version), "csrftoken": token},
        )
        assert answer.status == 403
    assert desk.review.task(task_id).state == "pending"


def test_a_concurrent_decision_gets_the_conflict_message(page: Page, desk: Desk, browser) -> None:
    task_id = desk.denial()
    signed_in(page, desk, Role.SUPERVISOR, f"/review/tasks/{task_id}")
    other = browser.new_context().new_page()
    try:
        signed_in(other, desk, Role.SUPERVISOR, f"/review/tasks/{task_id}")
        expect(other.get_by_role("status").first).to_contain_text("has this task open until")
        decide(page, "reject", "duplicate of an appeal already sent")
        decide(other, "approve", "looks right")
        expect(other.get_by_role("alert")).to_contain_text("changed by someone else meanwhile")
        expect(other.get_by_role("heading", name=f"Task {task_id}")).to_contain_text("rejected")  # as it now is
    finally:
        other.context.close()
    assert desk.review.task(task_id).state == "rejected"


def test_bulk_approval_of_a_selection(page: Page, desk: Desk) -> None:
    ids = [desk.denial(balance=90_000_00 + n) for n in range(3)]  # the largest balances: first in the queue
    signed_in(page, desk, Role.SUPERVISOR)
    for task_id in ids[:2]:
        page.get_by_label(f"Select task {task_id}").check()
    page.get_by_label("Reason for approving the selected tasks").fill("same coding fix on each")
    page.get_by_role("button", name="Approve selected").click()
    expect(page.get_by_role("status").first).to_contain_text("2 task(s) approved")
    assert [desk.review.task(i).state for i in ids] == ["approved", "approved", "pending"]
    log = desk.review.decisions(ids[0])[-1]
    assert (log.action, log.reason) == ("approve", "same coding fix on each")


def test_approval_from_the_keyboard_alone(page: Page, desk: Desk) -> None:
    task_id = desk.denial(balance=99_000_00)
    signed_in(page, desk, Role.SUPERVISOR)
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard")).to_be_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/review/tasks/{task_id}"))
    page.keyboard.press("a")
    expect(page.get_by_label("Reason (required)")).to_be_focused()
    page.keyboard.type("modifier 25 documented")
    page.keyboard.press("Control+Enter")
    expect(page.get_by_role("status").first).to_contain_text(f"task {task_id}: approve recorded")
    assert desk.review.task(task_id).state == "approved"


def test_portal_text_with_markup_is_shown_as_text(page: Page, desk: Desk) -> None:
    text = 'Denied <img src=x onerror="document.title=1"><script>document.title=2</script>'
    task_id = desk.denial(status_text=text)
    signed_in(page, desk, Role.AUDITOR, f"/review/tasks/{task_id}")
    expect(page.locator(".facts .portal-text").first).to_have_text(text)
    assert page.locator(".facts img").count() == 0 and page.title().startswith("Task")
    assert desk.accounts.access_log(1)[0].action == "view_task"


def test_the_queue_filters_and_shows_no_phi_in_urls(page: Page, desk: Desk) -> None:
    desk.denial()
    signed_in(page, desk, Role.SUPERVISOR)
    page.get_by_label("Category").select_option("coding")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"category=coding"))
    expect(page.get_by_role("table", name="Review tasks").locator("tbody tr").first).to_contain_text("coding")
    hrefs = page.locator("a[href]").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert not [h for h in hrefs if re.search(r"PA\d{8}|\d{13}", h)]


@pytest.mark.slow
def test_coder_edits_supervisor_approves_and_the_portal_receives_it_once(
    page: Page, settings, portal, dataset, browser
) -> None:
    sweep, _ = sweep_rows(settings, portal, [r for r in dataset.worklist if r.kind == "denied_coding"][:1])
    settings = settings.model_copy(update={"console": settings.console.model_copy(update={"port": 0})})
    desk, running = open_desk(settings)
    try:
        ((task, _),) = desk.review.queue(QueueFilter()).tasks
        signed_in(page, desk, Role.CODER, f"/review/tasks/{task.id}")
        expect(page.get_by_role("img").first).to_be_visible()  # the check's screenshot beside the facts
        page.get_by_label("Modifiers (comma-separated)").fill("59")
        page.get_by_label("Why you changed it (for the decision log)").fill("distinct procedural service")
        page.get_by_role("button", name="Save proposed decision").click()
        supervisor = browser.new_context().new_page()
        signed_in(supervisor, desk, Role.SUPERVISOR, f"/review/tasks/{task.id}")
        decide(supervisor, "approve", "59 supported by the operative note")
        expect(supervisor.get_by_role("status").first).to_contain_text("approve recorded")
        supervisor.context.close()
        run = ApplyRun.load(settings, base_urls={"bluestem": portal.url})
        summary = run_async(_applied(run))
        assert summary.applied == 1 and summary.approved == 1
        records = portal.server.submissions()
        assert len(records) == 1 and records[0]["modifiers"] == "59"
        # each decision is in the evidence log (the console ledgers it; the apply run signs it)
        kinds = ("decision", "applied")
        ledgered = [json.loads(run.evidence.read(r)) for r in run.evidence.records() if r.kind in kinds]
        assert {(task.id, "edit"), (task.id, "approve"), (task.id, "applied")} <= {
            (d["task_id"], d["action"]) for d in ledgered
        }
        page.reload()
        expect(page.get_by_text(f"reference {records[0]['reference']}")).to_be_visible()
        assert run_async(_applied(ApplyRun.load(settings, base_urls={"bluestem": portal.url}))).approved == 0
        assert len(portal.server.submissions()) == 1
    finally:
        running.stop()


async def _applied(run: ApplyRun):  # type: ignore[no-untyped-def]
    return await run.run(browser=await shared_browser())


def test_a_request_without_a_session_is_refused(desk: Desk) -> None:
    answer = httpx.post(f"{desk.url}/review/bulk", data={"pick": "1:1", "reason": "x"})
    assert answer.status_code in (401, 403)


SHOTS = "RCMBOT_CONSOLE_SCREENSHOTS"  # a folder: the README's screenshots are taken by this test


@pytest.mark.slow
def test_the_console_as_a_supervisor_sees_it(page: Page, settings, portal, dataset, tmp_path) -> None:
    import os
    from pathlib import Path

    wanted = {"denied_coding": 6, "unmapped": 2, "ambiguous": 1}
    rows = [r for kind, n in wanted.items() for r in [x for x in dataset.worklist if x.kind == kind][:n]]
    sweep_rows(settings, portal, rows)
    settings = settings.model_copy(update={"console": settings.console.model_copy(update={"port": 0})})
    desk, running = open_desk(settings)
    folder = Path(os.environ.get(SHOTS) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        page.set_viewport_size({"width": 1280, "height": 860})
        signed_in(page, desk, Role.SUPERVISOR)
        queue = page.get_by_role("table", name="Review tasks")
        expect(queue.locator("tbody tr")).to_have_count(9)
        expect(queue).to_contain_text("coding")
        page.screenshot(path=folder / "console-queue.png")
        queue.locator("tbody tr", has_text="coding").first.locator("a").first.click()
        expect(page.get_by_role("img").first).to_be_visible()
        expect(page.get_by_role("table", name="Adjustments")).to_be_visible()
        page.screenshot(path=folder / "console-task.png", full_page=True)
        assert (folder / "console-queue.png").stat().st_size > 10_000
        item_id = desk.review.queue(QueueFilter()).tasks[0][0].item_id
        auditor = page.context.browser.new_context(viewport={"width": 1280, "height": 860}).new_page()  # type: ignore[union-attr]
        signed_in(auditor, desk, Role.AUDITOR, f"/audit/items/{item_id}")
        expect(auditor.locator(".verify").first).to_have_text("verified")
        auditor.screenshot(path=folder / "console-audit.png", full_page=True)
        auditor.context.close()
    finally:
        running.stop()


def test_an_edit_made_meanwhile_is_shown_beside_what_was_typed(page: Page, desk: Desk) -> None:
    from bots.review import Actor, Proposal

    task_id = desk.denial()
    signed_in(page, desk, Role.CODER, f"/review/tasks/{task_id}")
    task = desk.review.task(task_id)
    theirs = Proposal.model_validate_json(task.proposal_json).model_copy(update={"modifiers": ["25"]})
    desk.review.edit(task_id, Actor("another-coder", "coder"), task.version, theirs, "25, not 59")
    page.get_by_label("Modifiers (comma-separated)").fill("59")
    page.get_by_label("Why you changed it (for the decision log)").fill("59 per the note")
    page.get_by_role("button", name="Save proposed decision").click()
    expect(page.get_by_role("alert")).to_contain_text("changed by someone else meanwhile")
    expect(page.locator("#theirs")).to_contain_text("modifiers 25")
    expect(page.get_by_label("Modifiers (comma-separated)")).to_have_value("59")
    expect(page.get_by_label("Why you changed it (for the decision log)")).to_have_value("59 per the note")


def test_odd_numbers_in_forms_and_links_are_refused_plainly(page: Page, desk: Desk) -> None:
    task_id = desk.denial()
    signed_in(page, desk, Role.SUPERVISOR, f"/review/tasks/{task_id}")
    for path in ("/review?older=99999999", "/review?after=9:²", f"/review/tasks/{2**63}"):
        assert page.goto(desk.url + path).status in (200, 404, 422), path
    page.goto(f"{desk.url}/review/tasks/{task_id}")
    page.get_by_role("textbox", name="Service line").fill("²")
    page.get_by_role("button", name="Save proposed decision").click()
    expect(page.locator("#p-line_no-problem")).to_contain_text("a line number")
    expect(page.get_by_role("textbox", name="Service line")).to_have_value("²")
