"""What every simulated portal shares: its own database, server-side sessions with idle expiry,
users with passwords (and TOTP or mailbox codes), a once-a-day terms page in the portal's time
zone, latency and faults on demand (bots.sim.faults), request statistics, the witness log of
sign-ins and claims asked (bots.sim.witness), and a "drift" layout variant that renames what a
selector map looks for first. Each portal module adds its own screens.

For tests, a running portal can be reset to a fresh state (no sessions, terms acknowledgements,
mailed codes, inquiries, submitted requests, witness log, faults or statistics; its claims and
users kept) with some settings changed, and its clock moved forward, so time-based behaviour is
tested without sleeping."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import delete, select, update
from starlette.concurrency import run_in_threadpool

from bots.core.settings import SimSettings
from bots.sim.dataset import build_dataset
from bots.sim.faults import (
    PROFILES,
    SWITCHES,
    TRANSIENT,
    FaultProfileError,
    Faults,
    Transient,
    portal_seed,
    profile,
    switched,
)
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
from bots.sim.witness import Asking, ClaimAsked, Witness

T = TypeVar("T")
Kind = Literal["bluestem", "cedar", "juniper", "harbor", "sagebrush"]
Layout = Literal["normal", "drift"]
UNAVAILABLE = "Service temporarily unavailable"  # the heading every selector map's page.unavailable finds
HANG_POLL_S = 0.1  # how often a hung response looks whether its client gave up
FAULT_PAGES: frozenset[Transient] = frozenset(TRANSIENT) - {"session_expired"}  # answered instead of the page


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
    faults: str = "none"  # the fault profile it runs with (bots.sim.faults.PROFILES)
    fault_rate: float = 0.2  # share of page requests its profile fails, unless the profile fixes it
    hang_s: float = 30.0  # how long a hung response is held: past a client's navigation timeout
    retry_after_s: int = 5  # the Retry-After of a 429
    maintenance_s: int = 1800  # how long a maintenance window lasts from now (its Retry-After)
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    def __post_init__(self) -> None:
        profile(self.faults)

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
        """The portal of `kind` as the settings describe it, with the fault profile
        RCMBOT_SIM__FAULTS names for it (a FaultProfileError, a ValueError, if it names none known)."""
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
            faults=fault_profile_for(sim, kind),
            fault_rate=sim.fault_rate,
        )


def fault_profile_for(sim: SimSettings, kind: str) -> str:
    """The fault profile the settings give the portal `kind` ("none" unless named)."""
    for key, name in sim.faults.items():
        if key not in get_args(Kind):
            known = ", ".join(get_args(Kind))
            raise FaultProfileError("RCMBOT_SIM__FAULTS", None, key, f"no simulated portal {key!r} (known: {known})")
        if name not in PROFILES:
            known = ", ".join(PROFILES)
            raise FaultProfileError("RCMBOT_SIM__FAULTS", None, key, f"unknown fault profile {name!r} (known: {known})")
    return sim.faults.get(kind, "none")


# What POST /_sim/reset may change for the next test; the rest (kind, layout, data set, time
# zone) would need another app or another database.
RESETTABLE = (
    "latency_ms",
    "session_idle_s",
    "totp_valid_window",
    "mail_code_ttl_s",
    "page_size",
    "faults",
    "fault_rate",
    "hang_s",
    "retry_after_s",
    "maintenance_s",
)
# POST /_sim/faults: one-off faults and clock moves, beside a profile and its switches (faults.SWITCHES).
ONE_OFF = ("profile", "expire_sessions", "fail_next", "latency_ms", "advance_clock_s")


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
        self.stats = Stats()
        self.initial = dataclasses.replace(cfg)  # what a reset returns to
        self.faults = self._start_faults()
        self.generation = 0  # moved on by each reset: hung responses of the test before let go
        self.clock_offset = dt.timedelta(0)  # moved forward by POST /_sim/faults {"advance_clock_s": N}
        self.witness = Witness(self.store, cookie, self.utcnow)
        env = Environment(loader=PackageLoader("bots.sim", "templates"), autoescape=select_autoescape())
        env.filters.update(money=money, date=date_filter(date_format))
        self.templates = Jinja2Templates(env=env)
        self.app = FastAPI(title=f"{title} (simulated)", docs_url=None, redoc_url=None)
        self.app.mount("/static", StaticFiles(packages=[("bots.sim", "static")]), name="static")
        self.app.middleware("http")(self._pages)
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

    # -- every page request: witnessed, delayed, perhaps faulted ----------------------------------
    async def _pages(self, request: Request, call_next: Any) -> Response:
        # Not pages: test hooks, static files, the mailbox (another system: it has only the
        # wrong-token fault, and witnesses its own reads), and the icon Chromium asks for after
        # each page (it would overlap the next page and count as a page in flight).
        if request.url.path.startswith(("/_sim", "/static", "/healthz", "/mailbox", "/favicon.ico")):
            return await call_next(request)
        stats = self.stats
        stats.pages += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            witnessed = await self.witness.read(request)  # before a fault or the handler ends its session
            delay_ms = self.faults.delay_ms(self.cfg.latency_ms)
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)
            fault, response = await self._answer(request, call_next, witnessed is not None and witnessed.opens_claim())
            if witnessed is not None:
                verdict = getattr(request.state, "verdict", None)
                await run_in_threadpool(self.witness.record, witnessed, verdict, response.status_code, fault)
            return response
        finally:
            stats.in_flight -= 1

    async def _answer(self, request: Request, call_next: Any, opens_claim: bool) -> tuple[str | None, Response]:
        """The fault this request met (if any) and the response: a fault's page, or the handler's."""
        drawn = self.faults.transient()
        if drawn == "hung":
            await self._hold(request)
        if drawn in FAULT_PAGES:
            return drawn, self._fault_page(request, drawn)
        if drawn == "session_expired" and self._expire_session(request):
            return drawn, await call_next(request)
        # No fault, or no signed-in session to end: answered as usual, perhaps lacking fields.
        missing = self.faults.missing_fields() if opens_claim else frozenset()
        request.state.missing_fields = missing
        return ("missing_fields" if missing else None), await call_next(request)

    def missing_fields(self, request: Request) -> frozenset[str]:
        """The claim fields this detail page leaves out (the "missing_fields" fault), if any."""
        return frozenset(getattr(request.state, "missing_fields", ()))

    def _expire_session(self, request: Request) -> bool:
        """End the caller's signed-in session as idle expiry would, so the handler answers as it
        does then (a redirect to sign in with expired=1, or the API's 401); False without one."""
        token = request.cookies.get(self.cookie)
        with self.store.session() as s, s.begin():
            sess = s.get(PortalSession, token) if token else None
            if sess is None or sess.stage != "ready":
                return False
            s.execute(
                update(PortalSession).where(PortalSession.token == token).values(last_seen=dt.datetime(2000, 1, 1))
            )
        return True

    async def _hold(self, request: Request) -> None:
        """Hold a hung response for hang_s without blocking other requests; let go early when its
        client gave up, or when the portal is reset for the next test."""
        generation, deadline = self.generation, time.monotonic() + self.cfg.hang_s
        while time.monotonic() < deadline and generation == self.generation:
            if await request.is_disconnected():
                return
            await asyncio.sleep(HANG_POLL_S)

    def _fault_page(self, request: Request, fault: Transient) -> Response:
        """What the portal answers instead of the page: its own "unavailable" page (the heading
        every selector map recognises), with the status, wording and headers of the fault; an
        API caller gets the same as JSON."""
        status, text, retry_after = self._fault_wording(fault)
        headers = {"Cache-Control": "no-store"}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": UNAVAILABLE, "message": text}, status, headers)
        response = self.message(request, status, UNAVAILABLE, text)
        response.headers.update(headers)
        return response

    def _fault_wording(self, fault: Transient) -> tuple[int, str, int | None]:
        """(HTTP status, what the page says, Retry-After seconds or None) of a fault."""
        if fault == "http_500":
            reference = f"E-{self.faults.rng.getrandbits(24):06X}"
            return 500, f"An unexpected error occurred (reference {reference}). Please try again.", None
        if fault == "http_502":
            return 502, "The portal could not reach the claim system (bad gateway). Please try again shortly.", None
        if fault == "rate_limited":
            wait = self.faults.profile.retry_after_s or self.cfg.retry_after_s
            return 429, f"Too many requests. Please wait {wait} seconds before trying again.", wait
        if fault == "maintenance":
            until = (self.local() + dt.timedelta(seconds=self.cfg.maintenance_s)).strftime("%m/%d/%Y %I:%M %p %Z")
            text = (
                f"The provider portal is down for scheduled maintenance until {until}. "
                f"Portal time is now {self.local_now()}."
            )
            return 503, text, self.cfg.maintenance_s
        if fault == "hung":
            return 504, "The portal took too long to answer (gateway timeout). Please try again.", None
        return 503, "The claim system is not responding. Please try again shortly.", None

    def _start_faults(self) -> Faults:
        """The start's fault profile, its draws seeded from the data set's seed and the portal's kind."""
        started = Faults.start(profile(self.cfg.faults), self.cfg.fault_rate, portal_seed(self.cfg.seed, self.cfg.kind))
        self._show_layout(started)
        return started

    def _show_layout(self, faults: Faults) -> None:
        # In place: every screen renders with this config object.
        self.cfg.layout = "drift" if faults.profile.drift else self.initial.layout

    # -- sessions -------------------------------------------------------------------------------
    def authenticate(self, request: Request, username: str, password: str) -> User | None:
        """The user these credentials sign in, or None (refused: the witness log says why)."""
        with self.store.session() as s:
            user = s.scalar(select(User).where(User.username == username))
        if user is None:
            return self.judged(request, None, "no such user")
        if not check_password(password, user.password_hash):
            return self.judged(request, None, "wrong password")
        if self.faults.profile.credentials_refused:
            return self.judged(request, None, "credentials refused (fault)")
        return self.judged(request, user)

    def code_accepted(self, request: Request, valid: bool) -> bool:
        """Whether a one-time code is accepted: a valid one, unless the "MFA rejected once" fault
        refuses it."""
        if not valid:
            return self.judged(request, False, "code invalid or expired")
        if self.faults.reject_mfa():
            return self.judged(request, False, "code rejected once (fault)")
        return self.judged(request, True)

    def judged(self, request: Request, outcome: T, reason: str | None = None) -> T:
        """Note a sign-in step's outcome for the witness log (refused when falsy), and return it."""
        request.state.verdict = ("ok", None) if outcome else ("refused", reason)
        return outcome

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
            # By statement, not through the loaded row: concurrent pages of one session may end
            # it (or touch it) at the same moment, and the loser must not fail.
            mine = PortalSession.token == token
            if (self.utcnow() - sess.last_seen).total_seconds() > self.cfg.session_idle_s:
                s.execute(delete(PortalSession).where(mine))
                return RedirectResponse(f"{self.paths['login']}?expired=1", 303)
            if sess.stage != want:
                return RedirectResponse(self.paths[sess.stage], 303)
            s.execute(update(PortalSession).where(mine).values(last_seen=self.utcnow()))
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
                s.execute(delete(PortalSession).where(PortalSession.token == token))
        response = RedirectResponse(self.paths["login"], 303)
        response.delete_cookie(self.cookie)
        return response

    def claims_where(self, *where: Any) -> list[dict[str, Any]]:
        """Claims matching SQL conditions, oldest service first, as the data set built them."""
        with self.store.session() as s:
            rows = s.scalars(select(Claim).where(*where).order_by(Claim.dos_from, Claim.claim_number)).all()
        return [r.view() for r in rows]

    def claim_opened(self, asking: Asking, kind: str = "detail") -> list[ClaimAsked]:
        """For the witness log: the claim a request opens by its key (the "claim_key" path
        parameter), with the claim number and account number it has here."""
        key = str(asking.path_params["claim_key"])
        with self.store.session() as s:
            claim = s.get(Claim, key)
        view = claim.view() if claim is not None else {}
        return [ClaimAsked(kind, view.get("claim_number"), view.get("account_number"), claim_key=key)]

    # -- test hooks -----------------------------------------------------------------------------
    def _admin(self, request: Request) -> bool:
        return secrets.compare_digest(request.headers.get("x-sim-admin", ""), self.cfg.admin_token)

    def reset(self, config: dict[str, Any], terms_accepted: bool = False) -> None:
        """Back to a fresh state without reseeding: the claims and users stay; sessions, terms
        acknowledgements, mailed codes, inquiries, submitted requests, the witness log, faults
        (back to the start's profile, its draws reseeded), statistics and the clock go; the
        settings are the start's, with `config` (RESETTABLE names) changed."""
        unknown = sorted(set(config) - set(RESETTABLE))
        if unknown:
            raise ValueError(f"cannot reset {', '.join(unknown)} (only {', '.join(RESETTABLE)})")
        profile(config.get("faults", self.initial.faults))  # an unknown one changes nothing
        for name in RESETTABLE:  # in place: every screen holds this config object
            setattr(self.cfg, name, config.get(name, getattr(self.initial, name)))
        self.faults = self._start_faults()
        self.generation += 1
        self.stats.pages, self.stats.max_in_flight = 0, self.stats.in_flight
        self.clock_offset = dt.timedelta(0)
        self.witness.clear()
        with self.store.session() as s, s.begin():
            for table in (PortalSession, TermsAck, MailMessage, Inquiry, BatchInquiry, Submission):
                s.execute(delete(table))
            if terms_accepted:  # today's terms already accepted by every user
                for user_id in s.scalars(select(User.id)).all():
                    s.add(TermsAck(user_id=user_id, local_date=self.local().date(), acked_at=self.utcnow()))

    def change_faults(self, body: dict[str, Any]) -> None:
        """What POST /_sim/faults asks (see there); a ValueError changes nothing."""
        unknown = sorted(set(body) - set(ONE_OFF) - set(SWITCHES))
        if unknown:
            raise ValueError(f"unknown faults {', '.join(unknown)} (known: {', '.join(ONE_OFF + SWITCHES)})")
        switches = {name: body[name] for name in SWITCHES if name in body}
        if "profile" in body or switches:
            chosen = switched(profile(body["profile"]) if "profile" in body else self.faults.profile, switches)
            self.faults.use(chosen, self.cfg.fault_rate)
            self._show_layout(self.faults)
        if body.get("advance_clock_s"):
            self.clock_offset += dt.timedelta(seconds=float(body["advance_clock_s"]))
        if body.get("expire_sessions"):
            with self.store.session() as s, s.begin():
                for sess in s.scalars(select(PortalSession)):
                    sess.last_seen = dt.datetime(2000, 1, 1)
        self.faults.fail_next = int(body.get("fail_next", self.faults.fail_next))
        if "latency_ms" in body:
            self.faults.latency_ms = body["latency_ms"]

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
            """Change faults now: {"profile": name, "rate": x} and any profile switch
            (faults.SWITCHES), one-off faults (expire every session, fail the next N pages),
            latency, or move the portal's clock forward by N seconds (sessions idle, mailed codes
            age). Answers the faults in force."""
            if not self._admin(request):
                return JSONResponse({"error": "forbidden"}, 403)
            body = dict(await request.json())
            try:
                self.change_faults(body)
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, 400)
            return JSONResponse(self.faults.shown())

        @app.post("/_sim/password")
        async def set_password(request: Request) -> JSONResponse:
            """{"username", "password"}: really change a user's password (their sessions end)."""
            if not self._admin(request):
                return JSONResponse({"error": "forbidden"}, 403)
            body = await request.json()
            username, password = str(body.get("username", "")), str(body.get("password", ""))
            if not password:
                return JSONResponse({"error": "a password is needed"}, 400)
            if not self.store.set_password(username, password):
                return JSONResponse({"error": f"no user {username!r}"}, 404)
            return JSONResponse({"username": username})

        @app.get("/_sim/witness")
        def get_witness(request: Request) -> JSONResponse:
            """The witness log: {"logins": [...], "claims": [...]}, oldest first."""
            if not self._admin(request):
                return JSONResponse({"error": "forbidden"}, 403)
            return JSONResponse(self.witness.view())

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
