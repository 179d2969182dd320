"""The auditor's evidence browser in real headless Chromium: search (a POST: no number in the
URL), a claim's timeline with checks, status change, decisions and applied action, each file
verified (verified, altered, removed by retention, not yet signed), the screenshot viewer's
zoom, trace download and the audit package export; other roles refused on every route, forged
evidence names refused, and an access-log row for everything seen.

One console for the module, on a worklist and evidence store seeded through the stores' own
writes (checks as a sweep records them, decisions as the review store takes them, ledgered and
signed as after a run); each test signs in a user of its own."""

from __future__ import annotations

import datetime as dt
import http.client
import io
import json
import re
import secrets
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from playwright.sync_api import Page, expect
from structlog.testing import capture_logs

from bots.accounts import AccountStore
from bots.console import RunningConsole
from bots.console.server import console_app
from bots.core.models import Adjustment, CheckResult, ClaimDetail, Outcome, Role, ServiceLine
from bots.core.settings import Settings
from bots.denials import DenialRules
from bots.evidence import LocalEvidenceStore, Stored
from bots.evidence.index import EvidenceIndex
from bots.evidence.setup import evidence_store
from bots.evidence.setup import signer as evidence_signer
from bots.evidence.tombstones import tombstone_content
from bots.review import Action, Actor, ReviewStore, TaskOpener
from bots.review.ledger import seal
from bots.worklist import FollowUpRules, WorklistStore
from bots.worklist.db import open_engine, upgrade
from tests.conftest import ROOT
from tests.test_console_worklist import png

PASSWORD = "a long enough password"
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
RULES = FollowUpRules.load(ROOT / "config/followup.yaml")
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
PAGE_SIZE = 3
CLAIM, MEMBER = "2026000777001", "MBR-77001"
XSS = "<img src=x onerror=alert(1)>"


def trace_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("trace.trace", '{"type":"context-options"}\n')
    return out.getvalue()


@dataclass
class Seeded:
    ids: dict[str, int]  # account number -> item id
    shots: list[str]  # item A's screenshots (sha256), by check
    snapshot: str
    trace: bytes
    trace_sha: str
    confirmation: str  # the applied action's screenshot
    altered: str  # item B's screenshot, changed on disk after the checkpoint
    removed: str  # item C's screenshot, removed at the end of its retention period


@dataclass
class Room:
    url: str
    settings: Settings
    accounts: AccountStore
    store: LocalEvidenceStore
    seeded: Seeded

    def user(self, role: Role) -> str:
        name = f"{role.value}-{secrets.token_hex(3)}"
        self.accounts.add_user(name, role, PASSWORD)
        return name

    def sign_in(self, page: Page, role: Role = Role.AUDITOR, next_path: str = "/audit") -> str:
        name = self.user(role)
        page.goto(f"{self.url}/login?next={next_path}")
        page.get_by_label("User name").fill(name)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{self.url}{next_path}")
        return name

    def logged(self, name: str, action: str) -> list[str]:
        return [e.what for e in self.accounts.access_log(50, username=name, action=action)]


def seed(settings: Settings, worklist: WorklistStore, review: ReviewStore, store: LocalEvidenceStore) -> Seeded:
    worklist.upsert(
        [
            {
                "payer_id": "BSTM1",
                "account_number": account,
                "member_id": member,
                "patient_name": "Avery Test",
                "dos_from": dt.date(2026, 9, 1),
                "dos_to": dt.date(2026, 9, 1),
                "billed_cents": 15000,
                "next_follow_up_at": NOW + dt.timedelta(days=1),
            }
            for account, member in (
                ("PA-2001", MEMBER),
                ("PA-2002", "MBR-77002"),
                ("PA-2003", "MBR-77003"),
                ("PA-2004", "MBR-77004"),  # no evidence yet
            )
        ]
    )
    ids = {item.account_number: item.id for item in worklist.items()}
    opener = TaskOpener(DenialRules.load(ROOT / "config/denials.yaml"), settings.review)

    def put(content: bytes, media_type: str, account: str, run_id: str, kind: str = "evidence") -> str:
        record = store.put(
            content,
            media_type,
            item_id=ids[account],
            portal="bluestem",
            page_url="http://portal/claims?member_id=MBR-77001",
            run_id=run_id,
            flow_run_id=None,
            kind=kind,  # type: ignore[arg-type]
        )
        return record.sha256

    def check(account: str, result: CheckResult, run_id: str, at: dt.datetime) -> None:
        worklist.record(
            ids[account],
            result,
            RULES.decide(result),
            portal="bluestem",
            run_id=run_id,
            flow_run_id=None,
            checked_at=at,
            after=opener,
        )

    first = put(png(640, 400, (30, 90, 200)), "image/png", "PA-2001", "run-1")
    snapshot = put(
        b"<html><body><p>Claim detail</p><script>alert(1)</script></body></html>", "text/html", "PA-2001", "run-1"
    )
    check(
        "PA-2001",
        CheckResult(outcome=Outcome.STATUS, category="P1", status_text="In process", evidence=[first, snapshot]),
        "run-1",
        NOW - dt.timedelta(days=2),
    )
    second = put(png(640, 400, (200, 120, 30)), "image/png", "PA-2001", "run-2")
    trace = trace_zip()
    trace_sha = put(trace, "application/zip", "PA-2001", "run-2", kind="trace")
    denied = ClaimDetail(
        payer_claim_number=CLAIM,
        status_text=f"Denied {XSS}",
        paid_cents=0,
        lines=[ServiceLine(line_no=1, procedure_code="99213", billed_cents=15000)],
        adjustments=[Adjustment(line_no=1, group_code="CO", carc="4", rarc="M20", amount_cents=15000)],
    )
    check(
        "PA-2001",
        CheckResult(
            outcome=Outcome.STATUS, category="F2", status_text=f"Denied {XSS}", detail=denied, evidence=[second]
        ),
        "run-2",
        NOW - dt.timedelta(days=1),
    )
    task = review.task_for_item(ids["PA-2001"])
    assert task is not None and task.category == "coding"
    task = review.decide(task.id, Actor("sup-ann", "supervisor"), Action.APPROVE, task.version, "modifier fixed")
    assert review.begin_apply(task.id, "run-apply") is not None
    confirmation = put(png(320, 200, (20, 160, 60)), "image/png", "PA-2001", "apply-local")
    review.finish_apply(task.id, reference="REF-9", error=None, evidence=[confirmation])

    altered = put(png(64, 40, (160, 30, 30)), "image/png", "PA-2002", "run-2")
    check(
        "PA-2002",
        CheckResult(outcome=Outcome.STATUS, category="P1", status_text="In process", evidence=[altered]),
        "run-2",
        NOW - dt.timedelta(days=1),
    )
    removed = put(png(64, 40, (90, 90, 90)), "image/png", "PA-2003", "run-2")
    check(
        "PA-2003",
        CheckResult(outcome=Outcome.STATUS, category="P1", status_text="In process", evidence=[removed]),
        "run-2",
        NOW - dt.timedelta(days=1),
    )
    seal(settings, worklist.engine, store)  # decisions ledgered, index caught up, checkpoint signed

    records = {r.sha256: r for r in store.records()}
    path = records[altered].stored.path
    assert path is not None
    (store.root / path).write_bytes(png(64, 40, (0, 0, 0)))
    listing = tombstone_content([records[removed].seq], dt.datetime.now(dt.UTC), evidence_signer(settings))
    store.put(
        listing,
        "application/json",
        item_id=0,
        portal="",
        page_url="",
        run_id="retention",
        flow_run_id=None,
        kind="tombstone",
    )  # what retention writes before it removes a file
    store.relocate(records[removed].seq, Stored(path=None))
    return Seeded(ids, [first, second], snapshot, trace, trace_sha, confirmation, altered, removed)


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Room]:
    root = tmp_path_factory.mktemp("audit-console")
    settings = Settings(
        project_root=ROOT,
        state_dir=root / "state",
        evidence_dir=root / "evidence",
        console={"port": 0, "page_size": PAGE_SIZE},
    )
    upgrade(settings.worklist_url)
    engine = open_engine(settings.worklist_url)
    app = console_app(settings, engine)
    app.state.accounts = AccountStore(engine, settings.console, hasher=CHEAP)
    store = evidence_store(settings)
    seeded = seed(settings, app.state.worklist, app.state.review, store)
    running = RunningConsole(app, "127.0.0.1", 0).start()
    yield Room(running.url, settings, app.state.accounts, store, seeded)
    running.stop()
    engine.dispose()


def page_token(html: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert found, "a console page carries its CSRF token"
    return found[1]


@contextmanager
def client_as(room: Room, role: Role, name: str | None = None) -> Iterator[tuple[httpx.Client, str]]:
    """A script signed in as user `name` (by default a new user of `role`), and the CSRF token of its pages."""
    with httpx.Client(base_url=room.url, headers={"accept": "text/html"}) as client:
        fields = {
            "username": name or room.user(role),
            "password": PASSWORD,
            "csrftoken": page_token(client.get("/login").text),
        }
        assert client.post("/login", data=fields).status_code == 303
        yield client, page_token(client.get("/review").text)


def raw_get(client: httpx.Client, path: str) -> tuple[int, str]:
    """GET `path` exactly as written, with the client's cookies (httpx resolves dot segments first)."""
    connection = http.client.HTTPConnection(client.base_url.host, client.base_url.port, timeout=10)
    try:
        cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
        connection.request("GET", path, headers={"Cookie": cookie, "Accept": "text/html"})
        answer = connection.getresponse()
        return answer.status, answer.read().decode(errors="replace")
    finally:
        connection.close()


def search(page: Page, **fields: str) -> None:
    labels = {
        "claim": "Payer claim number",
        "member": "Member ID",
        "account": "Account number",
        "captured_from": "Captured from",
        "captured_to": "Captured to",
        "run": "Run id",
    }
    for name, value in fields.items():
        page.get_by_label(labels[name]).fill(value)
    page.get_by_role("button", name="Search", exact=True).click()


def test_search_by_claim_number_and_member_id_finds_the_claim_and_keeps_them_out_of_the_url(
    page: Page, room: Room
) -> None:
    name = room.sign_in(page)
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Evidence")).to_be_visible()
    search(page, claim=CLAIM)
    expect(page).to_have_url(f"{room.url}/audit/search")
    rows = page.locator("table.audit-claims tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_contain_text("PA-2001")
    expect(rows.nth(0)).to_contain_text("decision")
    expect(page.get_by_label("Payer claim number")).to_have_value(CLAIM)
    page.get_by_label("Payer claim number").fill("")
    search(page, member=MEMBER.lower())
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_contain_text("PA-2001")
    assert CLAIM not in page.url and "77001" not in page.url
    page.get_by_label("Member ID").fill("")
    page.get_by_label("Denial category").select_option("coding")
    page.get_by_label("Payer", exact=True).fill("BSTM1")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(rows).to_have_count(1)
    logged = room.logged(name, "search_evidence")
    assert logged == [
        "evidence search by payer BSTM1, category coding: 1 claims found",
        "evidence search by member id: 1 claims found",
        "evidence search by claim number: 1 claims found",
    ]
    assert not any(CLAIM in what or "77001" in what for what in logged)


def test_a_search_by_capture_dates_lists_records_newest_first_a_page_at_a_time(page: Page, room: Room) -> None:
    name = room.sign_in(page)
    today = dt.datetime.now(dt.UTC).date()
    search(page, captured_from=(today - dt.timedelta(days=1)).isoformat(), captured_to=today.isoformat())
    rows = page.locator("table.audit-records tbody tr")
    expect(rows).to_have_count(PAGE_SIZE)
    first = [int(t.split()[0]) for t in rows.all_inner_texts()]
    assert first == sorted(first, reverse=True)
    page.get_by_role("button", name="Next page").click()
    expect(page).to_have_url(f"{room.url}/audit/search")
    expect(rows).to_have_count(PAGE_SIZE)
    second = [int(t.split()[0]) for t in rows.all_inner_texts()]
    assert max(second) < min(first)
    page.get_by_role("button", name="First page").click()
    expect(rows.nth(0)).to_contain_text(str(first[0]))
    search(page, captured_from=today.isoformat(), captured_to=(today - dt.timedelta(days=3)).isoformat())
    expect(page.get_by_role("alert")).to_contain_text("The last capture date is before the first.")
    assert room.logged(name, "search_evidence")[1].startswith("evidence search by capture dates, page before seq ")


def test_the_timeline_shows_checks_a_status_change_decisions_and_verified_files(page: Page, room: Room) -> None:
    seeded, item_id = room.seeded, room.seeded.ids["PA-2001"]
    name = room.sign_in(page, next_path=f"/audit/items/{item_id}")
    entries = page.locator("ol.audit-timeline > li.entry")
    kinds = [c.split()[1] for c in [entries.nth(i).get_attribute("class") or "" for i in range(entries.count())]]
    assert kinds == ["entry-check", "entry-check", "entry-decision", "entry-decision", "entry-applied"]
    checks = page.locator("li.entry-check")
    expect(checks.nth(0)).to_contain_text("run-1")
    expect(checks.nth(1)).to_contain_text(f"Status changed: P1 In process → F2 Denied {XSS}")
    expect(page.locator("li.entry img[src='x']")).to_have_count(0)  # portal text is text
    approve = page.locator("li.entry-decision").nth(1)
    expect(approve).to_contain_text("sup-ann")
    expect(approve).to_contain_text("modifier fixed")
    applied = page.locator("li.entry-applied")
    expect(applied).to_contain_text("REF-9")
    expect(applied.locator(f"a[href='/evidence/{seeded.confirmation}'] img")).to_be_visible()
    for sha in seeded.shots:
        thumb = page.locator(f"a.viewer-link[href='/evidence/{sha}']")
        expect(thumb.locator("img")).to_be_visible()
        expect(thumb.locator("xpath=..").locator(".verify")).to_have_text("verified")
    expect(page.locator(".verify")).to_have_count(8)  # 3 screenshots, a snapshot, a trace, 3 decisions
    expect(page.locator(".verify:not([data-state='verified'])")).to_have_count(0)
    expect(checks.nth(0).get_by_role("link", name=f"Page snapshot {seeded.snapshot[:12]}")).to_have_attribute(
        "href", f"/evidence/{seeded.snapshot}"
    )
    with page.context.expect_page() as opened:
        checks.nth(0).get_by_role("link", name=f"Page snapshot {seeded.snapshot[:12]}").click()
    expect(opened.value.locator("p")).to_have_text("Claim detail")  # in its sandbox
    opened.value.close()
    with page.expect_download() as download:
        checks.nth(1).get_by_role("link", name=re.compile("Playwright trace")).click()
    assert Path(download.value.path()).read_bytes() == seeded.trace
    assert room.logged(name, "view_audit_item") == [f"item {item_id}, 8 evidence records"]
    assert room.logged(name, "download_trace") == [f"trace {seeded.trace_sha[:12]}"]
    viewed = room.logged(name, "view_evidence")
    assert f"evidence {seeded.shots[0][:12]}" in viewed and f"evidence {seeded.snapshot[:12]}" in viewed


def test_the_viewer_zooms_a_screenshot_and_without_script_it_is_a_plain_link(page: Page, room: Room) -> None:
    shot = room.seeded.shots[0]
    room.sign_in(page, next_path=f"/audit/items/{room.seeded.ids['PA-2001']}")
    page.wait_for_load_state()
    link = page.locator(f"a.viewer-link[href='/evidence/{shot}']")
    link.click()
    viewer = page.get_by_role("dialog", name="Screenshot viewer")
    expect(viewer).to_be_visible()
    image = page.locator("#viewer-image")
    expect(image).to_have_attribute("src", f"/evidence/{shot}")
    page.wait_for_function("document.getElementById('viewer-image').naturalWidth === 640")

    def width() -> float:
        return float(image.evaluate("img => img.getBoundingClientRect().width"))

    page.wait_for_function("document.getElementById('viewer-image').style.width !== ''")
    fitted = width()
    page.keyboard.press("+")
    assert width() == pytest.approx(fitted * 1.25, abs=2)
    viewer.get_by_role("button", name="Zoom in").click()
    assert width() == pytest.approx(fitted * 1.25 * 1.25, abs=3)
    page.keyboard.press("-")
    viewer.get_by_role("button", name="Zoom out").click()
    assert width() == pytest.approx(fitted, abs=3)
    page.keyboard.press("+")
    page.keyboard.press("0")
    assert width() == pytest.approx(fitted, abs=1)
    expect(page.locator("#viewer-scale")).to_have_text(f"{round(fitted / 640 * 100)}%")
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    assert page.url.endswith(f"/audit/items/{room.seeded.ids['PA-2001']}")


def test_badges_say_altered_removed_by_retention_and_not_yet_signed(page: Page, room: Room) -> None:
    seeded = room.seeded
    late = room.store.put(
        png(48, 30, (secrets.randbelow(256), 10, 10)),
        "image/png",
        item_id=seeded.ids["PA-2003"],
        portal="bluestem",
        page_url="http://portal/",
        run_id="run-late",
        flow_run_id=None,
    )
    EvidenceIndex(open_engine(room.settings.worklist_url), room.store).sync()
    room.sign_in(page, next_path=f"/audit/items/{seeded.ids['PA-2002']}")
    altered = page.locator("li.file", has_text=f"Screenshot {seeded.altered[:12]}")
    expect(altered.locator(".verify")).to_have_text("altered")
    expect(altered).to_contain_text("no longer matches its hash")
    expect(altered.locator("a")).to_have_count(0)  # not linked: the evidence route refuses it too
    page.goto(f"{room.url}/audit/items/{seeded.ids['PA-2003']}")
    removed = page.locator("li.file", has_text=f"Screenshot {seeded.removed[:12]}")
    expect(removed.locator(".verify")).to_have_text("removed by retention")
    fresh = page.locator("li.file", has=page.locator(f"a[href='/evidence/{late.sha256}']"))
    expect(fresh.locator(".verify")).to_have_text("not yet signed")
    expect(fresh).to_contain_text("captured after the latest checkpoint")


def test_export_downloads_the_claims_audit_package(page: Page, room: Room) -> None:
    item_id = room.seeded.ids["PA-2001"]
    name = room.sign_in(page, next_path=f"/audit/items/{item_id}")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export audit package").click()
    assert download.value.suggested_filename == f"audit-package-item-{item_id}.zip"
    with zipfile.ZipFile(download.value.path()) as package:
        names = package.namelist()
        records = [json.loads(line) for line in package.read("records.jsonl").splitlines()]
    assert {"checkpoint.json", "records.jsonl", "proofs.jsonl", "SHA256SUMS"} <= set(names)
    assert len(records) == 8 and {r["item_id"] for r in records} == {item_id}
    assert f"evidence/{records[0]['seq']}-{room.seeded.shots[0]}.png" in names
    assert room.logged(name, "export_evidence") == [f"item {item_id}, 8 records"]


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.CODER])
def test_other_roles_are_refused_every_audit_route_even_by_hand(room: Room, role: Role) -> None:
    item_id = room.seeded.ids["PA-2001"]
    with client_as(room, role) as (client, token):
        assert 'href="/audit"' not in client.get("/review").text
        for path in ("/audit", f"/audit/items/{item_id}", f"/audit/traces/{room.seeded.trace_sha}"):
            assert client.get(path).status_code == 403, path
        headers = {"x-csrf-token": token}
        posted = {"claim": CLAIM, "csrftoken": token}
        assert client.post("/audit/search", data=posted, headers=headers).status_code == 403
        answer = client.post(f"/audit/items/{item_id}/export", data={"csrftoken": token}, headers=headers)
        assert answer.status_code == 403 and "zip" not in answer.headers.get("content-type", "")


def test_forged_evidence_names_and_a_search_without_its_token_are_refused(room: Room) -> None:
    unknown = secrets.token_hex(32)
    with client_as(room, Role.AUDITOR) as (client, token):
        for path in (
            "/evidence/../../etc/passwd",
            "/evidence/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
            "/evidence/%2e%2e",
            f"/evidence/{unknown}",
            f"/evidence/{unknown.upper()}",
            f"/audit/traces/{unknown}",
            "/audit/traces/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
            f"/audit/traces/{room.seeded.shots[0]}",  # a screenshot is not a trace
            "/audit/items/999999",
        ):
            status, body = raw_get(client, path)
            assert status == 404, path
            assert "root:" not in body
        assert raw_get(client, f"/evidence/{room.seeded.shots[0]}")[0] == 200  # the same way, a real name
        assert client.get("/audit/items/0").status_code == 422
        assert client.post("/audit/search", data={"claim": CLAIM}).status_code == 403  # no CSRF token
        ok = client.post("/audit/search", data={"claim": CLAIM, "csrftoken": token}, headers={"x-csrf-token": token})
        assert ok.status_code == 200
        assert client.get("/access-log", params={"action": "search_evidence"}).status_code == 200


def post_search(client: httpx.Client, token: str, **fields: str) -> httpx.Response:
    return client.post("/audit/search", data={**fields, "csrftoken": token}, headers={"x-csrf-token": token})


@pytest.mark.parametrize(
    ("field", "day", "problem"),
    [
        (
            "captured_to",
            "9999-12-31",
            "The last capture date is out of range: give a day from 1970-01-01 to 9998-12-31.",
        ),
        (
            "captured_from",
            "0001-01-01",
            "The first capture date is out of range: give a day from 1970-01-01 to 9998-12-31.",
        ),
    ],
)
def test_a_capture_date_out_of_range_is_a_form_error_naming_the_field(
    room: Room, field: str, day: str, problem: str
) -> None:
    with client_as(room, Role.AUDITOR) as (client, token):
        answer = post_search(client, token, **{field: day})
        assert answer.status_code == 400
        assert f'<div class="flash flash-error" role="alert">{problem}</div>' in answer.text
        assert f'name="{field}" type="date" value="{day}"' in answer.text  # as typed, to be corrected


def test_the_access_log_names_only_known_codes_never_what_was_typed(room: Room) -> None:
    typed = "MBR-77001"  # a member ID typed into the wrong field
    name = room.user(Role.AUDITOR)
    with client_as(room, Role.AUDITOR, name) as (client, token):
        for fields in (
            {"category": typed},
            {"payer": typed},
            {"portal": typed},
            {"payer": "BSTM1", "category": "coding", "portal": "bluestem"},
            {"payer": "bstm1", "portal": "Bluestem"},
        ):
            assert post_search(client, token, **fields).status_code == 200
    logged = room.logged(name, "search_evidence")[::-1]
    assert logged == [
        "evidence search by category: 0 claims found",
        "evidence search by payer: 0 claims found",
        "evidence search by portal: 0 records found",
        "evidence search by payer BSTM1, category coding, portal bluestem: 1 claims found",
        "evidence search by payer, portal: 0 claims found",
    ]
    everything = [e.what for e in room.accounts.access_log(500, username=name)]
    assert not any("77001" in what or "bstm1" in what for what in everything)


def test_a_refused_export_says_so_plainly_and_logs_the_detail(room: Room) -> None:
    seeded = room.seeded
    with client_as(room, Role.AUDITOR) as (client, token), capture_logs() as logs:
        removed = client.post(  # its file removed by retention, proven by a signed tombstone: exported
            f"/audit/items/{seeded.ids['PA-2003']}/export", data={"csrftoken": token}, headers={"x-csrf-token": token}
        )
        assert removed.status_code == 200 and "zip" in removed.headers["content-type"]
        for account in ("PA-2002",):  # a file altered
            answer = client.post(
                f"/audit/items/{seeded.ids[account]}/export", data={"csrftoken": token}, headers={"x-csrf-token": token}
            )
            assert answer.status_code == 409 and "zip" not in answer.headers.get("content-type", "")
            assert "No audit package was made: evidence of this claim was changed or removed" in answer.text
            assert str(room.store.root) not in answer.text and "objects/" not in answer.text
            assert str(room.settings.state_path) not in answer.text
    refused = [e for e in logs if e["event"] == "audit_package_refused"]
    assert [(e["log_level"], e["item_id"]) for e in refused] == [("warning", seeded.ids["PA-2002"])]
    assert "altered" in refused[0]["problem"]
    assert not any(MEMBER in str(e) or "Avery" in str(e) for e in refused)


def test_a_claim_without_evidence_has_nothing_to_export(page: Page, room: Room) -> None:
    item_id = room.seeded.ids["PA-2004"]
    room.sign_in(page, next_path=f"/audit/items/{item_id}")
    expect(page.get_by_role("button", name="Export audit package")).to_have_count(0)
    expect(page.locator(".audit-head")).to_contain_text("No evidence records: nothing to export.")
    with client_as(room, Role.AUDITOR) as (client, token):
        answer = client.post(
            f"/audit/items/{item_id}/export", data={"csrftoken": token}, headers={"x-csrf-token": token}
        )
    assert answer.status_code == 409 and "zip" not in answer.headers.get("content-type", "")
    assert "this claim has no evidence records, so there is nothing to export" in answer.text


def test_a_search_finds_the_records_of_a_run_in_progress(room: Room) -> None:
    run_id = f"run-live-{secrets.token_hex(4)}"
    room.store.put(
        png(16, 16, (secrets.randbelow(256), 200, 10)),
        "image/png",
        item_id=room.seeded.ids["PA-2003"],
        portal="bluestem",
        page_url="http://portal/",
        run_id=run_id,
        flow_run_id=None,
    )  # not indexed: the run has not ended
    with client_as(room, Role.AUDITOR) as (client, token):
        answer = post_search(client, token, run=run_id)
    assert answer.status_code == 200
    assert answer.text.count(f"<code>{run_id}</code>") == 1
