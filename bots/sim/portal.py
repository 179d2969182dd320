"""What every simulated portal shares: its own database, server-side sessions with idle expiry,
users with passwords (and TOTP or mailbox codes), a once-a-day terms page in the portal's time
zone, latency and faults on demand, request statistics, and a "drift" layout variant that
renames what a selector map looks for first. Each portal module adds its own screens.

For tests, a running portal can be reset to a fresh state (no sessions, terms acknowledgements,
mailed codes, inquiries, submitted requests, faults or statistics; its claims and users kept) with some settings
changed, and its clock moved forward, so time-based behaviour is tested without sleeping."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import delete, select

from bots.core.settings import SimSettings
from bots.sim.dataset import build_dataset
from bots.sim.store import (
    BatchInquiry,
    Claim,
    Inquiry,
    MailMessage,
    PortalSession,
    PortalStore,
    Submission,
    TermsAck,
    User,
    check_password,
    utcnow,
)

Kind = Literal["bluestem", "cedar", "juniper", "harbor", "sagebrush"]
Layout = Literal["normal", "drift"]


@dataclass
class PortalConfig:
    db_path: Path
    kind: Kind = "bluestem"
    layout: Layout = "normal"  # "drift": labels and names a selector map tries first are changed
    seed: int = 7
    claims: int = 200  # worklist items per payer the portal serves; its claims are built from them
    latency_ms: int = 0
    session_idle_s: float = 900.0
    totp_valid_window: int = 1
    mail_code_ttl_s: float = 600.0
    page_size: int = 10
    timezone: str = "America/Chicago"
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    @classmethod
    def from_settings(
        cls,
        sim: SimSettings,
        db_path: Path,
        claims: int | None = None,
        kind: Kind = "bluestem",
        layout: Layout = "normal",
        timezone: str | None = None,
    ) -> PortalConfig:
        return cls(
            db_path=db_path,
            kind=kind,
            layout=layout,
            seed=sim.seed,
            claims=claims or sim.claims,
            latency_ms=sim.latency_ms,
            session_idle_s=sim.session_idle_s,
            totp_valid_window=sim.totp_valid_window,
            mail_code_ttl_s=sim.mail_code_ttl_s,
            page_size=sim.page_size,
            timezone=timezone or sim.timezone,
        )


# What POST /_sim/reset may change for the next test; the rest (kind, layout, data set, time
# zone) would need another app or another database.
RESETTABLE = ("latency_ms", "session_idle_s", "totp_valid_window", "mail_code_ttl_s", "page_size")


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


def money(cents: Any) -> str:
    return f"${cents / 100:,.2f}" if isinstance(cents, int) else ""


def date_filter(fmt: str) -> Callable[[Any], str]:
    def render(value: Any) -> str:
        return dt.date.fromisoformat(str(value)[:10]).strftime(fmt) if value else ""

    return render


def parse_date(text: str, fmt: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(text.strip(), fmt).date()
    except ValueError:
        return None


class SimPortal:
    """The FastAPI app of one simulated portal plus the machinery its screens share.

    `paths` names where each session stage lives (login, mfa, terms, ready): a session at the
    wrong stage is redirected there, an unknown or idle one to the login page."""

    def __init__(
        self, cfg: PortalConfig, title: str, payers: list[str], cookie: str, paths: dict[str, str], date_format: str
    ) -> None:
        self.cfg, self.cookie, self.paths, self.date_format = cfg, cookie, paths, date_format
        self.store = PortalStore(cfg.db_path)
        self.store.seed_claims([c for p in payers for c in build_dataset(cfg.seed, cfg.claims, p).claims])
        self.tz = ZoneInfo(cfg.timezone)
        self.faults, self.stats = Faults(), Stats()
        self.initial = dataclasses.replace(cfg)  # what a reset returns to
        self.clock_offset = dt.timedelta(0)  # moved forward by POST /_sim/faults {"advance_clock_s": N}
        env = Environment(loader=PackageLoader("bots.sim", "templates"), autoescape=select_autoescape())
        env.filters.update(money=money, date=date_filter(date_format))
        self.templates = Jinja2Templates(env=env)
        self.app = FastAPI(title=f"{title} (simulated)", docs_url=None, redoc_url=None)
        self.app.mount("/static", StaticFiles(packages=[("bots.sim", "static")]), name="static")
        self.app.middleware("http")(self._latency_and_faults)
        self._admin_routes()
        self.app.state.store, self.app.state.config = self.store, cfg

    # -- rendering ------------------------------------------------------------------------------
    def page(self, request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        ctx.setdefault("timezone", self.cfg.timezone)
        ctx.setdefault("drift", self.cfg.layout == "drift")
        return self.templates.TemplateResponse(request, name, ctx, status_code=status)

    # -- the portal's clock (real time, moved forward on demand) -----------------------------------
    def utcnow(self) -> dt.datetime:
        """Naive UTC on the portal's clock, as its database stores it."""
        return utcnow() + self.clock_offset

    def local(self) -> dt.datetime:
        """Now in the portal's time zone."""
        return dt.datetime.now(self.tz) + self.clock_offset

    def local_now(self) -> str:
        """Now in the portal's time zone, as its pages show it."""
        return self.local().strftime("%m/%d/%Y %I:%M %p %Z")

    def message(self, request: Request, status: int, title: str, text: str) -> HTMLResponse:
        return self.page(request, f"{self.cfg.kind}/message.html", status, title=title, message=text)

    async def _latency_and_faults(self, request: Request, call_next: Any) -> Response:
        # Not pages: test hooks, static files, the mailbox, and the icon Chromium asks for after
        # each page (it would overlap the next page and count as a page in flight).
        if request.url.path.startswith(("/_sim", "/static", "/healthz", "/mailbox", "/favicon.ico")):
            return await call_next(request)
        stats, faults = self.stats, self.faults
        stats.pages += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            delay = faults.latency_ms if faults.latency_ms is not None else self.cfg.latency_ms
            if delay:
                await asyncio.sleep(delay / 1000)
            if faults.fail_next > 0:
                faults.fail_next -= 1
                return self.message(
                    request,
                    503,
                    "Service temporarily unavailable",
                    "The claim system is not responding. Please try again shortly.",
                )
            return await call_next(request)
        finally:
            stats.in_flight -= 1

    # -- sessions -------------------------------------------------------------------------------
    def authenticate(self, username: str, password: str) -> User | None:
        with self.store.session() as s:
            user = s.scalar(select(User).where(User.username == username))
        return user if user is not None and check_password(password, user.password_hash) else None

    def user(self, user_id: int) -> User:
        with self.store.session() as s:
            user = s.get(User, user_id)
        assert user is not None
        return user

    def start_session(self, user_id: int, stage: str) -> str:
        token = secrets.token_urlsafe(24)
        with self.store.session() as s, s.begin():
            s.add(PortalSession(token=token, user_id=user_id, stage=stage, last_seen=self.utcnow()))
        return token

    def with_cookie(self, response: Response, token: str) -> Response:
        response.set_cookie(self.cookie, token, httponly=True, samesite="lax")
        return response

    def current(self, request: Request, want: str = "ready") -> PortalSession | Response:
        """The caller's session at the wanted stage, or the redirect that fixes it."""
        token = request.cookies.get(self.cookie)
        with self.store.session() as s, s.begin():
            sess = s.get(PortalSession, token) if token else None
            if sess is None:
                return RedirectResponse(self.paths["login"], 303)
            if (self.utcnow() - sess.last_seen).total_seconds() > self.cfg.session_idle_s:
                s.delete(sess)
                return RedirectResponse(f"{self.paths['login']}?expired=1", 303)
            if sess.stage != want:
                return RedirectResponse(self.paths[sess.stage], 303)
            sess.last_seen = self.utcnow()
            return sess

    def advance(self, token: str, user_id: int, terms: bool = True) -> RedirectResponse:
        """After a passed step: the terms page once per portal-local day (if the portal has one),
        then the portal's start screen."""
        today = self.local().date()
        with self.store.session() as s, s.begin():
            acked = not terms or s.get(TermsAck, (user_id, today)) is not None
            sess = s.get(PortalSession, token)
            assert sess is not None
            sess.stage = "ready" if acked else "terms"
        return RedirectResponse(self.paths[sess.stage], 303)

    def acknowledge_terms(self, sess: PortalSession) -> RedirectResponse:
        with self.store.session() as s, s.begin():
            s.merge(TermsAck(user_id=sess.user_id, local_date=self.local().date(), acked_at=self.utcnow()))
        return self.advance(sess.token, sess.user_id)

    def logout(self, request: Request) -> RedirectResponse:
        token = request.cookies.get(self.cookie)
        if token:
            with self.store.session() as s, s.begin():
                if (sess := s.get(PortalSession, token)) is not None:
                    s.delete(sess)
        response = RedirectResponse(self.paths["login"], 303)
        response.delete_cookie(self.cookie)
        return response

    def claims_where(self, *where: Any) -> list[dict[str, Any]]:
        """Claims matching SQL conditions, oldest service first, as the data set built them."""
        with self.store.session() as s:
            rows = s.scalars(select(Claim).where(*where).order_by(Claim.dos_from, Claim.claim_number)).all()
        return [r.view() for r in rows]

    # -- test hooks -----------------------------------------------------------------------------
    def _admin(self, request: Request) -> bool:
        return secrets.compare_digest(request.headers.get("x-sim-admin", ""), self.cfg.admin_token)

    def reset(self, config: dict[str, Any], terms_accepted: bool = False) -> None:
        """Back to a fresh state without reseeding: the claims and users stay; sessions, terms
        acknowledgements, mailed codes, inquiries, submitted requests, faults, statistics and the
        clock go; the
        settings are the start's, with `config` (RESETTABLE names) changed."""
        unknown = sorted(set(config) - set(RESETTABLE))
        if unknown:
            raise ValueError(f"cannot reset {', '.join(unknown)} (only {', '.join(RESETTABLE)})")
        for name in RESETTABLE:  # in place: every screen holds this config object
            setattr(self.cfg, name, config.get(name, getattr(self.initial, name)))
        self.faults = Faults()
        self.stats.pages, self.stats.max_in_flight = 0, self.stats.in_flight
        self.clock_offset = dt.timedelta(0)
        with self.store.session() as s, s.begin():
            for table in (PortalSession, TermsAck, MailMessage, Inquiry, BatchInquiry, Submission):
                s.execute(delete(table))
            if terms_accepted:  # today's terms already accepted by every user
                for user_id in s.scalars(select(User.id)).all():
                    s.add(TermsAck(user_id=user_id, local_date=self.local().date(), acked_at=self.utcnow()))

    def _admin_routes(self) -> None:
        app = self.app

        @app.get("/healthz")
        def healthz() -> dict[str, str]:
            return {"status": "ok"}

        @app.post("/_sim/reset")
        async def reset(request: Request) -> JSONResponse:
            """A fresh state for the next test: {"terms_accepted": bool, <RESETTABLE setting>: value}."""
            if not self._admin(request):
                return JSONResponse({"error": "forbidden"}, 403)
            body = dict(await request.json())
            try:
                self.reset(body, terms_accepted=bool(body.pop("terms_accepted", False)))
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, 400)
            return JSONResponse({name: getattr(self.cfg, name) for name in RESETTABLE})

        @app.post("/_sim/faults")
        async def set_faults(request: Request) -> JSONResponse:
            """Expire every session now, fail the next N pages, change latency, or move the
            portal's clock forward by N seconds (sessions idle, mailed codes age)."""
            if not self._admin(request):
                return JSONResponse({"error": "forbidden"}, 403)
            body = await request.json()
            if body.get("advance_clock_s"):
                self.clock_offset += dt.timedelta(seconds=float(body["advance_clock_s"]))
            if body.get("expire_sessions"):
                with self.store.session() as s, s.begin():
                    for sess in s.scalars(select(PortalSession)):
                        sess.last_seen = dt.datetime(2000, 1, 1)
            self.faults.fail_next = int(body.get("fail_next", self.faults.fail_next))
            if "latency_ms" in body:
                self.faults.latency_ms = body["latency_ms"]
            return JSONResponse({"fail_next": self.faults.fail_next, "latency_ms": self.faults.latency_ms})

        @app.get("/_sim/stats")
        def get_stats(request: Request) -> JSONResponse:
            """How many page requests, and most at once."""
            if not self._admin(request):
                return JSONResponse({"error": "forbidden"}, 403)
            return JSONResponse({"pages": self.stats.pages, "max_in_flight": self.stats.max_in_flight})

        @app.get("/_sim/submissions")
        def get_submissions(request: Request) -> JSONResponse:
            """Every corrected-claim and reconsideration request the portal accepted, oldest
            first, whoever sent it: what a test counts, beside what the pages show."""
            if not self._admin(request):
                return JSONResponse({"error": "forbidden"}, 403)
            with self.store.session() as s:
                rows = s.execute(
                    select(Submission, User.username).join(User, User.id == Submission.user_id).order_by(Submission.id)
                ).all()
            return JSONResponse({"submissions": [{**row.view(), "username": username} for row, username in rows]})
