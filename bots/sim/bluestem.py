"""The simulated payer portal "Bluestem Health Plan": a server-rendered web app with login,
TOTP MFA, a daily terms-of-use page, claim search (a form, or a bookmarkable results URL),
paginated results and a claim detail page per claim, and a corrected-claim / reconsideration
request form with a page per submitted request and a list of them (bots.sim.corrections).

The same app under another skin is "Cedar Valley Health": other labels, ids and structure
(results as cards, details as a key-value table), for onboarding a portal by data alone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pyotp
from fastapi import FastAPI, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import and_, func, select

from bots.sim.corrections import Pages, RequestDesk, Wording, add_pages
from bots.sim.portal import PortalConfig, SimPortal, parse_date
from bots.sim.store import Claim, Inquiry, PortalSession
from bots.sim.witness import Asking, ClaimAsked

DATE_FORMAT = "%m/%d/%Y"
PATHS = {"login": "/login", "mfa": "/mfa", "terms": "/terms", "ready": "/search"}


TITLES = {"bluestem": "Bluestem Health Plan provider portal", "cedar": "Cedar Valley Health provider self-service"}
TIME_FORMAT = "%m/%d/%Y %I:%M %p %Z"  # as the claim detail's "Retrieved" time

# The request screens: one set of paths for both skins, the words each skin's own.
REQUEST_PAGES = Pages(form="/requests/new", submit="/requests", received="/requests", listing="/requests")
WORDING = {
    "bluestem": Wording(
        labels={
            "kind": "Request type",
            "claim_number": "Claim number",
            "line": "Line",
            "procedure_code": "Corrected procedure code",
            "modifiers": "Corrected modifiers",
            "reason": "Reason for request",
            "your_reference": "Your reference",
        },
        options={"corrected": "Corrected claim (replacement, frequency 7)", "reconsideration": "Reconsideration"},
        kinds={"corrected": "Corrected claim", "reconsideration": "Reconsideration"},
    ),
    "cedar": Wording(
        labels={
            "kind": "Kind of request",
            "claim_number": "Claim no.",
            "line": "Service line",
            "procedure_code": "Replacement code",
            "modifiers": "Replacement modifiers",
            "reason": "Explanation",
            "your_reference": "Your tracking no.",
        },
        options={"corrected": "Replacement claim (frequency code 7)", "reconsideration": "Reconsideration"},
        kinds={"corrected": "Replacement", "reconsideration": "Reconsideration"},
    ),
}


# Each skin's reference numbers, from the request's id and local time: Bluestem's carry the year
# submitted (CR-2026-000017), Cedar's do not (CVH-RQ-0000017).
REFERENCES: dict[str, Callable[[int, dt.datetime], str]] = {
    "bluestem": lambda number, local: f"CR-{local.year}-{number:06d}",
    "cedar": lambda number, local: f"CVH-RQ-{number:07d}",
}


def create_app(cfg: PortalConfig) -> FastAPI:
    sim = SimPortal(cfg, TITLES[cfg.kind], ["BSTM1"], "bs_session", PATHS, DATE_FORMAT)
    app, skin = sim.app, cfg.kind

    def page(request: Request, name: str, status: int = 200, **ctx: Any) -> Response:
        return sim.page(request, f"{skin}/{name}", status, **ctx)

    @app.get("/")
    def root() -> RedirectResponse:
        return RedirectResponse("/search", 303)

    @app.get("/login")
    def login_form(request: Request, expired: int = 0) -> Response:
        notice = "Your session has expired due to inactivity. Please sign in again." if expired else None
        return page(request, "login.html", notice=notice)

    @app.post("/login")
    def login(request: Request, username: str = Form(""), password: str = Form("")) -> Response:
        user = sim.authenticate(request, username, password)
        if user is None:
            return page(request, "login.html", 401, error="The user ID or password is incorrect.")
        token = sim.start_session(user.id, "mfa")
        response = RedirectResponse("/mfa", 303) if user.totp_secret else sim.advance(token, user.id)
        return sim.with_cookie(response, token)

    @app.get("/mfa")
    def mfa_form(request: Request) -> Response:
        sess = sim.current(request, "mfa")
        return sess if isinstance(sess, Response) else page(request, "mfa.html")

    @app.post("/mfa")
    def mfa(request: Request, code: str = Form("")) -> Response:
        sess = sim.current(request, "mfa")
        if isinstance(sess, Response):
            return sess
        secret = sim.user(sess.user_id).totp_secret
        assert secret
        totp = pyotp.TOTP(secret)  # RFC 6238's 30-second step, as authenticator apps use
        if not sim.code_accepted(request, totp.verify(code.strip(), valid_window=cfg.totp_valid_window)):
            return page(request, "mfa.html", 401, error="That verification code is not valid.")
        return sim.advance(sess.token, sess.user_id)

    @app.get("/terms")
    def terms_form(request: Request) -> Response:
        sess = sim.current(request, "terms")
        return sess if isinstance(sess, Response) else page(request, "terms.html")

    @app.post("/terms")
    def terms(request: Request, agree: str = Form("")) -> Response:
        sess = sim.current(request, "terms")
        if isinstance(sess, Response):
            return sess
        if agree != "yes":
            return page(request, "terms.html", 400, error="You must agree to the Terms of Use to continue.")
        return sim.acknowledge_terms(sess)

    @app.get("/search")
    def search_form(request: Request) -> Response:
        sess = sim.current(request)
        return sess if isinstance(sess, Response) else page(request, "search.html", form={})

    def new_inquiry(request: Request, sess: PortalSession, form: dict[str, str]) -> int | Response:
        """Record a search; the inquiry id, or the search page with the reason it was refused."""
        claim_number, member_id = form["claim_number"].strip(), form["member_id"].strip()
        start, end = parse_date(form["dos_from"], DATE_FORMAT), parse_date(form["dos_to"], DATE_FORMAT)
        if not claim_number and not (member_id and start and end):
            return page(
                request,
                "search.html",
                400,
                form=form,
                error="Enter a payer claim number, or a member ID with service dates (MM/DD/YYYY).",
            )
        with sim.store.session() as s, s.begin():
            inquiry = Inquiry(
                user_id=sess.user_id,
                claim_number=claim_number or None,
                member_id=None if claim_number else member_id,
                dos_from=start,
                dos_to=end,
                submitted_at=sim.utcnow(),
            )
            s.add(inquiry)
            s.flush()
            return inquiry.id

    def results_page(request: Request, sess: PortalSession, inquiry_id: int, page_no: int) -> Response:
        with sim.store.session() as s:
            inquiry = s.get(Inquiry, inquiry_id)
            if inquiry is None or inquiry.user_id != sess.user_id:
                return sim.message(
                    request, 404, "Search not found", "That search is not available. Start a new search."
                )
            if inquiry.claim_number:
                where = Claim.claim_number == inquiry.claim_number
            else:
                where = and_(
                    Claim.member_id == inquiry.member_id,
                    Claim.dos_from <= inquiry.dos_to,
                    Claim.dos_to >= inquiry.dos_from,
                )
            total = s.scalar(select(func.count()).select_from(Claim).where(where)) or 0
            pages = max(1, -(-total // cfg.page_size))
            page_no = min(max(1, page_no), pages)
            rows = s.scalars(
                select(Claim)
                .where(where)
                .order_by(Claim.dos_from, Claim.claim_number)
                .offset((page_no - 1) * cfg.page_size)
                .limit(cfg.page_size)
            ).all()
        return page(
            request,
            "results.html",
            claims=[(r.claim_key, r.view()) for r in rows],
            total=total,
            page_no=page_no,
            pages=pages,
            inquiry_id=inquiry_id,
        )

    @app.post("/search")
    def search(
        request: Request,
        claim_number: str = Form(""),
        member_id: str = Form(""),
        dos_from: str = Form(""),
        dos_to: str = Form(""),
    ) -> Response:
        sess = sim.current(request)
        if isinstance(sess, Response):
            return sess
        form = {"claim_number": claim_number, "member_id": member_id, "dos_from": dos_from, "dos_to": dos_to}
        inquiry_id = new_inquiry(request, sess, form)
        return inquiry_id if isinstance(inquiry_id, Response) else RedirectResponse(f"/results/{inquiry_id}", 303)

    @app.get("/search/results")
    def search_link(
        request: Request, claim_number: str = "", member_id: str = "", dos_from: str = "", dos_to: str = ""
    ) -> Response:
        """A bookmarkable search (as many portals offer): results at once, without the form."""
        sess = sim.current(request)
        if isinstance(sess, Response):
            return sess
        form = {"claim_number": claim_number, "member_id": member_id, "dos_from": dos_from, "dos_to": dos_to}
        inquiry_id = new_inquiry(request, sess, form)
        return inquiry_id if isinstance(inquiry_id, Response) else results_page(request, sess, inquiry_id, 1)

    @app.get("/results/{inquiry_id}")
    def results(request: Request, inquiry_id: int, page_no: int = 1) -> Response:
        sess = sim.current(request)
        return sess if isinstance(sess, Response) else results_page(request, sess, inquiry_id, page_no)

    @app.get("/claims/{claim_key}")
    def detail(request: Request, claim_key: str) -> Response:
        sess = sim.current(request)
        if isinstance(sess, Response):
            return sess
        with sim.store.session() as s:
            claim = s.get(Claim, claim_key)
        if claim is None:
            return sim.message(request, 404, "Claim not found", "That claim is not available.")
        return page(
            request, "detail.html", c=claim.view(), retrieved=sim.local_now(), missing=sim.missing_fields(request)
        )

    @app.get("/logout")
    def logout(request: Request) -> RedirectResponse:
        return sim.logout(request)

    add_pages(RequestDesk(sim, WORDING[skin], REFERENCES[skin], TIME_FORMAT), page, REQUEST_PAGES)
    witness(sim)

    return app


def witness(sim: SimPortal) -> None:
    """What the witness log records: both sign-in steps, searches (the form, the bookmarkable
    link, a later page of results) and claims opened."""
    sim.witness.login("POST", "/login", "password", lambda asking: asking.text("username"))
    sim.witness.login("POST", "/mfa", "mfa")
    sim.witness.claims("POST", "/search", searched)
    sim.witness.claims("GET", "/search/results", searched)
    sim.witness.claims("GET", "/results/{inquiry_id}", lambda asking: results_of(sim, asking))
    sim.witness.claims("GET", "/claims/{claim_key}", sim.claim_opened)


def searched(asking: Asking) -> list[ClaimAsked]:
    fields = ("claim_number", "member_id", "dos_from", "dos_to")
    return [ClaimAsked("search", **{name: asking.text(name) for name in fields})]


def results_of(sim: SimPortal, asking: Asking) -> list[ClaimAsked]:
    """A later page of a search: what that search asked, as it was kept."""
    number = str(asking.path_params["inquiry_id"])
    with sim.store.session() as s:
        inquiry = s.get(Inquiry, int(number)) if number.isdigit() else None
    if inquiry is None:
        return [ClaimAsked("results")]
    return [
        ClaimAsked(
            "results",
            claim_number=inquiry.claim_number,
            member_id=inquiry.member_id,
            dos_from=inquiry.dos_from.strftime(DATE_FORMAT) if inquiry.dos_from else None,
            dos_to=inquiry.dos_to.strftime(DATE_FORMAT) if inquiry.dos_to else None,
        )
    ]
