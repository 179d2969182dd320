"""Corrected-claim and reconsideration requests on every simulated payer portal (Bluestem, its
Cedar skin, Juniper's single-page app, Sagebrush), driven in Chromium as a person would: the form
from the navigation, its checks (422, the inputs kept), the confirmation with the portal's own
reference, the list of submitted requests, no deduplication (the admin route counts), escaping,
sign-in in front of every screen, and a reset that clears the requests."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pyotp
import pytest
from playwright.sync_api import Locator, Page, expect

from bots.sim.dataset import SimClaim, build_dataset
from tests.conftest import CLAIMS, SEED, Portal, SimPortals

FIELDS = ("kind", "claim_number", "line", "procedure_code", "modifiers", "reason", "your_reference")


# -- each portal's screens, as a selector map would name them -------------------------------------
def sign_in_bluestem(page: Page, portal: Portal, user_id: str, password: str, code: str) -> None:
    page.goto(portal.url + "/login")
    page.get_by_label(user_id, exact=True).fill(portal.username)
    page.get_by_label(password, exact=True).fill(portal.password)
    page.locator("form[action='/login'] [type=submit]").click()
    page.get_by_label(code, exact=True).fill(pyotp.TOTP(portal.totp_secret).now())
    page.locator("form[action='/mfa'] [type=submit]").click()


@dataclass(frozen=True)
class Skin:
    kind: str
    payer: str
    sign_in: Callable[[Page, Portal], None]
    signed_in_path: str  # where sign-in lands
    login_path: str
    nav: Callable[[Page], Locator]  # the navigation that links to the request screens
    nav_form: str
    nav_list: str
    form_path: str
    submit_path: str  # where the form is posted (Juniper's app posts JSON)
    list_path: str
    received_path: str  # + /{id}
    form_heading: str
    labels: dict[str, str]
    corrected_option: str
    submit: str
    received_heading: str
    reference: str  # CSS of the element holding the reference number
    reference_format: str  # a regular expression
    list_heading: str
    table: Callable[[Page], Locator]
    row: str  # CSS of a request's row in the table
    headers: list[str]
    submitted_format: str  # a regular expression: the portal's local time
    filter_label: str
    filter_button: str
    detail: Callable[[Page, str, SimClaim], None]  # open the claim's detail
    detail_link: str
    corrected_type: str = "Corrected claim"  # the list's Type of a corrected claim
    claim_prefix: str = ""


def bluestem_detail(page: Page, url: str, claim: SimClaim) -> None:
    page.goto(f"{url}/claims/{claim.claim_key}")


def juniper_detail(page: Page, url: str, claim: SimClaim) -> None:
    page.goto(f"{url}/app/claims?claim={claim.claim_number}")
    page.get_by_role("button", name="View details").first.click()


def sagebrush_detail(page: Page, url: str, claim: SimClaim) -> None:
    page.goto(f"{url}/claims/view/{claim.claim_key}")


def juniper_sign_in(page: Page, portal: Portal) -> None:
    page.goto(portal.url + "/signin")
    page.get_by_label("Username", exact=True).fill(portal.username)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Password", exact=True).fill(portal.password)
    page.get_by_role("button", name="Sign in").click()


def sagebrush_sign_in(page: Page, portal: Portal) -> None:
    page.goto(portal.url + "/account/signin")
    page.get_by_label("Username", exact=True).fill(portal.username)
    page.get_by_label("Password", exact=True).fill(portal.password)
    page.get_by_role("button", name="Sign in securely").click()


US_TIME = r"\d\d/\d\d/\d{4} \d\d:\d\d [AP]M [A-Z]{3,4}"
SKINS = {
    "bluestem": Skin(
        kind="bluestem",
        payer="BSTM1",
        sign_in=lambda page, portal: sign_in_bluestem(page, portal, "User ID", "Password", "Verification code"),
        signed_in_path="/search",
        login_path="/login",
        nav=lambda page: page.get_by_role("navigation", name="Main"),
        nav_form="Request a correction",
        nav_list="Submitted requests",
        form_path="/requests/new",
        submit_path="/requests",
        list_path="/requests",
        received_path="/requests",
        form_heading="Corrected claim or reconsideration",
        labels={
            "kind": "Request type",
            "claim_number": "Claim number",
            "line": "Line",
            "procedure_code": "Corrected procedure code",
            "modifiers": "Corrected modifiers",
            "reason": "Reason for request",
            "your_reference": "Your reference",
        },
        corrected_option="Corrected claim (replacement, frequency 7)",
        submit="Submit request",
        received_heading="Request received",
        reference="strong[data-field=request-reference]",
        reference_format=r"CR-20\d\d-\d{6}",
        list_heading="Submitted requests",
        table=lambda page: page.get_by_role("table", name="Submitted requests"),
        row="tbody tr",
        headers=["Reference", "Submitted", "Claim number", "Type", "Line", "Your reference", "Status"],
        submitted_format=US_TIME,
        filter_label="Filter by claim number",
        filter_button="Filter",
        detail=bluestem_detail,
        detail_link="Correct or reconsider this claim",
    ),
    "cedar": Skin(
        kind="cedar",
        payer="BSTM1",
        sign_in=lambda page, portal: sign_in_bluestem(
            page, portal, "Email or user name", "Passphrase", "One-time passcode"
        ),
        signed_in_path="/search",
        login_path="/login",
        nav=lambda page: page.locator(".head .links"),
        nav_form="New request",
        nav_list="My requests",
        form_path="/requests/new",
        submit_path="/requests",
        list_path="/requests",
        received_path="/requests",
        form_heading="Replacement claim or reconsideration",
        labels={
            "kind": "Kind of request",
            "claim_number": "Claim no.",
            "line": "Service line",
            "procedure_code": "Replacement code",
            "modifiers": "Replacement modifiers",
            "reason": "Explanation",
            "your_reference": "Your tracking no.",
        },
        corrected_option="Replacement claim (frequency code 7)",
        submit="Send request",
        received_heading="Request logged",
        reference="#rq-ref",
        reference_format=r"CVH-RQ-\d{7}",
        list_heading="My requests",
        table=lambda page: page.locator("table#requests"),
        row="tr.rq",
        headers=["Ref. no.", "Sent", "Claim no.", "Kind", "Line", "Your tracking no.", "State"],
        submitted_format=US_TIME,
        filter_label="Claim no.",
        filter_button="Show",
        detail=bluestem_detail,
        detail_link="Ask to correct this claim",
        corrected_type="Replacement",
    ),
    "juniper": Skin(
        kind="juniper",
        payer="JNPR1",
        sign_in=juniper_sign_in,
        signed_in_path="/app",
        login_path="/signin",
        nav=lambda page: page.get_by_role("navigation", name="Provider Center"),
        nav_form="New request",
        nav_list="Submitted requests",
        form_path="/app/requests/new",
        submit_path="/api/requests",
        list_path="/app/requests",
        received_path="/app/requests",
        form_heading="New request",
        labels={
            "kind": "Request type",
            "claim_number": "Claim number",
            "line": "Service line",
            "procedure_code": "Corrected CPT/HCPCS code",
            "modifiers": "Corrected modifier(s)",
            "reason": "Reason for this request",
            "your_reference": "Your reference",
        },
        corrected_option="Corrected claim – replacement (frequency 7)",
        submit="Submit request",
        received_heading="Request submitted",
        reference="[data-testid=request-reference]",
        reference_format=r"JH-REQ-\d{6}-\d{4,}",
        list_heading="Submitted requests",
        table=lambda page: page.get_by_role("table", name="Submitted requests"),
        row="tbody tr",
        headers=["Request #", "Submitted", "Claim #", "Type", "Service line", "Your reference", "Status"],
        submitted_format=r"\d{4}-\d\d-\d\d \d\d:\d\d [A-Z]{3,4}",
        filter_label="Show requests for claim",
        filter_button="Filter",
        detail=juniper_detail,
        detail_link="Correct or reconsider this claim",
    ),
    "sagebrush": Skin(
        kind="sagebrush",
        payer="SGBR1",
        sign_in=sagebrush_sign_in,
        signed_in_path="/claims/lookup",
        login_path="/account/signin",
        nav=lambda page: page.get_by_role("navigation", name="Requests"),
        nav_form="Correction or reconsideration",
        nav_list="Your requests",
        form_path="/requests/submit",
        submit_path="/requests/submit",
        list_path="/requests/submitted",
        received_path="/requests/submitted",
        form_heading="Ask for a correction or reconsideration",
        labels={
            "kind": "Type of request",
            "claim_number": "Claim reference",
            "line": "Line number",
            "procedure_code": "Corrected procedure code",
            "modifiers": "Corrected modifiers",
            "reason": "Reason for your request",
            "your_reference": "Your reference",
        },
        corrected_option="Corrected claim — replaces the original (frequency 7)",
        submit="Send request",
        received_heading="We received your request",
        reference="strong[data-field=request-reference]",
        reference_format=r"SGR-\d{7}",
        list_heading="Your requests",
        table=lambda page: page.get_by_role("table", name="Your requests"),
        row="tbody tr",
        headers=[
            "Request reference",
            "Received on",
            "Claim reference",
            "Type",
            "Line",
            "Your reference",
            "Status",
        ],
        submitted_format=r"\d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d [A-Z]{3,4}",
        filter_label="Claim reference",
        filter_button="Show requests",
        detail=sagebrush_detail,
        detail_link="Ask for a correction or reconsideration",
        claim_prefix="SG-",
    ),
}
KINDS = list(SKINS)


@pytest.fixture(params=KINDS)
def skin(request: pytest.FixtureRequest) -> Skin:
    return SKINS[request.param]


@pytest.fixture
def payer_portal(sims: SimPortals, skin: Skin) -> Portal:
    """The session's portal of this skin, reset, today's terms already accepted."""
    return sims.portal(skin.kind).reset(terms_accepted=True)


def claim_with_lines(skin: Skin, at_least: int = 2) -> SimClaim:
    return next(c for c in build_dataset(SEED, CLAIMS, skin.payer).claims if len(c.lines) >= at_least)


def submissions(portal: Portal) -> list[dict[str, object]]:
    return portal.server.submissions()


# -- the browser's steps ----------------------------------------------------------------------------
def fill(page: Page, skin: Skin, values: dict[str, str]) -> None:
    for name, value in values.items():
        control = page.get_by_label(skin.labels[name], exact=True)
        if name == "kind":
            control.select_option(value)
        else:
            control.fill(value)


def submit(page: Page, skin: Skin) -> int:
    """Send the form; the status of the POST."""
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name=skin.submit, exact=True).click()
    return answer.value.status


def open_form(page: Page, skin: Skin) -> None:
    skin.nav(page).get_by_role("link", name=skin.nav_form, exact=True).click()
    expect(page.get_by_role("heading", name=skin.form_heading, exact=True)).to_be_visible()


def list_rows(page: Page, skin: Skin) -> list[list[str]]:
    page.wait_for_load_state()
    table = skin.table(page)
    expect(table).to_be_visible()
    return [row.locator("td").all_text_contents() for row in table.locator(skin.row).all()]


# -- tests ---------------------------------------------------------------------------------------------
def test_a_request_is_confirmed_listed_and_never_deduplicated(page: Page, payer_portal: Portal, skin: Skin) -> None:
    claim = claim_with_lines(skin)
    shown_claim = skin.claim_prefix + claim.claim_number
    mine = f"RCM-{skin.kind}-{secrets.token_hex(3)}"
    values = {
        "kind": "corrected",
        "claim_number": shown_claim,
        "line": "2",
        "procedure_code": "99214",
        "modifiers": "25, 59",
        "reason": "Line 2 billed the wrong visit level <b>x</b>",
        "your_reference": mine,
    }
    skin.sign_in(page, payer_portal)
    expect(page).to_have_url(re.compile(re.escape(skin.signed_in_path) + "$"))

    references = []
    for _ in range(2):  # the same request twice: two requests, two references
        open_form(page, skin)
        kind = page.get_by_label(skin.labels["kind"], exact=True)
        assert kind.locator("option").evaluate_all("os => os.map(o => [o.value, o.textContent])") == [
            ["corrected", skin.corrected_option],
            ["reconsideration", "Reconsideration"],
        ]
        fill(page, skin, values)
        assert submit(page, skin) in (201, 303)
        expect(page.get_by_role("heading", name=skin.received_heading, exact=True)).to_be_visible()
        reference = page.locator(skin.reference)
        expect(reference).to_have_text(re.compile(f"^{skin.reference_format}$"))
        references.append(reference.text_content())
        expect(page).to_have_url(re.compile(rf"{re.escape(skin.received_path)}/\d+$"))
        expect(page.get_by_text(values["reason"], exact=True)).to_be_visible()  # as text, not markup
        expect(page.locator("#app b, main b, .wrap b")).to_have_count(0)
    assert references[0] != references[1]

    recorded = submissions(payer_portal)
    assert [r["reference"] for r in recorded] == references
    for r in recorded:
        assert {k: r[k] for k in ("kind", "claim_number", "line_no", "procedure_code", "modifiers")} == {
            "kind": "corrected",
            "claim_number": claim.claim_number,
            "line_no": 2,
            "procedure_code": "99214",
            "modifiers": "25,59",
        }
        assert (r["reason"], r["your_reference"], r["username"]) == (values["reason"], mine, payer_portal.username)

    skin.nav(page).get_by_role("link", name=skin.nav_list, exact=True).click()
    expect(page.get_by_role("heading", name=skin.list_heading, exact=True)).to_be_visible()
    assert skin.table(page).locator("th").all_text_contents() == skin.headers
    rows = list_rows(page, skin)
    assert [row[0] for row in rows] == references[::-1], "newest first"
    for row in rows:
        assert row[2:] == [shown_claim, skin.corrected_type, "2", mine, "Received"]
        assert re.fullmatch(skin.submitted_format, row[1]), row[1]

    page.get_by_label(skin.filter_label, exact=True).fill("2026000000000")
    page.get_by_role("button", name=skin.filter_button, exact=True).click()
    expect(page).to_have_url(re.compile(r"\?claim=2026000000000$"))
    assert list_rows(page, skin) == []
    page.get_by_label(skin.filter_label, exact=True).fill(shown_claim)
    page.get_by_role("button", name=skin.filter_button, exact=True).click()
    expect(page).to_have_url(re.compile(rf"\?claim={re.escape(shown_claim)}$"))
    assert [row[0] for row in list_rows(page, skin)] == references[::-1]

    # The claim's detail links to the form with the claim filled in.
    skin.detail(page, payer_portal.url, claim)
    page.get_by_role("link", name=skin.detail_link, exact=True).click()
    expect(page.get_by_label(skin.labels["claim_number"], exact=True)).to_have_value(shown_claim)


def test_a_claim_or_line_not_on_file_comes_back_422_with_the_inputs_kept(
    page: Page, payer_portal: Portal, skin: Skin
) -> None:
    claim = claim_with_lines(skin)
    lines = ", ".join(str(line["line_no"]) for line in claim.lines)
    skin.sign_in(page, payer_portal)
    expect(page).to_have_url(re.compile(re.escape(skin.signed_in_path) + "$"))
    open_form(page, skin)
    values = {
        "kind": "reconsideration",
        "claim_number": "2026000000000",
        "line": "1",
        "procedure_code": "",
        "modifiers": "",
        "reason": "Timely filing was met: see the attached clearinghouse report.",
        "your_reference": "RCM-bad",
    }
    fill(page, skin, values)
    assert submit(page, skin) == 422
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(f"{skin.labels['claim_number']}: no claim 2026000000000 was found.")
    for name, value in values.items():
        expect(page.get_by_label(skin.labels[name], exact=True)).to_have_value(value)
    expect(page.get_by_label(skin.labels["claim_number"], exact=True)).to_have_attribute("aria-invalid", "true")

    shown_claim = skin.claim_prefix + claim.claim_number
    fill(page, skin, {"claim_number": shown_claim, "line": "9"})
    assert submit(page, skin) == 422
    expect(page.get_by_role("alert")).to_have_count(1)
    expect(page.get_by_role("alert")).to_contain_text(
        f"{skin.labels['line']}: claim {shown_claim} has no line 9 (its lines: {lines})."
    )
    expect(page.get_by_role("alert")).not_to_contain_text("no claim")
    for name, value in {**values, "claim_number": shown_claim, "line": "9"}.items():
        expect(page.get_by_label(skin.labels[name], exact=True)).to_have_value(value)
    assert submissions(payer_portal) == []


# -- through HTTP: sign-in in front of every screen, reset, the rules ---------------------------------
@dataclass
class Signed:
    client: httpx.Client
    skin: Skin

    def send(self, **fields: str) -> httpx.Response:
        values = {name: fields.get(name, "") for name in FIELDS}
        if self.skin.kind == "juniper":
            return self.client.post(self.skin.submit_path, json=values)
        return self.client.post(self.skin.submit_path, data=values)

    def listed(self, claim: str = "") -> httpx.Response:
        if self.skin.kind == "juniper":
            return self.client.get("/api/requests", params={"claim": claim})
        return self.client.get(self.skin.list_path, params={"claim": claim})


@pytest.fixture
def signed(payer_portal: Portal, skin: Skin) -> Iterator[Signed]:
    with httpx.Client(base_url=payer_portal.url) as client:
        if skin.kind in ("bluestem", "cedar"):
            client.post("/login", data={"username": payer_portal.username, "password": payer_portal.password})
            r = client.post("/mfa", data={"code": pyotp.TOTP(payer_portal.totp_secret).now()})
        elif skin.kind == "juniper":
            client.post("/signin", data={"login_id": payer_portal.username})
            r = client.post("/signin/password", data={"passwd": payer_portal.password})
        else:
            r = client.post(
                "/account/signin", data={"username": payer_portal.username, "password": payer_portal.password}
            )
        assert r.headers["location"] == skin.signed_in_path
        yield Signed(client, skin)


def test_every_request_screen_is_behind_sign_in(payer_portal: Portal, skin: Skin) -> None:
    claim = claim_with_lines(skin, 1)
    with httpx.Client(base_url=payer_portal.url) as anonymous:
        for path in (skin.form_path, skin.list_path, f"{skin.received_path}/1"):
            r = anonymous.get(path)
            assert (r.status_code, r.headers["location"]) == (303, skin.login_path), path
        fields = {"kind": "reconsideration", "claim_number": claim.claim_number, "line": "1", "reason": "r"}
        if skin.kind == "juniper":
            assert anonymous.get("/api/requests").status_code == 401
            assert anonymous.get("/api/requests/1").status_code == 401
            assert anonymous.post(skin.submit_path, json=fields).status_code == 401
        else:
            r = anonymous.post(skin.submit_path, data=fields)
            assert (r.status_code, r.headers["location"]) == (303, skin.login_path)
    assert submissions(payer_portal) == []


def test_a_reset_clears_the_requests_and_the_admin_route_wants_the_token(signed: Signed, payer_portal: Portal) -> None:
    claim = claim_with_lines(signed.skin, 1)
    r = signed.send(kind="reconsideration", claim_number=claim.claim_number, line="1", reason="Please review.")
    assert r.status_code in (201, 303)
    assert len(submissions(payer_portal)) == 1
    assert httpx.get(f"{payer_portal.url}/_sim/submissions").status_code == 403
    payer_portal.reset(terms_accepted=True)
    assert submissions(payer_portal) == []


def test_the_form_checks_each_field_and_stores_what_it_accepted(signed: Signed, payer_portal: Portal) -> None:
    claim = claim_with_lines(signed.skin, 1)
    ok = {"kind": "corrected", "claim_number": claim.claim_number, "line": "1", "reason": "Wrong code."}
    refused = {
        "kind": {"kind": "replacement"},
        "procedure_code": {"procedure_code": "9921"},
        "modifiers": {"modifiers": "25,59,RT,LT,76"},
        "reason": {"reason": "x" * 501},
        "your_reference": {"your_reference": "y" * 41},
    }
    for name, change in refused.items():
        r = signed.send(**{**ok, "modifiers": "25", **change})
        assert r.status_code == 422, name
        assert signed.skin.labels[name] in r.text, name
    r = signed.send(**ok)  # a corrected claim with neither a code nor modifiers
    assert r.status_code == 422 and "a corrected claim needs at least one of them" in r.text
    r = signed.send(**{**ok, "line": "two"})
    assert r.status_code == 422 and signed.skin.labels["line"] in r.text
    assert submissions(payer_portal) == []

    accepted = [
        {**ok, "procedure_code": "g0439"},  # HCPCS, any case
        {**ok, "modifiers": " 25 ,rt,, "},
        {**ok, "kind": "reconsideration", "reason": "x" * 500, "your_reference": "y" * 40},
        {**ok, "claim_number": f" {signed.skin.claim_prefix.lower()}{claim.claim_number} ", "procedure_code": "99213"},
    ]
    for fields in accepted:
        assert signed.send(**fields).status_code in (201, 303), fields
    stored = [(s["kind"], s["procedure_code"], s["modifiers"], s["your_reference"]) for s in submissions(payer_portal)]
    assert stored == [
        ("corrected", "G0439", None, None),
        ("corrected", None, "25,RT", None),
        ("reconsideration", None, None, "y" * 40),
        ("corrected", "99213", None, None),
    ]
    assert {s["claim_number"] for s in submissions(payer_portal)} == {claim.claim_number}


def test_a_user_sees_only_their_own_requests(signed: Signed, payer_portal: Portal) -> None:
    skin, claim = signed.skin, claim_with_lines(signed.skin, 1)
    r = signed.send(kind="reconsideration", claim_number=claim.claim_number, line="1", reason="Please review.")
    assert r.status_code in (201, 303)
    (mine,) = submissions(payer_portal)
    payer_portal.server.add_user("other-office", "other-password")
    with httpx.Client(base_url=payer_portal.url, follow_redirects=True) as other:
        if skin.kind == "juniper":
            other.post("/signin", data={"login_id": "other-office"})
            other.post("/signin/password", data={"passwd": "other-password"})
            assert other.get(f"/api/requests/{mine['id']}").status_code == 404
            assert other.get("/api/requests").json() == {"requests": []}
        else:
            login = "/account/signin" if skin.kind == "sagebrush" else "/login"
            r = other.post(login, data={"username": "other-office", "password": "other-password"})
            if r.url.path == "/terms":  # no second factor for this user, but the day's terms
                other.post("/terms", data={"agree": "yes"})
            assert other.get(f"{skin.received_path}/{mine['id']}").status_code == 404
            assert str(mine["reference"]) not in other.get(skin.list_path).text
    assert str(mine["reference"]) in signed.listed(claim.claim_number).text


def test_bluestem_sends_a_session_at_the_terms_page_there_first(sims: SimPortals) -> None:
    portal = sims.portal("bluestem").reset()
    with httpx.Client(base_url=portal.url) as client:
        client.post("/login", data={"username": portal.username, "password": portal.password})
        client.post("/mfa", data={"code": pyotp.TOTP(portal.totp_secret).now()})
        for path in ("/requests/new", "/requests"):
            r = client.get(path)
            assert (r.status_code, r.headers["location"]) == (303, "/terms"), path
