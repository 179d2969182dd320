"""The console's worklist, item timeline, attention list, runs and evidence pages, driven in real
headless Chromium (pytest-playwright's page, a fresh context per test) against one console
started once per session on a free 127.0.0.1 port. Its worklist is seeded once, through the
store's own upsert and record (as a sweep writes it), with evidence put through the evidence
store; each test signs in a user of its own, so nothing needs resetting."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from playwright.sync_api import Page, expect

from bots.accounts import AccountStore
from bots.console import RunningConsole, create_app
from bots.core.models import CheckResult, ClaimDetail, Outcome, Role, ServiceLine
from bots.core.settings import ReviewSettings, Settings
from bots.denials import DenialRules
from bots.evidence import EvidenceIndex, open_evidence_store
from bots.evidence import evidence_store as store_of
from bots.review import ReviewStore, TaskOpener
from bots.worklist import FollowUpRules, WorklistStore, upgrade
from bots.worklist.store import RunPage
from tests.conftest import ROOT

PASSWORD = "a long enough password"
PAGE_SIZE = 3
XSS = "<img src=x onerror=alert(1)>"
DEFERRED_REASON = "Juniper portal closed for maintenance"
MANUAL_REASON = "no portal may be automated for payer MANL1"
SANDBOX = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
RULES = FollowUpRules.load(ROOT / "config/followup.yaml")
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid PNG of one colour (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@dataclass
class Seeded:
    """What the session's worklist holds, by the names the tests use."""

    ids: dict[str, int]  # account number -> item id
    screenshot: str  # sha256 of item PA-1001's screenshot
    snapshot: str  # sha256 of its HTML snapshot
    tampered: str  # sha256 of a file changed on disk after capture
    escaped: str  # sha256 named by a link that leaves the evidence root
    task_id: int  # the review task of PA-1002


@dataclass
class Console:
    url: str
    accounts: AccountStore
    seeded: Seeded

    def sign_in(self, page: Page, role: Role = Role.CODER, next_path: str = "/worklist") -> str:
        """A new user of `role`, signed in on `page`, landing on `next_path`; their name."""
        name = f"{role.value}-{secrets.token_hex(4)}"
        self.accounts.add_user(name, role, PASSWORD)
        page.goto(f"{self.url}/login?next={next_path}")
        page.get_by_label("User name").fill(name)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{self.url}{next_path}")
        return name


def seed(worklist: WorklistStore, review: ReviewStore, evidence: Path, settings: Settings) -> Seeded:
    accounts = [("BSTM1", "PA-1001"), ("BSTM1", "PA-1002"), ("JUNP1", "PA-1003"), ("MANL1", "PA-1004")]
    accounts += [("BSTM1", "PA-1005"), ("JUNP1", "PA-1006"), ("BSTM1", "PA-1007")]
    worklist.upsert(
        [
            {
                "payer_id": payer,
                "account_number": account,
                "member_id": f"M{account[-4:]}",
                "patient_name": "Avery Test",
                "dos_from": dt.date(2026, 9, 1),
                "dos_to": dt.date(2026, 9, 1),
                "billed_cents": 15000,
                "next_follow_up_at": NOW + dt.timedelta(days=1),
            }
            for payer, account in accounts
        ]
    )
    ids = {item.account_number: item.id for item in worklist.items()}
    store = open_evidence_store(evidence)

    def put(content: bytes, media_type: str, account: str) -> str:
        record = store.put(
            content,
            media_type,
            item_id=ids[account],
            portal="bluestem",
            page_url="http://portal/",
            run_id="r",
            flow_run_id=None,
        )
        return record.sha256

    screenshot = put(png(64, 40, (30, 90, 200)), "image/png", "PA-1001")
    snapshot = put(b"<html><body><p>Claim detail</p><script>alert(1)</script></body></html>", "text/html", "PA-1001")
    tampered = put(png(8, 8, (200, 30, 30)), "image/png", "PA-1001")
    next(evidence.glob(f"objects/*/{tampered}.png")).write_bytes(b"not what was captured")
    outside = evidence.parent / "outside.png"
    outside.write_bytes(b"a file outside the evidence root")
    escaped = hashlib.sha256(b"escaped").hexdigest()
    (evidence / "objects" / escaped[:2]).mkdir(parents=True, exist_ok=True)
    (evidence / "objects" / escaped[:2] / f"{escaped}.png").symlink_to(outside)

    opener = TaskOpener(DenialRules.load(ROOT / "config/denials.yaml"), settings.review)

    def check(account: str, result: CheckResult, run_id: str, portal: str, at: dt.datetime) -> None:
        worklist.record(
            ids[account],
            result,
            RULES.decide(result),
            portal=portal,
            run_id=run_id,
            flow_run_id=None,
            checked_at=at,
            after=opener,
        )

    older, newer = NOW - dt.timedelta(days=2), NOW - dt.timedelta(days=1)
    check(
        "PA-1001",
        CheckResult(outcome=Outcome.STATUS, category="P1", status_text="In process"),
        "run-a",
        "bluestem",
        older,
    )
    denied = ClaimDetail(
        payer_claim_number="2026000000101",
        status_text="Denied",
        paid_cents=0,
        lines=[ServiceLine(line_no=1, procedure_code="99213", billed_cents=15000)],
    )
    check(
        "PA-1001",
        CheckResult(
            outcome=Outcome.STATUS, category="F2", status_text="Denied", detail=denied, evidence=[screenshot, snapshot]
        ),
        "run-b",
        "bluestem",
        newer,
    )
    check("PA-1002", CheckResult(outcome=Outcome.UNMAPPED, status_text=XSS), "run-b", "bluestem", newer)
    check("PA-1003", CheckResult(outcome=Outcome.DEFERRED, error=DEFERRED_REASON), "run-b", "-", newer)
    check("PA-1004", CheckResult(outcome=Outcome.MANUAL, error=MANUAL_REASON), "run-b", "-", newer)
    task = review.task_for_item(ids["PA-1002"])
    assert task is not None
    return Seeded(ids, screenshot, snapshot, tampered, escaped, task.id)


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    root = tmp_path_factory.mktemp("console-worklist")
    settings = Settings(
        state_dir=root / "state",
        evidence_dir=root / "evidence",
        console={"port": 0, "page_size": PAGE_SIZE},
        review=ReviewSettings(sla_s=3600),
    )
    upgrade(settings.worklist_url)
    worklist = WorklistStore(settings.worklist_url)
    review = ReviewStore(worklist.engine, settings.review)
    seeded = seed(worklist, review, settings.evidence_path, settings)
    # cheap hashes: these tests are about the web layer (test_accounts checks the hashing)
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    accounts = AccountStore(worklist.engine, settings.console, hasher=hasher)
    state = {"worklist": worklist, "review": review, "evidence": EvidenceIndex(worklist.engine, store_of(settings))}
    running = RunningConsole(create_app(settings, accounts=accounts, state=state), "127.0.0.1", 0).start()
    yield Console(running.url, accounts, seeded)
    running.stop()
    worklist.engine.dispose()


def body_rows(page: Page, table: str = "table.worklist") -> list[str]:
    return page.locator(f"{table} tbody tr").all_inner_texts()


def test_the_worklist_pages_by_id_and_filters(page: Page, console: Console) -> None:
    name = console.sign_in(page)
    ids = console.seeded.ids
    expect(page.get_by_role("heading", name="Worklist")).to_be_visible()
    rows = page.locator("table.worklist tbody tr")
    expect(rows).to_have_count(PAGE_SIZE)
    expect(rows.nth(0)).to_contain_text("PA-1001")
    expect(rows.nth(0)).to_contain_text("F2 status")
    expect(rows.nth(0)).to_contain_text("Get the denial reasons")
    task_link = rows.nth(1).get_by_role("link", name=f"task {console.seeded.task_id}")
    expect(task_link).to_have_attribute("href", f"/review/tasks/{console.seeded.task_id}")
    expect(rows.nth(2)).to_contain_text("last check: deferred")
    page.get_by_role("link", name="Next page").click()
    expect(page).to_have_url(f"{console.url}/worklist?after={ids['PA-1003']}")
    expect(rows).to_have_count(PAGE_SIZE)
    expect(rows.nth(0)).to_contain_text("PA-1004")
    page.get_by_role("link", name="Next page").click()
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_contain_text("PA-1007")
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    page.get_by_role("link", name="First page").click()
    expect(rows.nth(0)).to_contain_text("PA-1001")
    page.get_by_label("Filter by outcome").get_by_role("link", name="deferred", exact=True).click()
    expect(page).to_have_url(f"{console.url}/worklist?outcome=deferred")
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_contain_text("PA-1003")
    page.get_by_label("Filter by payer").get_by_role("link", name="BSTM1").click()
    expect(page).to_have_url(f"{console.url}/worklist?outcome=deferred&payer=BSTM1")
    expect(page.locator("table.worklist")).to_contain_text("No items match these filters.")
    actions = [e.action for e in console.accounts.access_log(20, username=name)]
    assert actions.count("view_worklist") == 6


def test_search_by_account_number_is_a_post_and_keeps_the_number_out_of_the_url(page: Page, console: Console) -> None:
    name = console.sign_in(page)
    page.get_by_label("Account, claim or member number").fill("pa-1002")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(f"{console.url}/worklist/search")
    expect(page.get_by_role("heading", name="Search results")).to_be_visible()
    rows = page.locator("table.worklist tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_contain_text("PA-1002")
    expect(page.get_by_label("Account, claim or member number")).to_have_value("pa-1002")
    assert "1002" not in page.url
    page.get_by_label("Account, claim or member number").fill("2026000000101")  # the payer's claim number
    page.get_by_role("button", name="Search").click()
    expect(rows.nth(0)).to_contain_text("PA-1001")
    page.get_by_label("Account, claim or member number").fill("NOPE-404")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("table.worklist")).to_contain_text("No item matches that number.")
    logged = console.accounts.access_log(20, username=name, action="search_worklist")
    assert [e.what for e in logged] == [
        "worklist search, 0 found",
        "worklist search, 1 found",
        "worklist search, 1 found",
    ]


def test_the_item_page_shows_the_timeline_with_evidence_and_is_logged(page: Page, console: Console) -> None:
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    item_id = console.seeded.ids["PA-1001"]
    name = console.sign_in(page, Role.AUDITOR, next_path=f"/worklist/items/{item_id}")
    expect(page.get_by_role("heading", name=f"Item {item_id}")).to_be_visible()
    expect(page.locator("dl.facts")).to_contain_text("2026000000101")
    expect(page.locator("dl.facts")).to_contain_text("2026-09-01")
    timeline = page.locator("table.timeline tbody tr")
    expect(timeline).to_have_count(2)
    expect(timeline.nth(0)).to_contain_text("run-a")  # oldest first
    expect(timeline.nth(0)).to_contain_text("P1 status")
    expect(timeline.nth(1)).to_contain_text("run-b")
    expect(timeline.nth(1)).to_contain_text("Denied")
    thumb = timeline.nth(1).locator("img.thumb")
    expect(thumb).to_have_attribute("src", f"/evidence/{console.seeded.screenshot}")
    expect(thumb).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth === 64", arg=thumb.element_handle())
    snapshot = timeline.nth(1).get_by_role("link", name=f"Page snapshot {console.seeded.snapshot[:12]}")
    expect(snapshot).to_have_attribute("href", f"/evidence/{console.seeded.snapshot}")
    expect(page.locator("table.data").nth(0)).to_contain_text("99213")  # its service line
    assert page.locator("script:not([src]), [style]").count() == 0
    assert problems == []  # no CSP violation, the thumbnail loaded
    entries = console.accounts.access_log(20, username=name)
    viewed = [e for e in entries if e.action == "view_item"]
    assert [(e.what, e.item_id) for e in viewed] == [(f"item {item_id}", item_id)]
    assert [e.what for e in entries if e.action == "view_evidence"] == [f"evidence {console.seeded.screenshot[:12]}"]


def test_portal_text_is_shown_as_text_never_as_markup(page: Page, console: Console) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    item_id = console.seeded.ids["PA-1002"]
    console.sign_in(page, next_path=f"/worklist/items/{item_id}")
    expect(page.locator("dl.facts")).to_contain_text(XSS)
    expect(page.locator("table.timeline")).to_contain_text(XSS)
    expect(page.get_by_role("link", name=f"task {console.seeded.task_id}")).to_have_attribute(
        "href", f"/review/tasks/{console.seeded.task_id}"
    )
    assert page.locator("img[src='x']").count() == 0
    page.goto(f"{console.url}/worklist")
    expect(page.locator("table.worklist")).to_contain_text(XSS)
    assert page.locator("img[src='x']").count() == 0
    assert dialogs == []


def test_an_unknown_item_is_404(page: Page, console: Console) -> None:
    console.sign_in(page)
    response = page.goto(f"{console.url}/worklist/items/999999")
    assert response is not None and response.status == 404


def test_evidence_is_served_by_hash_with_its_type(page: Page, console: Console) -> None:
    name = console.sign_in(page, Role.SUPERVISOR)
    seeded = console.seeded
    image = page.request.get(f"{console.url}/evidence/{seeded.screenshot}")
    assert image.status == 200 and image.headers["content-type"] == "image/png"
    assert hashlib.sha256(image.body()).hexdigest() == seeded.screenshot
    assert image.headers["x-content-type-options"] == "nosniff" and image.headers["cache-control"] == "no-store"
    snapshot = page.request.get(f"{console.url}/evidence/{seeded.snapshot}")
    assert snapshot.status == 200 and snapshot.headers["content-type"] == "text/html; charset=utf-8"
    assert snapshot.headers["content-security-policy"] == SANDBOX
    assert snapshot.headers["x-content-type-options"] == "nosniff" and snapshot.headers["cache-control"] == "no-store"
    logged = [e.what for e in console.accounts.access_log(10, username=name, action="view_evidence")]
    assert logged == [f"evidence {seeded.snapshot[:12]}", f"evidence {seeded.screenshot[:12]}"]


def test_a_snapshot_runs_no_script(page: Page, console: Console) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    console.sign_in(page)
    page.goto(f"{console.url}/evidence/{console.seeded.snapshot}")
    expect(page.get_by_text("Claim detail")).to_be_visible()
    assert dialogs == []


@pytest.mark.parametrize(
    "path",
    [
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "A" * 64,  # upper case is not how the store names files
        "g" * 64,
        "0" * 63,
        "0" * 65,
        "0" * 64,  # a hash of nothing stored
        "{sha}.png",
        "{sha}%0A",
        "{escaped}",  # stored as a link to a file outside the evidence root
    ],
)
def test_evidence_outside_the_store_or_not_named_by_a_hash_is_404(page: Page, console: Console, path: str) -> None:
    console.sign_in(page)
    target = path.format(sha=console.seeded.screenshot, escaped=console.seeded.escaped)
    response = page.request.get(f"{console.url}/evidence/{target}")
    assert response.status == 404
    assert "root:" not in response.text() and "outside the evidence root" not in response.text()


def test_a_tampered_evidence_file_is_refused(page: Page, console: Console) -> None:
    name = console.sign_in(page)
    response = page.request.get(f"{console.url}/evidence/{console.seeded.tampered}", headers={"accept": "text/html"})
    assert response.status == 409
    text = response.text()
    assert "changed or removed after it was captured" in text and "not what was captured" not in text
    assert not console.accounts.access_log(10, username=name, action="view_evidence")


def test_runs_are_listed_newest_first_with_their_counts(page: Page, console: Console) -> None:
    console.sign_in(page, Role.SUPERVISOR, next_path="/runs")
    rows = page.locator("table.runs tbody tr")
    expect(rows).to_have_count(2)
    newer, older = rows.nth(0), rows.nth(1)
    expect(newer.locator("td").nth(0)).to_have_text("run-b")
    expect(newer.locator("td").nth(3)).to_have_text("4")  # claims
    expect(newer.locator("td").nth(6)).to_have_text("-, bluestem")
    counts = newer.locator("ul.counts li").all_inner_texts()
    assert sorted(counts) == ["F2 1", "deferred 1", "manual 1", "unmapped 1"]
    expect(older.locator("td").nth(0)).to_have_text("run-a")
    assert older.locator("ul.counts li").all_inner_texts() == ["P1 1"]
    expect(page.get_by_role("link", name="Older runs")).to_have_count(0)


def test_attention_lists_deferred_and_manual_items_by_reason(page: Page, console: Console) -> None:
    name = console.sign_in(page, next_path="/worklist/attention")
    reasons = page.locator("table.reasons tbody tr").all_inner_texts()
    assert sorted(r.replace("\t", " | ") for r in reasons) == [f"{DEFERRED_REASON} | 1", f"{MANUAL_REASON} | 1"]
    rows = page.locator("table.worklist tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("PA-1003")
    expect(rows.nth(0)).to_contain_text(DEFERRED_REASON)
    expect(rows.nth(1)).to_contain_text("PA-1004")
    expect(rows.nth(1)).to_contain_text(MANUAL_REASON)
    assert [e.action for e in console.accounts.access_log(5, username=name)] == ["view_attention"]


@pytest.mark.parametrize("path", ["/worklist", "/worklist/attention", "/runs", "/worklist/items/1"])
def test_signed_out_a_browser_goes_to_login_and_a_script_gets_401(page: Page, console: Console, path: str) -> None:
    page.goto(f"{console.url}{path}")
    expect(page).to_have_url(re.compile(rf"/login\?next={re.escape(path)}$"))
    assert httpx.get(f"{console.url}{path}").status_code == 401
    assert httpx.get(f"{console.url}/evidence/{console.seeded.screenshot}").status_code == 401


def test_recent_runs_page_by_their_last_check(tmp_path: Path) -> None:
    """The keyset of /runs, on the store: runs ordered by their last check, ties by run id."""
    upgrade(url := f"sqlite:///{tmp_path / 'wl.db'}")
    store = WorklistStore(url)
    store.upsert(
        [
            {
                "payer_id": "P",
                "account_number": "A",
                "member_id": "M",
                "dos_from": dt.date(2026, 9, 1),
                "dos_to": dt.date(2026, 9, 1),
                "billed_cents": 1,
            }
        ]
    )
    result = CheckResult(outcome=Outcome.ERROR, error="portal down")
    for run_id, minutes in (("r1", 0), ("r2", 10), ("r3", 10), ("r4", 30), ("r1", 40)):
        at = NOW + dt.timedelta(minutes=minutes)
        store.record(1, result, RULES.decide(result), portal="p", run_id=run_id, flow_run_id=None, checked_at=at)
    first = store.recent_runs(2)
    assert [r.run_id for r in first.runs] == ["r1", "r4"] and first.next_before == "r4"
    assert (first.runs[0].first_at, first.runs[0].last_at) == (NOW, NOW + dt.timedelta(minutes=40))
    assert (first.runs[0].checks, first.runs[0].claims, first.runs[0].errors) == (2, 1, 2)
    second = store.recent_runs(2, before="r4")
    assert [r.run_id for r in second.runs] == ["r3", "r2"] and second.next_before is None
    assert [r.run_id for r in store.recent_runs(1, before="r3").runs] == ["r2"]  # a tie on time goes by run id
    assert store.recent_runs(2, before="r2") == RunPage([], None)
    assert store.recent_runs(2, before="unknown").runs == []
