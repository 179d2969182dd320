"""The simulated payer portal "Sagebrush Benefit Partners Provider Connect": built unlike
Bluestem, Cedar, Juniper and Harbor on purpose.

- The root is a public landing page whose "Quick sign-in" form (Email, PIN) posts back to the
  root and is refused (405); the working sign-in lives at /account/signin, without MFA or terms.
- Claim lookup is a GET form at /claims/lookup; a claim reference may carry the "SG-" prefix.
  A lookup that finds exactly one claim goes straight to that claim instead of listing it.
- Results are cards of free text ("Claim SG-… · DOS … · DN10 Denied"): no account number,
  billed amount or patient name to match on, so a bot must open each claim.
- A claim is a definition list without service lines, plus a table of reason codes; statuses
  lead with Sagebrush's own code; dates read "26 Aug 2026" and amounts "USD 1,234.50".
- Corrected-claim and reconsideration requests (bots.sim.corrections) are sent at
  /requests/submit and listed at /requests/submitted, with claim references as the lookup
  takes them; the links to them sit beside the main navigation, not in it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import and_

from bots.sim.corrections import Pages, RequestDesk, Wording, add_pages
from bots.sim.portal import PortalConfig, SimPortal, date_filter, parse_date
from bots.sim.store import Claim
from bots.sim.witness import Asking, ClaimAsked

DATE_FORMAT = "%d %b %Y"
PATHS = {"login": "/account/signin", "ready": "/claims/lookup"}
CLAIM_PREFIX = "SG-"
LOOKUP_FIELDS = ("claim", "member", "from", "to")
show_date = date_filter(DATE_FORMAT)
TIME_FORMAT = f"{DATE_FORMAT} %H:%M %Z"  # as a claim's "Looked up" time
REQUEST_PAGES = Pages(
    form="/requests/submit", submit="/requests/submit", received="/requests/submitted", listing="/requests/submitted"
)
WORDING = Wording(
    labels={
        "kind": "Type of request",
        "claim_number": "Claim reference",
        "line": "Line number",
        "procedure_code": "Corrected procedure code",
        "modifiers": "Corrected modifiers",
        "reason": "Reason for your request",
        "your_reference": "Your reference",
    },
    options={
        "corrected": "Corrected claim — replaces the original (frequency 7)",
        "reconsideration": "Reconsideration",
    },
    kinds={"corrected": "Corrected claim", "reconsideration": "Reconsideration"},
)


def usd(cents: Any) -> str:
    return f"USD {cents / 100:,.2f}" if isinstance(cents, int) else ""


def service_dates(claim: dict[str, Any]) -> str:
    """A claim's dates of service, "26 Aug 2026 – 28 Aug 2026", or one date for a single day."""
    first, last = show_date(claim["dos_from"]), show_date(claim["dos_to"])
    return first if first == last else f"{first} – {last}"


def claim_reference(number: str) -> str:
    return f"{CLAIM_PREFIX}{number}"


def claim_number(reference: str) -> str:
    """The data set's claim number from what a user typed: "SG-2026…", "sg-2026…" or "2026…"."""
    reference = reference.strip()
    return reference[len(CLAIM_PREFIX) :] if reference.upper().startswith(CLAIM_PREFIX) else reference


def lookup_condition(form: dict[str, str]) -> Any | None:
    """What a lookup (its fields stripped) asks for as an SQL condition, or None if it names
    neither a claim nor a member with both dates. A member lookup finds the member's claims
    whose service overlaps the dates."""
    if form["claim"]:
        return Claim.claim_number == claim_number(form["claim"])
    first, last = parse_date(form["from"], DATE_FORMAT), parse_date(form["to"], DATE_FORMAT)
    if form["member"] and first and last:
        return and_(Claim.member_id == form["member"], Claim.dos_from <= last, Claim.dos_to >= first)
    return None


def create_app(cfg: PortalConfig) -> FastAPI:
    sim = SimPortal(cfg, "Sagebrush Benefit Partners Provider Connect", ["SGBR1"], "sg_session", PATHS, DATE_FORMAT)
    sim.templates.env.filters.update(usd=usd, service_dates=service_dates, reference=claim_reference)
    app = sim.app

    def page(request: Request, name: str, status: int = 200, **ctx: Any) -> Response:
        return sim.page(request, f"sagebrush/{name}", status, **ctx)

    def results_page(request: Request, form: dict[str, str], found: list[dict[str, Any]], page_no: int) -> Response:
        pages = max(1, -(-len(found) // cfg.page_size))
        page_no = min(max(1, page_no), pages)
        first = (page_no - 1) * cfg.page_size

        def url(number: int) -> str:
            asked = {name: value for name, value in form.items() if value}
            return f"/claims/lookup/results?{urlencode({**asked, 'page': number})}"

        return page(
            request,
            "results.html",
            claims=found[first : first + cfg.page_size],
            total=len(found),
            first=first + 1,
            prev_url=url(page_no - 1) if page_no > 1 else None,
            next_url=url(page_no + 1) if page_no < pages else None,
        )

    @app.get("/")
    def landing(request: Request) -> Response:
        return page(request, "landing.html")

    @app.get("/account/signin")
    def signin_form(request: Request, expired: int = 0) -> Response:
        notice = "Your session ended after a period of inactivity. Please sign in again." if expired else None
        return page(request, "signin.html", notice=notice)

    @app.post("/account/signin")
    def signin(request: Request, username: str = Form(""), password: str = Form("")) -> Response:
        user = sim.authenticate(request, username, password)
        if user is None:
            return page(request, "signin.html", 401, error="Sign-in failed. Check your username and password.")
        # Sagebrush has no second factor: a TOTP secret on the user is ignored.
        token = sim.start_session(user.id, "ready")
        return sim.with_cookie(RedirectResponse(PATHS["ready"], 303), token)

    @app.get("/claims/lookup")
    def lookup_form(request: Request) -> Response:
        sess = sim.current(request)
        return sess if isinstance(sess, Response) else page(request, "lookup.html", form={})

    @app.get("/claims/lookup/results")
    def lookup(request: Request, page_no: int = Query(1, alias="page")) -> Response:
        """?claim=… or ?member=…&from=…&to=…, and &page=N. One match opens that claim."""
        sess = sim.current(request)
        if isinstance(sess, Response):
            return sess
        form = {name: request.query_params.get(name, "").strip() for name in LOOKUP_FIELDS}
        where = lookup_condition(form)
        if where is None:
            error = "Enter a claim reference, or a member number with a from date and a to date (e.g. 26 Aug 2026)."
            return page(request, "lookup.html", 400, form=form, error=error)
        found = sim.claims_where(where)
        if len(found) == 1:
            return RedirectResponse(f"/claims/view/{found[0]['claim_key']}", 303)
        return results_page(request, form, found, page_no)

    @app.get("/claims/view/{claim_key}")
    def claim_view(request: Request, claim_key: str) -> Response:
        sess = sim.current(request)
        if isinstance(sess, Response):
            return sess
        with sim.store.session() as s:
            claim = s.get(Claim, claim_key)
        if claim is None:
            return sim.message(request, 404, "Claim not available", "That claim cannot be shown. Start a new lookup.")
        looked_up = sim.local().strftime(TIME_FORMAT)
        return page(request, "claim.html", c=claim.view(), looked_up=looked_up, missing=sim.missing_fields(request))

    @app.get("/account/signout")
    def signout(request: Request) -> RedirectResponse:
        return sim.logout(request)

    desk = RequestDesk(
        sim,
        WORDING,
        lambda number, local: f"SGR-{number:07d}",
        TIME_FORMAT,
        claim_number=claim_number,
        show_claim=claim_reference,
    )
    add_pages(desk, page, REQUEST_PAGES)
    witness(sim)

    return app


def witness(sim: SimPortal) -> None:
    """What the witness log records: the sign-in, each lookup (every page of results is one) and
    each claim viewed."""
    sim.witness.login("POST", "/account/signin", "password", lambda asking: asking.text("username"))
    sim.witness.claims("GET", "/claims/lookup/results", looked_up)
    sim.witness.claims("GET", "/claims/view/{claim_key}", sim.claim_opened)


def looked_up(asking: Asking) -> list[ClaimAsked]:
    fields = {"claim_number": "claim", "member_id": "member", "dos_from": "from", "dos_to": "to"}
    return [ClaimAsked("search", **{name: asking.text(param) for name, param in fields.items()})]
