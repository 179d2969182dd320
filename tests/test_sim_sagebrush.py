"""The fourth simulated payer portal, Sagebrush, through HTTP: sign-in away from the root (whose
quick sign-in is refused), a GET lookup that opens a lone match directly, results as cards of
free text a page at a time, a claim as a definition list with reason codes, code-prefixed
status wording, and idle sessions sent back to sign in."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

import httpx
import pytest

from bots.sim.dataset import SAGEBRUSH_TEXTS, Dataset, SimClaim, build_dataset
from tests.conftest import CLAIMS, SEED, Portal, SimPortals

DATE = "%d %b %Y"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


# -- reading the pages ----------------------------------------------------------------------------
@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """textContent, as a selector map reads it."""
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    def matches(self, tag: str, attrs: dict[str, str]) -> bool:
        classes = self.attrs.get("class", "").split()
        return self.tag == tag and all(
            value in classes if name == "class" else self.attrs.get(name) == value for name, value in attrs.items()
        )

    def find_all(self, tag: str, **attrs: str) -> list[Element]:
        """Descendants in document order; attrs as keywords: class_, aria_label, data_col, ..."""
        wanted = {name.rstrip("_").replace("_", "-"): value for name, value in attrs.items()}
        found: list[Element] = []
        for child in self.children:
            if isinstance(child, Element):
                found += [child] if child.matches(tag, wanted) else []
                found += child.find_all(tag, **attrs)
        return found

    def one(self, tag: str, **attrs: str) -> Element:
        (found,) = self.find_all(tag, **attrs)
        return found


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.root = Element("#document", {})
        self.open = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.open[-1].children.append(element)
        if tag not in VOID:
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        if any(e.tag == tag for e in self.open[1:]):
            while self.open.pop().tag != tag:
                pass

    def handle_data(self, data: str) -> None:
        self.open[-1].children.append(data)


def parse(response: httpx.Response) -> Element:
    builder = TreeBuilder()
    builder.feed(response.text)
    return builder.root


def labels(page: Element) -> dict[str, str]:
    """Label text -> the id of the input it names."""
    return {label.text: label.attrs["for"] for label in page.find_all("label")}


def facts(page: Element) -> list[tuple[str, str]]:
    """The claim's definition list as (term, definition) pairs, in order."""
    items = [e for e in page.one("dl", class_="sg-facts").children if isinstance(e, Element)]
    assert [e.tag for e in items] == ["dt", "dd"] * (len(items) // 2)
    return [(term.text, definition.text) for term, definition in zip(items[::2], items[1::2], strict=True)]


# -- what the pages must say, from the data set ------------------------------------------------------
def day(value: dt.date) -> str:
    return value.strftime(DATE)


def service(c: SimClaim) -> str:
    return day(c.dos_from) if c.dos_from == c.dos_to else f"{day(c.dos_from)} – {day(c.dos_to)}"


def usd(cents: int) -> str:
    return f"USD {cents / 100:,.2f}"


def summary(c: SimClaim) -> str:
    return f"Claim SG-{c.claim_number} · DOS {service(c)} · {c.status_text}"


def expected_facts(c: SimClaim) -> list[tuple[str, str]]:
    optional = [
        ("Allowed", None if c.allowed_cents is None else usd(c.allowed_cents)),
        ("Paid", None if c.paid_cents is None else usd(c.paid_cents)),
        ("Patient share", None if c.patient_resp_cents is None else usd(c.patient_resp_cents)),
        ("Payment reference", c.check_number),
        ("Payment date", None if c.check_date is None else day(c.check_date)),
    ]
    return [
        ("Claim reference", f"SG-{c.claim_number}"),
        ("Your account reference", c.account_number),
        ("Member number", c.member_id),
        ("Patient", c.patient_name),
        ("Date of birth", day(c.patient_dob)),
        ("Dates of service", service(c)),
        ("Status", c.status_text),
        ("Status as of", day(c.status_date)),
        ("Charges", usd(c.billed_cents)),
        *[(term, value) for term, value in optional if value is not None],
    ]


def in_order(claims: list[SimClaim]) -> list[SimClaim]:
    return sorted(claims, key=lambda c: (c.dos_from, c.claim_number))


def overlapping(data: Dataset, member_id: str, first: dt.date, last: dt.date) -> list[SimClaim]:
    return in_order([c for c in data.claims if c.member_id == member_id and c.dos_from <= last and c.dos_to >= first])


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data() -> Dataset:
    return build_dataset(SEED, CLAIMS, "SGBR1")


@pytest.fixture
def sagebrush(sims: SimPortals) -> Portal:
    return sims.portal("sagebrush").reset()


@contextlib.contextmanager
def sign_in(portal: Portal) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=portal.url) as client:
        r = client.post("/account/signin", data={"username": portal.username, "password": portal.password})
        assert (r.status_code, r.headers["location"]) == (303, "/claims/lookup"), "no MFA, no terms: straight in"
        yield client


@pytest.fixture
def client(sagebrush: Portal) -> Iterator[httpx.Client]:
    with sign_in(sagebrush) as signed_in:
        yield signed_in


def lookup(client: httpx.Client, **params: str) -> httpx.Response:
    return client.get("/claims/lookup/results", params=params)


# -- tests ---------------------------------------------------------------------------------------
def test_the_root_is_a_landing_page_whose_quick_sign_in_is_refused(sagebrush: Portal) -> None:
    r = httpx.get(f"{sagebrush.url}/")
    page = parse(r)
    assert r.status_code == 200
    assert page.one("h1").text == "Sagebrush Benefit Partners — Provider Connect"
    assert labels(page) == {"Email": "qs-email", "PIN": "qs-pin"}, "nothing a sign-in selector map looks for"
    form = page.one("form")
    assert (form.attrs["method"], form.attrs["action"]) == ("post", "/")
    for fields in ({"email": "someone@example.test", "pin": "1234"}, {"username": sagebrush.username}):
        assert httpx.post(f"{sagebrush.url}/", data=fields).status_code == 405


def test_sign_in_at_its_own_path_without_mfa_and_sign_out(sagebrush: Portal) -> None:
    with httpx.Client(base_url=sagebrush.url) as anonymous:
        assert anonymous.get("/claims/lookup").headers["location"] == "/account/signin"
        page = parse(anonymous.get("/account/signin"))
        assert labels(page) == {"Username": "sg-user", "Password": "sg-pass"}
        assert [i.attrs["name"] for i in page.find_all("input")] == ["username", "password"]
        assert page.one("button").text == "Sign in securely"
        r = anonymous.post("/account/signin", data={"username": sagebrush.username, "password": "wrong"})
        assert r.status_code == 401
        alert = parse(r).one("div", role="alert", class_="sg-alert")
        assert alert.text == "Sign-in failed. Check your username and password."

    with sign_in(sagebrush) as client:
        page = parse(client.get("/claims/lookup"))
        assert page.one("h1").text == "Claim lookup"
        nav = {a.text: a.attrs["href"] for a in page.one("nav").find_all("a")}
        assert nav == {"New lookup": "/claims/lookup", "Sign out": "/account/signout"}
        form = page.one("form")
        assert (form.attrs["method"], form.attrs["action"]) == ("get", "/claims/lookup/results")
        assert labels(page) == {
            "Claim reference": "sg-claim",
            "Member number": "sg-member",
            "From date": "sg-from",
            "To date": "sg-to",
        }
        assert [i.attrs["name"] for i in form.find_all("input")] == ["claim", "member", "from", "to"]
        assert form.one("button").text == "Find claims"
        assert client.get("/account/signout").headers["location"] == "/account/signin"
        assert client.get("/claims/lookup").headers["location"] == "/account/signin"


def test_a_claim_reference_opens_the_claim_as_a_definition_list(client: httpx.Client, data: Dataset) -> None:
    denied = next(c for c in data.claims if any(a["rarc"] for a in c.adjustments) and c.check_number)
    for reference in (f"SG-{denied.claim_number}", f"sg-{denied.claim_number}", f" {denied.claim_number} "):
        r = lookup(client, claim=reference)
        assert (r.status_code, r.headers["location"]) == (303, f"/claims/view/{denied.claim_key}"), reference

    page = parse(client.get(f"/claims/view/{denied.claim_key}"))
    assert page.one("h1").text == "Claim summary"
    assert facts(page) == expected_facts(denied)
    reasons = page.one("table", aria_label="Reason codes", class_="sg-reasons")
    rows = [{td.attrs["data-col"]: td.text for td in tr.find_all("td")} for tr in reasons.one("tbody").find_all("tr")]
    assert rows == [
        {
            "group": a["group_code"],
            "carc": a["carc"],
            "carc_text": a["carc_description"],
            "rarc": a["rarc"] or "",
            "rarc_text": a["rarc_description"] or "",
            "amount": usd(a["amount_cents"]),
        }
        for a in denied.adjustments
    ]
    assert not page.find_all("table", aria_label="Service lines")

    pending = next(c for c in data.claims if c.status_text == "PN20 Pending – medical review")
    page = parse(client.get(lookup(client, claim=pending.claim_number).headers["location"]))
    assert facts(page) == expected_facts(pending), "no amounts beyond the charges, no payment yet"
    assert not page.find_all("table")


def test_a_member_search_shows_cards_of_free_text_a_page_at_a_time(sagebrush: Portal, data: Dataset) -> None:
    sagebrush.reset(page_size=3)
    member = Counter(c.member_id for c in data.claims).most_common(1)[0][0]
    claims = in_order([c for c in data.claims if c.member_id == member])
    first, last = min(c.dos_from for c in claims), max(c.dos_to for c in claims)
    with sign_in(sagebrush) as signed_in:
        r = lookup(signed_in, member=member, **{"from": day(first).upper(), "to": day(last).lower()})
        cards: list[Element] = []
        while True:
            page = parse(r)
            assert r.status_code == 200 and page.one("h1").text == "Lookup results"
            shown = page.one("section", aria_label="Matching claims", class_="sg-results").find_all("article")
            assert 1 <= len(shown) <= 3
            cards += shown
            following = page.find_all("a", rel="next")
            if not following:
                break
            assert following[0].text == "Next results"
            r = signed_in.get(following[0].attrs["href"])

    assert len(cards) == len(claims) > 3
    assert [card.one("p", class_="sg-summary").text for card in cards] == [summary(c) for c in claims]
    assert [card.one("a", class_="sg-view").attrs["href"] for card in cards] == [
        f"/claims/view/{c.claim_key}" for c in claims
    ]
    assert all(card.one("a", class_="sg-view").text == "View claim" for card in cards)
    for card, c in zip(cards, claims, strict=True):
        assert c.account_number not in card.text and c.patient_name not in card.text
        assert usd(c.billed_cents) not in card.text


def test_a_member_search_finds_claims_whose_service_overlaps_and_opens_a_lone_one(
    client: httpx.Client, data: Dataset
) -> None:
    lone = next(
        c for c in data.claims if c.dos_from < c.dos_to and overlapping(data, c.member_id, c.dos_to, c.dos_to) == [c]
    )
    r = lookup(client, member=lone.member_id, **{"from": day(lone.dos_to), "to": day(lone.dos_to)})
    assert (r.status_code, r.headers["location"]) == (303, f"/claims/view/{lone.claim_key}")

    duplicate = next(r for r in data.worklist if r.kind == "ambiguous")
    claims = overlapping(data, duplicate.member_id, duplicate.dos_from, duplicate.dos_to)
    page = parse(
        lookup(client, member=duplicate.member_id, **{"from": day(duplicate.dos_from), "to": day(duplicate.dos_to)})
    )
    assert [p.text for p in page.find_all("p", class_="sg-summary")] == [summary(c) for c in claims]
    twins = [c for c in claims if (c.account_number, c.dos_from) == (duplicate.account_number, duplicate.dos_from)]
    assert len(twins) == 2, "a duplicate submission: two claims for one account and date of service"


def test_a_lookup_without_enough_to_go_on_is_refused_and_an_unknown_claim_finds_nothing(
    client: httpx.Client, data: Dataset
) -> None:
    member = data.claims[0].member_id
    for fields in ({"member": member}, {"member": member, "from": "2026-08-26", "to": "2026-08-28"}, {}):
        r = lookup(client, **fields)
        page = parse(r)
        assert r.status_code == 400 and page.one("h1").text == "Claim lookup", fields
        assert "member number" in page.one("div", role="alert", class_="sg-alert").text
        assert page.one("input", id="sg-member").attrs["value"] == fields.get("member", "")

    r = lookup(client, claim="SG-0000000000000")
    page = parse(r)
    assert r.status_code == 200 and page.one("h1").text == "Lookup results"
    assert page.one("p", class_="sg-none").text == "No claims were found for that lookup."
    assert not page.find_all("section")
    assert client.get("/claims/view/c00000nosuch").status_code == 404


def test_an_idle_session_is_sent_back_to_sign_in_with_a_notice(sagebrush: Portal) -> None:
    sagebrush.reset(session_idle_s=60)
    with sign_in(sagebrush) as client:
        assert client.get("/claims/lookup").status_code == 200
        sagebrush.server.advance_clock(61)
        r = client.get("/claims/lookup")
        assert (r.status_code, r.headers["location"]) == (303, "/account/signin?expired=1")
        notice = parse(client.get(r.headers["location"])).one("div", role="status", class_="sg-notice")
        assert notice.text == "Your session ended after a period of inactivity. Please sign in again."


def test_an_unavailable_portal_says_so_in_a_heading(sagebrush: Portal) -> None:
    sagebrush.server.faults(fail_next=1)
    r = httpx.get(f"{sagebrush.url}/account/signin")
    assert r.status_code == 503 and parse(r).one("h1").text == "Service temporarily unavailable"


def test_every_status_leads_with_a_sagebrush_code(data: Dataset) -> None:
    assert {c.status_text for c in data.claims} <= set(SAGEBRUSH_TEXTS.values())
    assert all(c.payer_id == "SGBR1" and c.member_id.startswith("SGB") for c in data.claims)
