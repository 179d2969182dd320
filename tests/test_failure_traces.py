"""Evidence of failures: a check that ends in an error keeps the Playwright trace of its portal
session beside its screenshot and HTML snapshot, and no trace ever holds a sign-in. Swept in real
Chromium over a TOTP portal (Bluestem) and a mailed-code portal (Harbor), each with a session that
expires mid-run so the bot signs in again while tracing; then every file of every trace is
searched for the password, every one-time code and token of the run, and every session cookie."""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar
from urllib.parse import quote, quote_plus, urlsplit

import httpx
import pyotp
import pytest
from sqlalchemy import text
from structlog.testing import capture_logs

from bots.browser import TRACE_MEDIA_TYPE, FailureTracer, PortalPage, scrub_trace
from bots.claimstatus import BatchInquiryBot, ClaimStatusBot
from bots.core import CheckResult, ClaimDetail, ItemRef
from bots.core.settings import Settings
from bots.sim.dataset import Dataset, build_dataset
from bots.sim.fleet import Fleet
from bots.sweep.runner import Sweep, SweepDeps
from tests.conftest import CLAIMS, SEED, Portal, run_async, run_sweep, seed_worklist
from tests.test_sweep import pick


class Trouble:
    """What the bots below fail on: the screens of these accounts' claims do not read, and the
    first time one does not, `then` runs (the portal's session expires between two tries, say)."""

    accounts: ClassVar[set[str]] = set()
    then: ClassVar[Callable[[], object] | None] = None

    @classmethod
    async def check(cls, accounts: list[str], what: str) -> None:
        if cls.accounts.isdisjoint(accounts):
            return
        then, cls.then = cls.then, None
        if then is not None:
            await asyncio.to_thread(then)
        raise ValueError(f"{what} do not read")


class UnreadableDetailBot(ClaimStatusBot):
    """Bluestem as built, except for the claims in Trouble."""

    item: ItemRef | None = None

    async def search(self, pp: PortalPage, item: ItemRef) -> str:
        self.item = item
        return await super().search(pp, item)

    async def read_detail(self, pp: PortalPage) -> ClaimDetail:
        detail = await super().read_detail(pp)
        await Trouble.check([self.item.account_number] if self.item else [], "the claim's details")
        return detail


class UnreadableAnswersBot(BatchInquiryBot):
    """Harbor as built, except for the inquiries of claims in Trouble."""

    async def read_answers(self, pp: PortalPage, items: list[ItemRef]) -> list[CheckResult]:
        await Trouble.check([item.account_number for item in items], "the inquiry's answers")
        return await super().read_answers(pp, items)


def sweep_with(
    settings: Settings, urls: dict[str, str], rows: list[Any], bots: dict[str, type], concurrency: int, step: Any
) -> tuple[Sweep, Any]:
    """Sweep `rows` with the given bot classes in place of the registry's."""
    seed_worklist(settings, rows)
    sweep = Sweep(SweepDeps.load(settings), base_urls=urls)
    items = sweep.due()
    sweep.preflight(items)
    sweep.bots.update(bots)
    return sweep, run_sweep(sweep, items, concurrency, step)


def expire_before(server: Any, nth: int, done: list[int]) -> Any:
    """A sweep step that moves the portal's clock past its session timeout before the `nth` check."""

    async def step(sweep: Sweep, bot: Any, batch: list[ItemRef]) -> Any:
        done.append(batch[0].id)
        if len(done) == nth:
            await asyncio.to_thread(server.advance_clock, 61)
        return await sweep.check_and_record(bot, batch)

    return step


def traces(sweep: Sweep) -> dict[str, bytes]:
    """Every trace the evidence store holds, by content hash."""
    return {
        r.sha256: (sweep.evidence.root / r.path).read_bytes()
        for r in sweep.evidence.records()
        if r.kind == "trace" and r.path
    }


def failed_evidence(sweep: Sweep, account: str) -> list[tuple[str, str]]:
    """(kind, media type) of each evidence file of the failed item's history row."""
    item = next(i for i in sweep.store.items() if i.account_number == account)
    row = sweep.store.history(item.id)[-1]
    assert row.outcome == "error", row
    records = {r.sha256: r for r in sweep.evidence.records()}
    return sorted((records[h].kind, records[h].media_type) for h in json.loads(row.evidence))


def session_tokens(server: Any) -> list[str]:
    """The session cookies the portal handed out since its reset."""
    with server.app.state.store.session() as s:
        return list(s.scalars(text("SELECT token FROM sessions")))


def mailed_codes(server: Any, token: str) -> set[str]:
    """The sign-in codes in the bot's mailbox, read as the bot reads them."""
    page = httpx.get(f"{server.url}/mailbox", headers={"Authorization": f"Bearer {token}"})
    page.raise_for_status()
    return set(re.findall(r'data-field="code">([^<]+)<', page.text))


def totp_codes(secret: str, began: float) -> set[str]:
    """Every code the TOTP secret gave from a window before `began` to a window after now."""
    totp = pyotp.TOTP(secret)
    return {totp.at(t) for t in range(int(began) - 30, int(time.time()) + 60, 15)}


def assert_nothing_secret(zips: dict[str, bytes], secrets: set[str], sign_in: set[str]) -> None:
    """No file of any trace holds a secret (as written, URL-encoded, alone where it is a number),
    no request of any trace went to a sign-in path, and no cookie or authorization value is left."""
    patterns = []
    for secret in secrets:
        forms = {secret, quote(secret, safe=""), quote_plus(secret)}
        alternatives = b"|".join(re.escape(form.encode()) for form in forms)
        # A code is digits: alone, not part of a longer number, a time or a claim number.
        patterns.append(
            re.compile(rb"(?<![\w.])(?:" + alternatives + rb")(?![\w.])" if secret.isdigit() else alternatives)
        )
    for sha, data in zips.items():
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for name in z.namelist():
                content = z.read(name)
                for pattern in patterns:
                    hit = pattern.search(content)
                    before = content[max(0, hit.start() - 160) : hit.start()] if hit else b""
                    assert not hit, f"trace {sha[:12]}: {name} holds a secret after {before!r}"
                if not name.endswith((".trace", ".network")):
                    continue
                for line in content.splitlines():
                    event = json.loads(line)
                    if event.get("type") != "resource-snapshot":
                        continue
                    entry = event["snapshot"]
                    path = urlsplit(entry["request"]["url"]).path
                    assert path not in sign_in, f"trace {sha[:12]}: a request to the sign-in page {path}"
                    for part in (entry["request"], entry["response"]):
                        for header in part["headers"]:
                            if header["name"].lower() in ("cookie", "set-cookie", "authorization"):
                                assert header["value"] == "", f"trace {sha[:12]}: {header['name']} kept"
                        assert all(c["value"] == "" for c in part.get("cookies", []))


def assert_a_trace_of(data: bytes, needle: str) -> None:
    """`data` is a trace zip Playwright's viewer reads, and its actions include `needle`."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
        names = z.namelist()
        assert "trace.trace" in names and "trace.network" in names
        events = [json.loads(line) for line in z.read("trace.trace").splitlines()]
    assert events[0]["type"] == "context-options"
    assert any(needle in json.dumps(e.get("params", {})) for e in events if e.get("type") == "before")


# -- sweeps in real Chromium ----------------------------------------------------------------------
@pytest.mark.slow
def test_a_failed_check_keeps_a_trace_and_no_trace_holds_a_totp_sign_in(
    settings, make_portal, dataset: Dataset, monkeypatch
) -> None:
    short = make_portal(session_idle_s=60)
    for name, value in short.env().items():
        monkeypatch.setenv(name, value)
    rows = [r for r in pick(dataset, 1) if r.kind not in ("not_found", "ambiguous")][:5]
    bad = next(r for r in rows if r.payer_claim_number)  # searched by number: the number shows in the trace
    rows = [r for r in rows if r is not bad] + [bad]  # checked last, after the second sign-in
    monkeypatch.setattr(Trouble, "accounts", {bad.account_number})
    monkeypatch.setattr(Trouble, "then", lambda: short.server.advance_clock(61))  # signs in again between tries
    began, done = time.time(), []
    with capture_logs() as logs:
        sweep, summary = sweep_with(
            settings,
            {"bluestem": short.url},
            rows,
            {"bluestem": UnreadableDetailBot},
            concurrency=2,
            step=expire_before(short.server, 3, done),  # and before the third claim
        )
    assert summary.errors == 1 and summary.checked == len(rows) - 1 and summary.by_failure == {"unreadable": 1}
    assert sum(e["event"] == "logged in" for e in logs) == 3
    assert failed_evidence(sweep, bad.account_number) == [
        ("evidence", "image/png"),
        ("evidence", "text/html"),
        ("trace", TRACE_MEDIA_TYPE),
    ]
    zips = traces(sweep)
    assert len(zips) == 1  # only the failure kept one
    assert_a_trace_of(next(iter(zips.values())), bad.payer_claim_number)
    secrets = {short.password, short.totp_secret, *totp_codes(short.totp_secret, began)}
    assert_nothing_secret(zips, secrets | set(session_tokens(short.server)), {"/", "/login", "/mfa", "/terms"})


def test_a_failed_inquiry_keeps_a_trace_and_no_trace_holds_a_mailed_code(settings, fleet: Fleet, monkeypatch) -> None:
    fleet.reset(session_idle_s=60)
    for name, value in fleet.env.items():
        monkeypatch.setenv(name, value)
    settings.sweep.mailbox_wait_s, settings.sweep.mailbox_poll_s = 10, 0.2
    rows = [pick(build_dataset(SEED, CLAIMS, payer), 1, kind="paid")[0] for payer in ("MDWST", "PRAIR")]
    harbor = fleet.servers["harbor"]
    monkeypatch.setattr(Trouble, "accounts", {rows[1].account_number})  # its session expires before it
    with capture_logs() as logs:
        sweep, summary = sweep_with(
            settings, fleet.urls, rows, {"harbor": UnreadableAnswersBot}, 1, expire_before(harbor, 2, [])
        )
    assert summary.errors == 1 and summary.by_portal == {"harbor": 1} and summary.by_failure == {"unreadable": 1}
    assert sum(e["event"] == "logged in" for e in logs) == 2  # two mailed codes
    assert failed_evidence(sweep, rows[1].account_number) == [
        ("evidence", "image/png"),
        ("evidence", "text/html"),
        ("trace", TRACE_MEDIA_TYPE),
    ]
    zips = traces(sweep)
    assert len(zips) == 1
    assert_a_trace_of(next(iter(zips.values())), rows[1].payer_claim_number or rows[1].member_id)
    env = fleet.env
    codes = mailed_codes(harbor, env["RCMBOT_HARBOR_MAILBOX_TOKEN"])
    assert len(codes) == 2
    secrets = {env["RCMBOT_HARBOR_PASSWORD"], env["RCMBOT_HARBOR_MAILBOX_TOKEN"], *codes}
    assert_nothing_secret(zips, secrets | set(session_tokens(harbor)), {"/login", "/verify", "/terms", "/mailbox"})


def test_no_trace_is_kept_when_tracing_failures_is_off(settings, portal: Portal, dataset: Dataset) -> None:
    """Off, a failure keeps its screenshot and snapshot only: here a portal that answers every try
    of the second claim with its "service unavailable" page (an error without a screen it could
    not read: the page as it was is kept)."""
    settings.evidence.trace_failures = False
    rows = pick(dataset, 1, kind="paid") + pick(dataset, 1, kind="pending")
    done: list[int] = []

    async def unavailable_for_the_second(sweep: Sweep, bot: Any, batch: list[ItemRef]) -> Any:
        done.append(batch[0].id)
        if len(done) == 2:
            await asyncio.to_thread(portal.server.faults, fail_next=settings.sweep.retry_attempts)
        return await sweep.check_and_record(bot, batch)

    sweep, summary = sweep_with(settings, {"bluestem": portal.url}, rows, {}, 1, unavailable_for_the_second)
    assert summary.errors == 1
    assert failed_evidence(sweep, rows[1].account_number) == [("evidence", "image/png"), ("evidence", "text/html")]
    html = next(r for r in sweep.evidence.records() if r.media_type == "text/html" and r.item_id == done[1])
    assert "Service temporarily unavailable" in (sweep.evidence.root / html.path).read_text()
    assert traces(sweep) == {}


# -- the tracer and the scrubbing on their own ----------------------------------------------------
class FakeTracing:
    """Playwright's context.tracing, as far as FailureTracer uses it."""

    def __init__(self) -> None:
        self.on, self.calls = False, []

    async def start(self, **options: Any) -> None:
        assert not self.on, "tracing started twice"
        self.on = True
        self.calls.append("start")

    async def stop(self, path: Path | None = None) -> None:
        assert self.on, "tracing stopped while not started"
        self.on = False
        self.calls.append("keep" if path else "discard")
        if path:
            with zipfile.ZipFile(path, "w") as z:
                z.writestr("trace.trace", b'{"type":"context-options"}\n{"type":"before","method":"goto"}\n')
                z.writestr("trace.network", f'{{"n":{len(self.calls)}}}\n')


def fake_tracer(**options: Any) -> tuple[FailureTracer, FakeTracing]:
    tracing = FakeTracing()
    return FailureTracer(SimpleNamespace(tracing=tracing), **options), tracing  # type: ignore[arg-type]


def test_the_tracer_records_checks_in_trouble_and_never_a_sign_in() -> None:
    async def scenario() -> None:
        tracer, tracing = fake_tracer()
        async with tracer.untraced():
            pass
        assert tracing.calls == []  # every check works: nothing recorded
        began = time.monotonic()
        await tracer.hold()  # a check's try failed: recording, for it and its neighbours
        await tracer.hold()
        assert tracing.calls == ["start"]
        async with tracer.untraced():  # a sign-in between its tries is not recorded
            assert not tracing.on
            assert await tracer.keep(began) == []  # nor a neighbour's failure meanwhile
        assert tracing.calls == ["start", "discard", "start"]
        await tracer.checked(100)  # rotation: thrown away, and recording again for the holders
        assert tracing.calls[-2:] == ["discard", "start"]
        first = await tracer.keep(began, release=True)  # failed for good: its trace
        assert len(first) == 1 and tracing.on  # the other check is still in trouble
        both = await tracer.keep(began, release=True)  # begun before the first was kept: gets it too
        assert both[0] == first[0] and len(both) == 2 and not tracing.on
        await tracer.hold()
        assert len(await tracer.keep(time.monotonic(), release=True)) == 1  # begun after: its own only
        await tracer.hold()
        await tracer.release()  # in trouble, then worked: thrown away
        assert tracing.calls[-2:] == ["start", "discard"] and not tracing.on
        await tracer.close()

    run_async(scenario(), 30)


def test_a_continuous_tracer_rolls_from_the_first_sign_in() -> None:
    async def scenario() -> None:
        tracer, tracing = fake_tracer(continuous=True, rotate_claims=3, rotate_s=3600)
        assert await tracer.keep(time.monotonic()) == []  # nothing recorded before the first sign-in
        async with tracer.untraced():
            assert not tracing.on
        assert tracing.calls == ["start"]
        await tracer.checked(2)
        await tracer.hold()  # a claim is being retried: its earlier tries stay
        await tracer.checked(1)
        assert tracing.calls == ["start"]
        await tracer.release()
        await tracer.checked(1)
        assert tracing.calls == ["start", "discard", "start"]
        await tracer.hold()
        await tracer.checked(12)  # four times the claims: rotated, held or not
        assert tracing.calls[-2:] == ["discard", "start"]
        assert len(await tracer.keep(time.monotonic(), release=True)) == 1 and tracing.on
        async with tracer.untraced():
            assert not tracing.on
        assert tracing.on
        await tracer.close()
        assert not tracing.on
        async with tracer.untraced():
            pass
        assert not tracing.on  # closed for good

    run_async(scenario(), 30)


def network_line(url: str, body: str, method: str = "GET", post: dict[str, Any] | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {
        "method": method,
        "url": url,
        "cookies": [{"name": "bs_session", "value": "SESSION-TOKEN"}],
        "headers": [{"name": "Cookie", "value": "bs_session=SESSION-TOKEN"}, {"name": "Accept", "value": "*/*"}],
    }
    if post is not None:
        request["postData"] = post
    return {
        "type": "resource-snapshot",
        "snapshot": {
            "request": request,
            "response": {
                "status": 200,
                "cookies": [{"name": "bs_session", "value": "SESSION-TOKEN", "path": "/"}],
                "headers": [{"name": "set-cookie", "value": "bs_session=SESSION-TOKEN; HttpOnly"}],
                "content": {"size": 5, "mimeType": "text/html", "_file": body},
            },
        },
    }


def test_scrubbing_blanks_credentials_and_keeps_the_trace_as_it_was() -> None:
    login_post = {
        "mimeType": "application/x-www-form-urlencoded",
        "text": "",
        "params": [{"name": "username", "value": "bot"}, {"name": "password", "value": "PASS-WORD"}],
        "_file": "resources/body.dat",
    }
    trace_lines = [
        {"type": "context-options", "options": {"baseURL": None}},
        {
            "type": "before",
            "method": "setExtraHTTPHeaders",
            "params": {"headers": [{"name": "Authorization", "value": "Bearer MAILBOX-TOKEN"}]},
        },
        {"type": "before", "method": "goto", "params": {"url": "http://portal/search?claim=1"}},
    ]
    network_lines = [
        network_line("http://portal/search?claim=1", "resources/page.html"),
        network_line("http://portal/login", "resources/signed-in.html", "POST", login_post),
    ]

    def jsonl(events: list[dict[str, Any]]) -> bytes:
        return b"\n".join(json.dumps(e, separators=(",", ":")).encode() for e in events) + b"\n"

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("trace.trace", jsonl(trace_lines))
        z.writestr("trace.network", jsonl(network_lines))
        z.writestr("resources/body.dat", b"username=bot&password=PASS-WORD")
        z.writestr("resources/page.html", b"<p>claim 1</p>")
        z.writestr("resources/signed-in.html", b"<p>Welcome</p>")
        z.writestr("screencast/frame.jpeg", b"\xff\xd8 not really a jpeg")
    original = buf.getvalue()

    scrubbed = scrub_trace(original, {"/login"})
    with zipfile.ZipFile(io.BytesIO(original)) as before, zipfile.ZipFile(io.BytesIO(scrubbed)) as after:
        assert after.testzip() is None
        assert after.namelist() == before.namelist()
        assert [i.compress_type for i in after.infolist()] == [i.compress_type for i in before.infolist()]
        everything = b"".join(after.read(n) for n in after.namelist())
        for secret in (b"PASS-WORD", b"MAILBOX-TOKEN", b"SESSION-TOKEN"):
            assert secret not in everything
        assert after.read("resources/body.dat") == b""  # the sign-in's body and answer, emptied
        assert after.read("resources/signed-in.html") == b""
        for name in ("resources/page.html", "screencast/frame.jpeg"):
            assert after.read(name) == before.read(name)
        trace = after.read("trace.trace").splitlines()
        assert trace[0] == before.read("trace.trace").splitlines()[0]  # untouched lines stay byte for byte
        assert json.loads(trace[1])["params"]["headers"] == [{"name": "Authorization", "value": ""}]
        search, login = (json.loads(line)["snapshot"] for line in after.read("trace.network").splitlines())
    # Structure kept, values blanked: the viewer still lists every request and header.
    assert search["request"]["headers"] == [{"name": "Cookie", "value": ""}, {"name": "Accept", "value": "*/*"}]
    assert search["response"]["headers"] == [{"name": "set-cookie", "value": ""}]
    assert search["request"]["cookies"] == [{"name": "bs_session", "value": ""}]
    assert search["response"]["content"]["_file"] == "resources/page.html"  # not a sign-in page: kept
    assert login["request"]["postData"]["params"] == [
        {"name": "username", "value": ""},
        {"name": "password", "value": ""},
    ]
    assert login["request"]["postData"]["_file"] == "resources/body.dat"


def test_a_trace_that_cannot_be_scrubbed_is_refused() -> None:
    with pytest.raises(zipfile.BadZipFile):
        scrub_trace(b"not a zip")


def test_a_trace_without_a_single_step_is_not_kept_as_evidence() -> None:
    from bots.browser.tracing import shows_a_step

    def trace(*lines: bytes) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            z.writestr("trace.trace", b"\n".join(lines))
            z.writestr("trace.network", b"")
        return out.getvalue()

    assert not shows_a_step(trace(b'{"type":"context-options"}'))  # begun after a failed sign-in, say
    assert shows_a_step(trace(b'{"type":"context-options"}', b'{"type": "before", "method": "click"}'))
