"""Faults on demand in the simulated portals (bots.sim.faults) and their witness log
(bots.sim.witness): each fault as the portal answers it, through HTTP (and Chromium for the
single-page app), and what the witness records of sign-ins and claims asked, faulted or not."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pyotp
import pytest
from playwright.sync_api import Page, expect

from bots.core.settings import Settings, SimSettings
from bots.sim.dataset import build_dataset
from bots.sim.faults import PROFILES, TRANSIENT
from bots.sim.portal import PortalConfig
from bots.sim.server import PortalServer, registered_portal
from tests.conftest import CLAIMS, ROOT, SEED, Portal, SimPortals
from tests.test_sim_sagebrush import parse

T = TypeVar("T")
UNAVAILABLE = "Service temporarily unavailable"
BLUESTEM = build_dataset(SEED, CLAIMS).claims
JUNIPER = build_dataset(SEED, CLAIMS, "JNPR1").claims


# -- the session's portals, reset before and after each test ---------------------------------------
@pytest.fixture
def bluestem(sims: SimPortals) -> Iterator[Portal]:
    yield sims.portal("bluestem").reset(terms_accepted=True)
    sims.portal("bluestem").reset()  # lets go of anything a test left hung, drops its faults


@pytest.fixture
def juniper(sims: SimPortals) -> Iterator[Portal]:
    yield sims.portal("juniper").reset()
    sims.portal("juniper").reset()


@pytest.fixture
def harbor(sims: SimPortals) -> Iterator[Portal]:
    yield sims.portal("harbor").reset()
    sims.portal("harbor").reset()


@pytest.fixture
def sagebrush_portal(sims: SimPortals) -> Iterator[Portal]:
    yield sims.portal("sagebrush").reset()
    sims.portal("sagebrush").reset()


@contextlib.contextmanager
def signed_in(portal: Portal) -> Iterator[httpx.Client]:
    """An HTTP client through Bluestem's sign-in (password, TOTP; terms accepted by the reset)."""
    with httpx.Client(base_url=portal.url, timeout=10) as client:
        login = {"username": portal.username, "password": portal.password}
        assert client.post("/login", data=login).status_code == 303
        r = client.post("/mfa", data={"code": pyotp.TOTP(portal.totp_secret).now()})
        assert (r.status_code, r.headers["location"]) == (303, "/search")
        yield client


@contextlib.contextmanager
def juniper_client(portal: Portal) -> Iterator[httpx.Client]:
    """An HTTP client through Juniper's two sign-in steps."""
    with httpx.Client(base_url=portal.url, timeout=10) as client:
        client.post("/signin", data={"login_id": portal.username})
        assert client.post("/signin/password", data={"passwd": portal.password}).status_code == 303
        yield client


def only(portal: Portal, *kinds: str, rate: float = 1.0, **switches: object) -> dict[str, object]:
    """Fail page requests with these transient faults alone, at `rate`."""
    return portal.server.faults(profile="none", mix={kind: 1 for kind in kinds}, rate=rate, **switches)


def heading(response: httpx.Response) -> str:
    return parse(response).find_all("h1")[0].text


def wait_for(found: Callable[[], T], timeout: float = 10) -> T:
    """Poll until `found()` is truthy (what the server does after a client gave up)."""
    deadline = time.monotonic() + timeout
    while not (value := found()):
        assert time.monotonic() < deadline, "not seen in time"
        time.sleep(0.05)
    return value


# -- the profiles ----------------------------------------------------------------------------------
def test_every_named_profile_exists_and_every_transient_fault_is_in_one() -> None:
    wanted = {
        "none", "slow", "flaky", "outage", "maintenance", "rate_limited", "hung", "expiring_sessions",
        "mfa_reject_once", "credentials_refused", "wrong_mailbox_token", "drift", "missing_fields", "chaos",
    }  # fmt: skip
    assert wanted <= set(PROFILES)
    assert set(TRANSIENT) == {kind for p in PROFILES.values() for kind in p.mix}
    chaos = PROFILES["chaos"]
    assert chaos.rate is None and chaos.retry_after_s == 1 and chaos.jitter_ms > 0
    assert {"http_500", "http_502", "http_503", "rate_limited", "hung", "session_expired"} == set(chaos.mix)
    assert (PROFILES["outage"].rate, PROFILES["maintenance"].rate) == (1.0, 1.0)


# -- transient faults ------------------------------------------------------------------------------
@pytest.mark.parametrize(("fault", "status"), [("http_500", 500), ("http_502", 502), ("http_503", 503)])
def test_server_errors_are_the_portals_unavailable_page_and_witnessed(
    bluestem: Portal, fault: str, status: int
) -> None:
    claim = BLUESTEM[0]
    with signed_in(bluestem) as client:
        only(bluestem, fault)
        r = client.get(f"/claims/{claim.claim_key}")
        assert r.status_code == status and r.headers["cache-control"] == "no-store"
        assert heading(r) == UNAVAILABLE, "every selector map's page.unavailable must find it"
        assert "Retry-After" not in r.headers
        if fault == "http_500":
            assert re.search(r"reference E-[0-9A-F]{6}", r.text)
        assert client.get("/login").status_code == status, "sign-in pages fail in an outage too"
    (asked,) = bluestem.server.witness()["claims"]
    assert asked | {"at": None} == {
        "at": None,
        "username": bluestem.username,
        "kind": "detail",
        "request": f"GET /claims/{claim.claim_key}",
        "claim_number": claim.claim_number,
        "account_number": claim.account_number,
        "member_id": None,
        "dos_from": None,
        "dos_to": None,
        "claim_key": claim.claim_key,
        "payer_id": None,
        "status": status,
        "fault": fault,
    }


def test_too_many_requests_says_when_to_come_back(bluestem: Portal) -> None:
    bluestem.reset(retry_after_s=7)
    only(bluestem, "rate_limited")
    r = httpx.get(f"{bluestem.url}/login")
    assert (r.status_code, r.headers["retry-after"], heading(r)) == (429, "7", UNAVAILABLE)
    assert "wait 7 seconds" in r.text


def test_maintenance_is_a_notice_in_portal_time_with_retry_after(bluestem: Portal) -> None:
    bluestem.reset(faults="maintenance", maintenance_s=3600)
    r = httpx.get(f"{bluestem.url}/search")
    assert (r.status_code, r.headers["retry-after"], heading(r)) == (503, "3600", UNAVAILABLE)
    text = parse(r).one("p", class_="message").text
    assert "scheduled maintenance until" in text
    assert re.search(r"Portal time is now \d\d/\d\d/\d{4} \d\d:\d\d [AP]M C[DS]T", text), text


def test_outage_fails_every_page_but_not_static_files_or_test_hooks(bluestem: Portal) -> None:
    bluestem.server.faults(profile="outage")  # its own rate: every page, whatever RCMBOT_SIM__FAULT_RATE says
    assert {httpx.get(f"{bluestem.url}/login").status_code for _ in range(20)} == {503}
    for path in ("/static/portal.css", "/healthz"):
        assert httpx.get(bluestem.url + path).status_code == 200
    assert bluestem.server.stats()["pages"] == 20


def test_a_hung_response_outlasts_the_client_without_blocking_others(bluestem: Portal) -> None:
    bluestem.reset(terms_accepted=True, hang_s=30)
    claim = BLUESTEM[1]
    with signed_in(bluestem) as client:
        only(bluestem, "hung")
        hung: list[BaseException] = []

        def ask() -> None:
            try:
                client.get(f"/claims/{claim.claim_key}", timeout=1.0)
            except httpx.TimeoutException as exc:
                hung.append(exc)

        before = bluestem.server.stats()["pages"]
        asking = threading.Thread(target=ask)
        asking.start()
        wait_for(lambda: bluestem.server.stats()["pages"] > before)  # the hung request is being held
        bluestem.server.faults(profile="none")
        assert httpx.get(f"{bluestem.url}/login").status_code == 200, "other pages are answered meanwhile"
        asking.join()
    assert hung, "the client gave up first"
    # The portal lets go once its client has gone (not after hang_s) and witnesses a gateway timeout.
    asked = wait_for(lambda: bluestem.server.witness()["claims"])
    assert [(c["claim_key"], c["status"], c["fault"]) for c in asked] == [(claim.claim_key, 504, "hung")]


def test_a_hung_response_a_patient_client_waits_out_is_a_gateway_timeout(bluestem: Portal) -> None:
    bluestem.reset(hang_s=0.2)
    only(bluestem, "hung")
    r = httpx.get(f"{bluestem.url}/login", timeout=10)
    assert (r.status_code, heading(r)) == (504, UNAVAILABLE)


def test_an_ended_session_sends_the_caller_to_sign_in_as_idle_expiry_does(bluestem: Portal) -> None:
    claim = BLUESTEM[2]
    with signed_in(bluestem) as client:
        only(bluestem, "session_expired")
        r = client.get(f"/claims/{claim.claim_key}")
        assert (r.status_code, r.headers["location"]) == (303, "/login?expired=1")
        assert "Your session has expired" in client.get(r.headers["location"]).text, "no session: a page as usual"
        r = client.get(f"/claims/{claim.claim_key}")
        assert (r.status_code, r.headers["location"]) == (303, "/login"), "that session is gone"
    first, second = bluestem.server.witness()["claims"]
    assert (first["status"], first["fault"], first["username"]) == (303, "session_expired", bluestem.username)
    assert (second["status"], second["fault"], second["username"]) == (303, None, None)


def test_flaky_fails_about_its_rate_with_a_mix_of_faults(bluestem: Portal) -> None:
    bluestem.reset(faults="flaky", fault_rate=0.5, hang_s=0.05)
    statuses = Counter(httpx.get(f"{bluestem.url}/login").status_code for _ in range(80))
    failed = sum(n for status, n in statuses.items() if status != 200)
    assert 15 <= failed <= 65, statuses  # about half, loosely: not the exact draws
    assert len(set(statuses) - {200}) >= 3 and set(statuses) <= {200, 429, 500, 502, 503, 504}, statuses
    bluestem.server.faults(rate=0.0)
    assert {httpx.get(f"{bluestem.url}/login").status_code for _ in range(10)} == {200}


def test_chaos_at_full_rate_fails_pages_transiently(bluestem: Portal) -> None:
    bluestem.reset(faults="chaos", fault_rate=1.0, hang_s=0.05)
    with httpx.Client(base_url=bluestem.url) as client:
        answers = [client.get("/login") for _ in range(30)]
    statuses = Counter(r.status_code for r in answers)
    # An ended session needs a session: without one, that draw is answered as usual (200).
    assert set(statuses) <= {200, 429, 500, 502, 503, 504} and len(set(statuses) - {200}) >= 4, statuses
    assert statuses[200] < 15, statuses
    assert {r.headers["retry-after"] for r in answers if r.status_code == 429} == {"1"}, "a short Retry-After"


def test_the_same_seed_draws_the_same_faults(bluestem: Portal) -> None:
    def run() -> list[int]:
        bluestem.reset(faults="flaky", fault_rate=0.5, hang_s=0.05)
        return [httpx.get(f"{bluestem.url}/login").status_code for _ in range(15)]

    assert run() == run()


def test_slow_adds_latency_to_every_page(bluestem: Portal) -> None:
    shown = bluestem.server.faults(profile="slow", extra_latency_ms=300, jitter_ms=0)
    assert (shown["profile"], shown["extra_latency_ms"]) == ("slow", 300)
    started = time.monotonic()
    assert httpx.get(f"{bluestem.url}/login").status_code == 200
    assert time.monotonic() - started >= 0.3  # at least: asyncio.sleep never wakes early


# -- sign-in faults and the witness of sign-ins -----------------------------------------------------
def test_mfa_rejected_once_then_accepted_and_no_secret_witnessed(bluestem: Portal) -> None:
    bluestem.server.faults(profile="mfa_reject_once")
    code = pyotp.TOTP(bluestem.totp_secret).now()
    with httpx.Client(base_url=bluestem.url) as client:
        client.post("/login", data={"username": bluestem.username, "password": bluestem.password})
        r = client.post("/mfa", data={"code": code})
        assert r.status_code == 401 and "That verification code is not valid." in r.text
        assert client.post("/mfa", data={"code": code}).status_code == 303, "the same code, accepted now"
    witness = bluestem.server.witness()
    assert [(w["step"], w["result"], w["reason"], w["status"]) for w in witness["logins"]] == [
        ("password", "ok", None, 303),
        ("mfa", "refused", "code rejected once (fault)", 401),
        ("mfa", "ok", None, 303),
    ]
    assert {w["username"] for w in witness["logins"]} == {bluestem.username}
    kept = json.dumps(witness)
    assert bluestem.password not in kept and code not in kept


def test_credentials_refused_and_a_real_password_change(bluestem: Portal) -> None:
    bluestem.server.faults(profile="credentials_refused")
    login = {"username": bluestem.username, "password": bluestem.password}
    r = httpx.post(f"{bluestem.url}/login", data=login)
    assert r.status_code == 401 and "The user ID or password is incorrect." in r.text

    # A real change, on a user of this test's own (the session's bot user keeps its password).
    bluestem.server.faults(profile="none")
    bluestem.server.add_user("changing-user", "first-Secret-1", bluestem.totp_secret)
    client = httpx.Client(base_url=bluestem.url)
    client.post("/login", data={"username": "changing-user", "password": "first-Secret-1"})
    client.post("/mfa", data={"code": pyotp.TOTP(bluestem.totp_secret).now()})
    client.post("/terms", data={"agree": "yes"})  # a user added after the reset: not yet accepted today
    assert client.get("/search").status_code == 200
    bluestem.server.set_password("changing-user", "second-Secret-2")
    assert client.get("/search").headers["location"] == "/login", "a password change ends the user's sessions"
    assert client.post("/login", data={"username": "changing-user", "password": "first-Secret-1"}).status_code == 401
    assert client.post("/login", data={"username": "changing-user", "password": "second-Secret-2"}).status_code == 303
    with pytest.raises(KeyError):
        bluestem.server.set_password("nobody-here", "x")

    logins = bluestem.server.witness()["logins"]
    assert [(w["username"], w["step"], w["result"], w["reason"]) for w in logins] == [
        (bluestem.username, "password", "refused", "credentials refused (fault)"),
        ("changing-user", "password", "ok", None),
        ("changing-user", "mfa", "ok", None),
        ("changing-user", "password", "refused", "wrong password"),
        ("changing-user", "password", "ok", None),
    ]
    kept = json.dumps(logins)
    assert not any(secret in kept for secret in (bluestem.password, "first-Secret-1", "second-Secret-2"))


def test_a_faulted_sign_in_is_witnessed_as_not_judged(bluestem: Portal) -> None:
    only(bluestem, "http_502")
    httpx.post(f"{bluestem.url}/login", data={"username": bluestem.username, "password": bluestem.password})
    (login,) = bluestem.server.witness()["logins"]
    assert login | {"at": None} == {
        "at": None,
        "username": bluestem.username,
        "step": "password",
        "result": "error",
        "reason": "http_502",
        "status": 502,
        "fault": "http_502",
    }


HARBOR_USER, HARBOR_PASSWORD, HARBOR_TOKEN = "harbor-bot", "harbor-Secret-1", "mailbox-Token-1"


def harbor_password(portal: Portal) -> tuple[httpx.Client, str]:
    """Harbor's first sign-in step: a client at the code page, and the code its mailbox holds."""
    client = httpx.Client(base_url=portal.url, timeout=10)
    assert client.post("/login", data={"user": HARBOR_USER, "pass": HARBOR_PASSWORD}).status_code == 303
    reference = re.search(r'data-testid="mail-reference">(\w+)<', client.get("/verify").text)
    inbox = httpx.get(f"{portal.url}/mailbox", headers={"authorization": f"Bearer {HARBOR_TOKEN}"}).text
    assert reference
    code = re.search(rf'data-field="reference">{reference[1]}</b>.*?data-field="code">(\d+)<', inbox, re.S)
    assert code
    return client, code[1]


def test_the_mailbox_refuses_its_token_and_each_read_is_witnessed(harbor: Portal) -> None:
    harbor.server.add_user(HARBOR_USER, HARBOR_PASSWORD, None, HARBOR_TOKEN)
    bearer = {"authorization": f"Bearer {HARBOR_TOKEN}"}
    assert httpx.get(f"{harbor.url}/mailbox", headers=bearer).status_code == 200
    harbor.server.faults(profile="wrong_mailbox_token")
    r = httpx.get(f"{harbor.url}/mailbox", headers=bearer)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(f"{harbor.url}/mailbox", headers={"authorization": "Bearer nonsense"}).status_code == 401
    logins = harbor.server.witness()["logins"]
    assert [(w["username"], w["step"], w["result"], w["reason"], w["status"]) for w in logins] == [
        ("harbor-bot", "mailbox", "ok", None, 200),
        ("harbor-bot", "mailbox", "refused", "mailbox token refused (fault)", 401),
        (None, "mailbox", "refused", "unknown mailbox token", 401),
    ]
    assert HARBOR_TOKEN not in json.dumps(logins)


def test_a_mailed_code_rejected_once_and_batch_lines_witnessed(harbor: Portal) -> None:
    harbor.server.add_user(HARBOR_USER, HARBOR_PASSWORD, None, HARBOR_TOKEN)
    harbor.server.faults(profile="mfa_reject_once")
    client, code = harbor_password(harbor)
    assert client.post("/verify", data={"mailcode": code}).status_code == 401, "the right code, refused once"
    assert client.post("/verify", data={"mailcode": code}).status_code == 303
    lines = {"payer": "MDWST", "claim_number_1": "MW0001", "member_id_2": "M-22", "dos_from_2": "01/02/2026"}
    r = client.post("/inquiry", data=lines | {"dos_to_2": "01/09/2026"})
    assert r.status_code == 303
    only(harbor, "http_503")
    assert client.get(r.headers["location"]).status_code == 503
    witness = harbor.server.witness()
    steps = [(w["step"], w["result"]) for w in witness["logins"] if w["step"] != "mailbox"]
    assert steps == [("password", "ok"), ("mfa", "refused"), ("mfa", "ok")]
    assert code not in json.dumps(witness) and HARBOR_PASSWORD not in json.dumps(witness)
    asked = [
        (c["kind"], c["payer_id"], c["claim_number"], c["member_id"], c["dos_from"], c["status"])
        for c in witness["claims"]
    ]
    assert asked == [
        ("batch_line", "MDWST", "MW0001", None, None, 303),
        ("batch_line", "MDWST", None, "M-22", "01/02/2026", 303),
        ("batch_answer", "MDWST", "MW0001", None, None, 503),
        ("batch_answer", "MDWST", None, "M-22", "01/02/2026", 503),
    ]
    client.close()


# -- layout and content faults ------------------------------------------------------------------------
def test_drift_switches_the_layout_at_runtime_and_back(bluestem: Portal) -> None:
    def user_label() -> str:
        return parse(httpx.get(f"{bluestem.url}/login")).one("label", for_="username").text

    assert user_label() == "User ID"
    bluestem.server.faults(profile="drift")
    assert user_label() == "Username"
    bluestem.server.faults(profile="none")
    assert user_label() == "User ID"
    bluestem.server.faults(drift=True)
    bluestem.reset()
    assert user_label() == "User ID"


def detail_ids(response: httpx.Response) -> set[str]:
    return {dd.attrs["id"] for dd in parse(response).find_all("dd")}


def test_missing_fields_leave_some_of_the_status_fields_out_at_the_rate(bluestem: Portal) -> None:
    statusy = {"status-text", "status-date", "paid"}
    with signed_in(bluestem) as client:
        bluestem.server.faults(profile="missing_fields", rate=1.0)
        pages = [detail_ids(client.get(f"/claims/{c.claim_key}")) for c in BLUESTEM[:8]]
        bluestem.server.faults(rate=0.0)
        whole = detail_ids(client.get(f"/claims/{BLUESTEM[0].claim_key}"))
    assert statusy <= whole
    for shown in pages:
        assert whole - shown and whole - shown <= statusy, "some status fields absent, the rest all there"
    assert len({frozenset(whole - shown) for shown in pages}) > 1, "not always the same ones"
    faults = [c["fault"] for c in bluestem.server.witness()["claims"]]
    assert faults == ["missing_fields"] * 8 + [None]


# -- the single-page app: JSON faults, its unavailable screen, fields left out ------------------------
def test_juniper_api_faults_are_json_and_its_searches_witnessed_twice(juniper: Portal) -> None:
    claim = JUNIPER[0]
    with juniper_client(juniper) as client:
        assert client.get("/app/claims", params={"claim": claim.claim_number}).status_code == 200
        assert client.get("/api/claims", params={"claim": claim.claim_number}).json()["total"] >= 1
        only(juniper, "rate_limited", retry_after_s=2)
        r = client.get(f"/api/claims/{claim.claim_key}")
        assert (r.status_code, r.headers["retry-after"], r.json()["error"]) == (429, "2", UNAVAILABLE)
        only(juniper, "session_expired")
        r = client.get("/api/claims", params={"member": claim.member_id, "from": "2026-01-01", "to": "2026-12-31"})
        assert (r.status_code, r.json()) == (401, {"error": "session expired"})
    witness = juniper.server.witness()
    assert [(w["username"], w["step"], w["result"]) for w in witness["logins"]] == [
        (juniper.username, "password", "ok")
    ]
    asked = [
        (c["kind"], c["request"], c["claim_number"], c["member_id"], c["status"], c["fault"]) for c in witness["claims"]
    ]
    assert asked == [
        ("search", "GET /app/claims", claim.claim_number, None, 200, None),
        ("search", "GET /api/claims", claim.claim_number, None, 200, None),
        ("detail", f"GET /api/claims/{claim.claim_key}", claim.claim_number, None, 429, "rate_limited"),
        ("search", "GET /api/claims", None, claim.member_id, 401, "session_expired"),
    ]


def test_juniper_shows_its_unavailable_screen_and_leaves_missing_fields_out(page: Page, juniper: Portal) -> None:
    claim = JUNIPER[0]
    page.goto(juniper.url + "/signin")
    page.get_by_label("Username", exact=True).fill(juniper.username)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Password", exact=True).fill(juniper.password)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{juniper.url}/app/claims?claim={claim.claim_number}")
    row = page.locator(f"[role=row][data-key='{claim.claim_key}']")

    juniper.server.faults(profile="missing_fields", rate=1.0)
    row.get_by_role("button", name="View details").click()
    panel = page.get_by_role("region", name="Claim details")
    expect(panel.get_by_test_id("detail-claim-no")).to_have_text(claim.claim_number)
    counts = [panel.get_by_test_id(f"detail-{field}").count() for field in ("status", "status-date", "paid")]
    assert 0 in counts, "some of the three left out, not shown empty"

    juniper.server.faults(profile="outage")
    row.get_by_role("button", name="View details").click()
    expect(page.get_by_role("heading", name=UNAVAILABLE)).to_be_visible()


def test_sagebrush_lookups_and_claims_viewed_are_witnessed(sagebrush_portal: Portal) -> None:
    portal = sagebrush_portal
    claim = build_dataset(SEED, CLAIMS, "SGBR1").claims[0]
    with httpx.Client(base_url=portal.url) as client:
        client.post("/account/signin", data={"username": portal.username, "password": portal.password})
        r = client.get("/claims/lookup/results", params={"claim": f"SG-{claim.claim_number}"})
        assert r.headers["location"] == f"/claims/view/{claim.claim_key}"
        only(portal, "http_500")
        assert client.get(r.headers["location"]).status_code == 500
    asked = [(c["kind"], c["claim_number"], c["status"]) for c in portal.server.witness()["claims"]]
    assert asked == [("search", f"SG-{claim.claim_number}", 303), ("detail", claim.claim_number, 500)]


# -- settings, the admin hooks, reset -------------------------------------------------------------------
def test_the_profile_comes_from_the_settings_per_portal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RCMBOT_SIM__FAULTS", '{"juniper": "flaky"}')
    monkeypatch.setenv("RCMBOT_SIM__FAULT_RATE", "0.35")
    sim = Settings(project_root=ROOT, state_dir=tmp_path).sim
    juniper = PortalConfig.from_settings(sim, tmp_path / "j.db", kind="juniper")
    assert (juniper.faults, juniper.fault_rate) == ("flaky", 0.35)
    assert PortalConfig.from_settings(sim, tmp_path / "b.db", kind="bluestem").faults == "none"

    for name, value in {"USERNAME": "j-bot", "PASSWORD": "j-Secret-1"}.items():
        monkeypatch.setenv(f"RCMBOT_JUNIPER_{name}", value)
    cfg, _, _ = registered_portal(Settings(project_root=ROOT, state_dir=tmp_path), "juniper", "normal", None)
    assert cfg.faults == "flaky", "`rcmbot portal serve juniper` runs it flaky"


@pytest.mark.parametrize(("faults", "named"), [({"juniper": "flakey"}, "'flakey'"), ({"junipr": "flaky"}, "'junipr'")])
def test_an_unknown_profile_or_portal_in_the_settings_is_refused(tmp_path: Path, faults: dict, named: str) -> None:
    with pytest.raises(ValueError, match="RCMBOT_SIM__FAULTS") as refused:
        PortalConfig.from_settings(SimSettings(faults=faults), tmp_path / "p.db", kind="juniper")
    assert named in str(refused.value)
    if "flakey" in named:
        assert all(name in str(refused.value) for name in PROFILES), "the known names listed"


def test_the_admin_hooks_refuse_bad_changes_and_callers_without_the_token(bluestem: Portal) -> None:
    with pytest.raises(ValueError, match="unknown fault profile 'nope'"):
        bluestem.server.faults(profile="nope")
    with pytest.raises(ValueError, match="unknown faults sparkle"):
        bluestem.server.faults(sparkle=True)
    with pytest.raises(ValueError, match="unknown transient faults"):
        bluestem.server.faults(mix={"gremlins": 1})
    with pytest.raises(ValueError, match="unknown fault profile"):
        bluestem.reset(faults="nope")
    assert bluestem.server.faults()["profile"] == "none", "nothing changed"
    for path in ("/_sim/witness",):
        assert httpx.get(bluestem.url + path).status_code == 403
    r = httpx.post(f"{bluestem.url}/_sim/password", json={"username": bluestem.username, "password": "x"})
    assert r.status_code == 403


def test_reset_returns_to_the_starts_profile_and_clears_the_witness(tmp_path: Path) -> None:
    with PortalServer(PortalConfig(db_path=tmp_path / "p.db", seed=SEED, claims=10, faults="outage")) as server:
        login = {"username": "someone", "password": "pw"}
        assert httpx.post(f"{server.url}/login", data=login).status_code == 503
        assert server.faults(profile="none")["profile"] == "none"
        assert httpx.post(f"{server.url}/login", data=login).status_code == 401
        assert [w["result"] for w in server.witness()["logins"]] == ["error", "refused"]
        assert server.reset()["faults"] == "outage"
        assert server.witness() == {"logins": [], "claims": []}
        assert httpx.get(f"{server.url}/login").status_code == 503
