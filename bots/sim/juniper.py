"""The simulated payer portal "Juniper Health Provider Center": built unlike Bluestem on purpose.
A two-step sign-in (username, then password) without MFA or terms; then a single-page app
that renders claims client-side from a JSON API into an ARIA grid of divs, with each claim's
details in an expandable panel instead of a page of their own, in Juniper's own status
wording ("Finalized – Denied") and ISO dates.

Corrected-claim and reconsideration requests (bots.sim.corrections) are views of the same app
(/app/requests/new, /app/requests/{id}, /app/requests) over /api/requests: the form posts JSON
and gets the new request back (201) or the problems with it (422)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import and_
from starlette.concurrency import run_in_threadpool

from bots.sim.corrections import RequestDesk, Wording, form_values
from bots.sim.portal import PortalConfig, SimPortal, parse_date
from bots.sim.store import Claim, PortalSession
from bots.sim.witness import Asking, ClaimAsked

DATE_FORMAT = "%Y-%m-%d"
PATHS = {"login": "/signin", "ready": "/app"}
LOGIN_COOKIE = "jn_login"  # the username between the two sign-in steps
TIME_FORMAT = "%Y-%m-%d %H:%M %Z"
# The request form's words: the app shows them (the shell hands them to juniper.js) and the API's
# problems name fields by them.
WORDING = Wording(
    labels={
        "kind": "Request type",
        "claim_number": "Claim number",
        "line": "Service line",
        "procedure_code": "Corrected CPT/HCPCS code",
        "modifiers": "Corrected modifier(s)",
        "reason": "Reason for this request",
        "your_reference": "Your reference",
    },
    options={"corrected": "Corrected claim – replacement (frequency 7)", "reconsideration": "Reconsideration"},
    kinds={"corrected": "Corrected claim", "reconsideration": "Reconsideration"},
)


def create_app(cfg: PortalConfig) -> FastAPI:
    sim = SimPortal(cfg, "Juniper Health Provider Center", ["JNPR1"], "jn_session", PATHS, DATE_FORMAT)
    app, page = sim.app, sim.page

    desk = RequestDesk(sim, WORDING, lambda number, local: f"JH-REQ-{local:%y%m%d}-{number:04d}", TIME_FORMAT)

    def signed_in(request: Request) -> PortalSession | Response:
        """The caller's session, or the API's answer to a caller without one (the app then signs in again)."""
        sess = sim.current(request)
        return JSONResponse({"error": "session expired"}, 401) if isinstance(sess, Response) else sess

    def session_or_401(request: Request) -> Response | None:
        sess = signed_in(request)
        return sess if isinstance(sess, Response) else None

    @app.get("/")
    def root() -> RedirectResponse:
        return RedirectResponse("/app", 303)

    @app.get("/signin")
    def signin_form(request: Request, expired: int = 0) -> Response:
        notice = "You were signed out after a period of inactivity." if expired else None
        return page(request, "juniper/signin.html", notice=notice)

    @app.post("/signin")
    def signin(login_id: str = Form("")) -> Response:
        # Like real portals, the password step follows whether or not the username exists.
        response = RedirectResponse("/signin/password", 303)
        response.set_cookie(LOGIN_COOKIE, login_id.strip(), httponly=True, samesite="lax", max_age=600)
        return response

    @app.get("/signin/password")
    def password_form(request: Request) -> Response:
        login_id = request.cookies.get(LOGIN_COOKIE)
        if not login_id:
            return RedirectResponse("/signin", 303)
        return page(request, "juniper/password.html", login_id=login_id)

    @app.post("/signin/password")
    def password(request: Request, passwd: str = Form("")) -> Response:
        login_id = request.cookies.get(LOGIN_COOKIE, "")
        user = sim.authenticate(request, login_id, passwd)
        if user is None:
            return page(
                request, "juniper/signin.html", 401, error="We could not sign you in with that username and password."
            )
        token = sim.start_session(user.id, "ready")
        response = sim.with_cookie(RedirectResponse("/app", 303), token)
        response.delete_cookie(LOGIN_COOKIE)
        return response

    @app.get("/app")
    @app.get("/app/claims")
    @app.get("/app/requests")
    @app.get("/app/requests/new")
    @app.get("/app/requests/{request_id}")
    def shell(request: Request) -> Response:
        sess = sim.current(request)
        if isinstance(sess, Response):
            return sess
        return page(request, "juniper/app.html", wording=asdict(WORDING))

    @app.get("/api/claims")
    def find_claims(request: Request) -> Response:
        """?claim=… or ?member=…&from=…&to=…, and &page=N."""
        refused = session_or_401(request)
        if refused:
            return refused
        q = request.query_params
        claim, member, start, end = (q.get("claim", ""), q.get("member", ""), q.get("from", ""), q.get("to", ""))
        first, last = parse_date(start, DATE_FORMAT), parse_date(end, DATE_FORMAT)
        if claim.strip():
            where: Any = Claim.claim_number == claim.strip()
        elif member.strip() and first and last:
            where = and_(Claim.member_id == member.strip(), Claim.dos_from <= last, Claim.dos_to >= first)
        else:
            return JSONResponse(
                {"error": "Enter a claim number, or a subscriber ID with service dates (YYYY-MM-DD)."}, 400
            )
        found = sim.claims_where(where)
        pages = max(1, -(-len(found) // cfg.page_size))
        number = min(max(1, int(q.get("page", "1") or 1)), pages)
        shown = found[(number - 1) * cfg.page_size : number * cfg.page_size]
        return JSONResponse(
            {
                "total": len(found),
                "page": number,
                "pages": pages,
                "claims": [
                    {
                        "key": c["claim_key"],
                        "claim_no": c["claim_number"],
                        "patient": c["patient_name"],
                        "account": c["account_number"],
                        "from": c["dos_from"],
                        "to": c["dos_to"],
                        "billed_cents": c["billed_cents"],
                        "status": c["status_text"],
                    }
                    for c in shown
                ],
            }
        )

    @app.get("/api/claims/{claim_key}")
    def claim_detail(request: Request, claim_key: str) -> Response:
        refused = session_or_401(request)
        if refused:
            return refused
        with sim.store.session() as s:
            claim = s.get(Claim, claim_key)
        if claim is None:
            return JSONResponse({"error": "That claim is not available."}, 404)
        missing = sim.missing_fields(request)  # the "missing fields" fault: keys left out
        return JSONResponse({key: value for key, value in claim.view().items() if key not in missing})

    @app.get("/api/requests")
    def list_requests(request: Request, claim: str = "") -> Response:
        """The user's requests, newest first; ?claim=… only that claim's."""
        sess = signed_in(request)
        if isinstance(sess, Response):
            return sess
        return JSONResponse({"requests": [desk.shown(row) for row in desk.mine(sess.user_id, claim)]})

    @app.post("/api/requests")
    async def submit_request(request: Request) -> Response:
        """A JSON object of the form's fields: 201 {"request": …}, or 422 {"error", "problems"}."""
        try:
            body = await request.json()
        except ValueError:
            body = None

        def submit() -> Response:
            sess = signed_in(request)
            if isinstance(sess, Response):
                return sess
            if not isinstance(body, dict):
                return JSONResponse({"error": "Send the request's fields as a JSON object."}, 400)
            checked = desk.check(form_values(body))
            if isinstance(checked, list):
                problems = [{"field": name, "message": message} for name, message in checked]
                return JSONResponse({"error": " ".join(p["message"] for p in problems), "problems": problems}, 422)
            return JSONResponse({"request": desk.shown(desk.record(sess.user_id, checked))}, 201)

        return await run_in_threadpool(submit)

    @app.get("/api/requests/{request_id}")
    def one_request(request: Request, request_id: int) -> Response:
        sess = signed_in(request)
        if isinstance(sess, Response):
            return sess
        row = desk.one(sess.user_id, request_id)
        if row is None:
            return JSONResponse({"error": "That request is not available."}, 404)
        return JSONResponse({"request": desk.shown(row)})

    @app.get("/signout")
    def signout(request: Request) -> RedirectResponse:
        return sim.logout(request)

    witness(sim)
    return app


def witness(sim: SimPortal) -> None:
    """What the witness log records: the password step (the username step judges nothing), and a
    search twice, as the portal receives it: the app's page named in the address bar, then the
    API call its script makes; and each claim's details the API hands out."""
    sim.witness.login("POST", "/signin/password", "password", lambda asking: asking.cookies.get(LOGIN_COOKIE))
    sim.witness.claims("GET", "/app/claims", searched)
    sim.witness.claims("GET", "/api/claims", searched)
    sim.witness.claims("GET", "/api/claims/{claim_key}", sim.claim_opened)


def searched(asking: Asking) -> list[ClaimAsked]:
    """A search by claim number, or by subscriber ID and dates; nothing for the app's empty form."""
    fields = {"claim_number": "claim", "member_id": "member", "dos_from": "from", "dos_to": "to"}
    asked = {name: asking.text(param) for name, param in fields.items()}
    return [ClaimAsked("search", **asked)] if any(asked.values()) else []
