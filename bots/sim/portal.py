"""The simulated payer portal "Bluestem Health Plan": a server-rendered web app with login,
TOTP MFA, a daily terms-of-use page (in the portal's own time zone), claim search, paginated
results, claim detail, idle session expiry, and faults on demand for tests and chaos runs."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyotp
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import and_, func, select

from bots.core.settings import SimSettings
from bots.sim.dataset import build_dataset
from bots.sim.store import Claim, Inquiry, PortalSession, PortalStore, TermsAck, User, check_password, utcnow

COOKIE = "bs_session"
DATE_FORMAT = "%m/%d/%Y"


@dataclass
class PortalConfig:
    db_path: Path
    seed: int = 7
    claims: int = 200
    latency_ms: int = 0
    session_idle_s: float = 900.0
    totp_valid_window: int = 1
    page_size: int = 10
    timezone: str = "America/Chicago"
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    @classmethod
    def from_settings(cls, sim: SimSettings, db_path: Path, claims: int | None = None) -> PortalConfig:
        return cls(db_path=db_path, seed=sim.seed, claims=claims or sim.claims,
                   latency_ms=sim.latency_ms, session_idle_s=sim.session_idle_s,
                   totp_valid_window=sim.totp_valid_window,
                   page_size=sim.page_size, timezone=sim.timezone)


@dataclass
class Faults:
    """Faults on demand, set through POST /_sim/faults (loopback, admin token)."""

    fail_next: int = 0  # answer the next N page requests with 503
    latency_ms: int | None = None  # override the configured latency


@dataclass
class Stats:
    """What the portal saw, for tests of client behaviour (GET /_sim/stats)."""

    in_flight: int = 0  # page requests being answered now
    max_in_flight: int = 0
    pages: int = 0


def _money(cents: int | None) -> str:
    return "" if cents is None else f"${cents / 100:,.2f}"


def _date(value: Any) -> str:
    if not value:
        return ""
    return dt.date.fromisoformat(str(value)[:10]).strftime(DATE_FORMAT)


def _parse_date(text: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(text.strip(), DATE_FORMAT).date()
    except ValueError:
        return None


def create_app(cfg: PortalConfig) -> FastAPI:
    store = PortalStore(cfg.db_path)
    store.seed_claims(build_dataset(cfg.seed, cfg.claims).claims)
    tz = ZoneInfo(cfg.timezone)
    faults = Faults()
    stats = Stats()
    env = Environment(loader=PackageLoader("bots.sim", "templates"), autoescape=select_autoescape())
    env.filters.update(money=_money, date=_date)
    templates = Jinja2Templates(env=env)
    app = FastAPI(title="Bluestem Health Plan provider portal (simulated)", docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(packages=[("bots.sim", "static")]), name="static")

    def page(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        ctx.setdefault("timezone", cfg.timezone)
        return templates.TemplateResponse(request, name, ctx, status_code=status)

    @app.middleware("http")
    async def latency_and_faults(request: Request, call_next: Any) -> Response:
        if request.url.path.startswith(("/_sim", "/static", "/healthz")):
            return await call_next(request)
        stats.pages += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            delay = faults.latency_ms if faults.latency_ms is not None else cfg.latency_ms
            if delay:
                await asyncio.sleep(delay / 1000)
            if faults.fail_next > 0:
                faults.fail_next -= 1
                return page(request, "message.html", 503, title="Service temporarily unavailable",
                            message="The claim system is not responding. Please try again shortly.")
            return await call_next(request)
        finally:
            stats.in_flight -= 1

    def current(request: Request, want: str = "ready") -> PortalSession | Response:
        """The caller's session at the wanted stage, or the redirect that fixes it."""
        token = request.cookies.get(COOKIE)
        with store.session() as s, s.begin():
            sess = s.get(PortalSession, token) if token else None
            if sess is None:
                return RedirectResponse("/login", 303)
            if (utcnow() - sess.last_seen).total_seconds() > cfg.session_idle_s:
                s.delete(sess)
                return RedirectResponse("/login?expired=1", 303)
            if sess.stage != want:
                return RedirectResponse(f"/{'search' if sess.stage == 'ready' else sess.stage}", 303)
            sess.last_seen = utcnow()
            return sess

    def advance(sess_token: str, user_id: int) -> RedirectResponse:
        """After a passed step: terms once per portal-local day, then the search page."""
        today = dt.datetime.now(tz).date()
        with store.session() as s, s.begin():
            acked = s.get(TermsAck, (user_id, today)) is not None
            sess = s.get(PortalSession, sess_token)
            assert sess is not None
            sess.stage = "ready" if acked else "terms"
        return RedirectResponse("/search" if acked else "/terms", 303)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/")
    def root() -> RedirectResponse:
        return RedirectResponse("/search", 303)

    @app.get("/login")
    def login_form(request: Request, expired: int = 0) -> HTMLResponse:
        notice = "Your session has expired due to inactivity. Please sign in again." if expired else None
        return page(request, "login.html", notice=notice)

    @app.post("/login")
    def login(request: Request, username: str = Form(""), password: str = Form("")) -> Response:
        with store.session() as s, s.begin():
            user = s.scalar(select(User).where(User.username == username))
            if user is None or not check_password(password, user.password_hash):
                return page(request, "login.html", 401, error="The user ID or password is incorrect.")
            token = secrets.token_urlsafe(24)
            s.add(PortalSession(token=token, user_id=user.id, stage="mfa", last_seen=utcnow()))
            has_mfa, user_id = user.totp_secret is not None, user.id
        response = RedirectResponse("/mfa", 303) if has_mfa else advance(token, user_id)
        response.set_cookie(COOKIE, token, httponly=True, samesite="lax")
        return response

    @app.get("/mfa")
    def mfa_form(request: Request) -> Response:
        sess = current(request, "mfa")
        return sess if isinstance(sess, Response) else page(request, "mfa.html")

    @app.post("/mfa")
    def mfa(request: Request, code: str = Form("")) -> Response:
        sess = current(request, "mfa")
        if isinstance(sess, Response):
            return sess
        with store.session() as s:
            user = s.get(User, sess.user_id)
        assert user is not None and user.totp_secret
        totp = pyotp.TOTP(user.totp_secret)  # RFC 6238's 30-second step, as authenticator apps use
        if not totp.verify(code.strip(), valid_window=cfg.totp_valid_window):
            return page(request, "mfa.html", 401, error="That verification code is not valid.")
        return advance(sess.token, sess.user_id)

    @app.get("/terms")
    def terms_form(request: Request) -> Response:
        sess = current(request, "terms")
        return sess if isinstance(sess, Response) else page(request, "terms.html")

    @app.post("/terms")
    def terms(request: Request, agree: str = Form("")) -> Response:
        sess = current(request, "terms")
        if isinstance(sess, Response):
            return sess
        if agree != "yes":
            return page(request, "terms.html", 400, error="You must agree to the Terms of Use to continue.")
        with store.session() as s, s.begin():
            s.merge(TermsAck(user_id=sess.user_id, local_date=dt.datetime.now(tz).date(), acked_at=utcnow()))
        return advance(sess.token, sess.user_id)

    @app.get("/search")
    def search_form(request: Request) -> Response:
        sess = current(request)
        return sess if isinstance(sess, Response) else page(request, "search.html", form={})

    def new_inquiry(request: Request, sess: PortalSession, form: dict[str, str]) -> int | Response:
        """Record a search; the inquiry id, or the search page with the reason it was refused."""
        claim_number, member_id = form["claim_number"].strip(), form["member_id"].strip()
        start, end = _parse_date(form["dos_from"]), _parse_date(form["dos_to"])
        if not claim_number and not (member_id and start and end):
            return page(request, "search.html", 400, form=form,
                        error="Enter a payer claim number, or a member ID with service dates (MM/DD/YYYY).")
        with store.session() as s, s.begin():
            inquiry = Inquiry(user_id=sess.user_id, claim_number=claim_number or None,
                              member_id=None if claim_number else member_id,
                              dos_from=start, dos_to=end, submitted_at=utcnow())
            s.add(inquiry)
            s.flush()
            return inquiry.id

    def results_page(request: Request, sess: PortalSession, inquiry_id: int, page_no: int) -> Response:
        with store.session() as s:
            inquiry = s.get(Inquiry, inquiry_id)
            if inquiry is None or inquiry.user_id != sess.user_id:
                return page(request, "message.html", 404, title="Search not found",
                            message="That search is not available. Start a new search.")
            if inquiry.claim_number:
                where = Claim.claim_number == inquiry.claim_number
            else:
                where = and_(Claim.member_id == inquiry.member_id,
                             Claim.dos_from <= inquiry.dos_to, Claim.dos_to >= inquiry.dos_from)
            total = s.scalar(select(func.count()).select_from(Claim).where(where)) or 0
            pages = max(1, -(-total // cfg.page_size))
            page_no = min(max(1, page_no), pages)
            rows = s.scalars(select(Claim).where(where).order_by(Claim.dos_from, Claim.claim_number)
                             .offset((page_no - 1) * cfg.page_size).limit(cfg.page_size)).all()
        return page(request, "results.html", claims=[(r.claim_key, r.view()) for r in rows],
                    total=total, page_no=page_no, pages=pages, inquiry_id=inquiry_id)

    @app.post("/search")
    def search(
        request: Request,
        claim_number: str = Form(""),
        member_id: str = Form(""),
        dos_from: str = Form(""),
        dos_to: str = Form(""),
    ) -> Response:
        sess = current(request)
        if isinstance(sess, Response):
            return sess
        form = {"claim_number": claim_number, "member_id": member_id, "dos_from": dos_from, "dos_to": dos_to}
        inquiry_id = new_inquiry(request, sess, form)
        return inquiry_id if isinstance(inquiry_id, Response) else RedirectResponse(f"/results/{inquiry_id}", 303)

    @app.get("/search/results")
    def search_link(request: Request, claim_number: str = "", member_id: str = "", dos_from: str = "",
                    dos_to: str = "") -> Response:
        """A bookmarkable search (as many portals offer): results at once, without the form."""
        sess = current(request)
        if isinstance(sess, Response):
            return sess
        form = {"claim_number": claim_number, "member_id": member_id, "dos_from": dos_from, "dos_to": dos_to}
        inquiry_id = new_inquiry(request, sess, form)
        return inquiry_id if isinstance(inquiry_id, Response) else results_page(request, sess, inquiry_id, 1)

    @app.get("/results/{inquiry_id}")
    def results(request: Request, inquiry_id: int, page_no: int = 1) -> Response:
        sess = current(request)
        return sess if isinstance(sess, Response) else results_page(request, sess, inquiry_id, page_no)

    @app.get("/claims/{claim_key}")
    def detail(request: Request, claim_key: str) -> Response:
        sess = current(request)
        if isinstance(sess, Response):
            return sess
        with store.session() as s:
            claim = s.get(Claim, claim_key)
        if claim is None:
            return page(request, "message.html", 404, title="Claim not found",
                        message="That claim is not available.")
        return page(request, "detail.html", c=claim.view(),
                    retrieved=dt.datetime.now(tz).strftime("%m/%d/%Y %I:%M %p %Z"))

    @app.get("/logout")
    def logout(request: Request) -> RedirectResponse:
        token = request.cookies.get(COOKIE)
        if token:
            with store.session() as s, s.begin():
                if (sess := s.get(PortalSession, token)) is not None:
                    s.delete(sess)
        response = RedirectResponse("/login", 303)
        response.delete_cookie(COOKIE)
        return response

    @app.post("/_sim/faults")
    async def set_faults(request: Request) -> JSONResponse:
        """Test hook: expire every session now, fail the next N pages, or change latency."""
        if not secrets.compare_digest(request.headers.get("x-sim-admin", ""), cfg.admin_token):
            return JSONResponse({"error": "forbidden"}, 403)
        body = await request.json()
        if body.get("expire_sessions"):
            with store.session() as s, s.begin():
                for sess in s.scalars(select(PortalSession)):
                    sess.last_seen = dt.datetime(2000, 1, 1)
        faults.fail_next = int(body.get("fail_next", faults.fail_next))
        if "latency_ms" in body:
            faults.latency_ms = body["latency_ms"]
        return JSONResponse({"fail_next": faults.fail_next, "latency_ms": faults.latency_ms})

    @app.get("/_sim/stats")
    def get_stats(request: Request) -> JSONResponse:
        """Test hook: how many page requests, and most at once."""
        if not secrets.compare_digest(request.headers.get("x-sim-admin", ""), cfg.admin_token):
            return JSONResponse({"error": "forbidden"}, 403)
        return JSONResponse({"pages": stats.pages, "max_in_flight": stats.max_in_flight})

    app.state.store = store
    app.state.config = cfg
    return app
