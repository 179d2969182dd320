"""The portal's witness log: every sign-in step and every claim asked about, as the portal saw
them, kept server-side in its own database (GET /_sim/witness). It is the independent witness
tests and chaos runs count against: sign-in attempts after a refusal, claims asked and failed,
claims never asked or asked twice.

Each portal names the requests worth witnessing (`claims`, `login`) by method and route path;
the portal's middleware reads what each asks before answering it, so a request answered with a
fault is witnessed too, with the status it got. Passwords and codes are never read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from sqlalchemy import delete, select
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match

from bots.sim.store import PortalSession, PortalStore, User, WitnessClaim, WitnessLogin


@dataclass(frozen=True)
class ClaimAsked:
    """One claim a request asks about, its identifiers as the portal received them."""

    kind: str  # search | results | detail | batch_line | batch_answer
    claim_number: str | None = None
    account_number: str | None = None
    member_id: str | None = None
    dos_from: str | None = None
    dos_to: str | None = None
    claim_key: str | None = None
    payer_id: str | None = None


@dataclass(frozen=True)
class Asking:
    """What a request carries that names a claim or a user: its query and form fields (never
    the password or code ones), its path parameters and cookies."""

    params: Mapping[str, str]
    path_params: Mapping[str, Any]
    cookies: Mapping[str, str]

    def text(self, name: str) -> str | None:
        """A field as received, stripped; None when absent or blank."""
        return self.params.get(name, "").strip() or None


ClaimReader = Callable[[Asking], list[ClaimAsked]]
UsernameReader = Callable[[Asking], str | None]
SECRET_FIELDS = frozenset({"password", "passwd", "pass", "code", "mailcode"})  # never read, never kept


@dataclass(frozen=True)
class LoginStep:
    step: str  # password | mfa
    username: UsernameReader | None  # None: the user of the request's session


@dataclass
class Witnessed:
    """One request being witnessed: who sent it, the claims it asks about, the sign-in step it is."""

    request: str  # "POST /search"
    username: str | None
    claims: list[ClaimAsked] = field(default_factory=list)
    step: str | None = None

    def opens_claim(self) -> bool:
        """Whether it asks for a claim's details (where a page may lack fields)."""
        return any(c.kind in ("detail", "batch_answer") for c in self.claims)


class Witness:
    """One portal's witness log and the requests it witnesses."""

    def __init__(self, store: PortalStore, cookie: str, clock: Callable[[], dt.datetime]) -> None:
        self.store, self.cookie, self.clock = store, cookie, clock
        self._claims: dict[tuple[str, str], ClaimReader] = {}
        self._logins: dict[tuple[str, str], LoginStep] = {}

    # -- what each portal declares ---------------------------------------------------------------
    def claims(self, method: str, path: str, read: ClaimReader) -> None:
        """Requests to `path` (a route path, e.g. "/claims/{claim_key}") ask about the claims `read` finds."""
        self._claims[method, path] = read

    def login(self, method: str, path: str, step: str, username: UsernameReader | None = None) -> None:
        """Requests to `path` are the sign-in `step`; the user named by `username`, else the session's."""
        self._logins[method, path] = LoginStep(step, username)

    # -- reading a request before it is answered ------------------------------------------------
    async def read(self, request: Request) -> Witnessed | None:
        """What the request asks, if it is one the portal witnesses; reads a posted form (which the
        handler still gets), without its password or code fields."""
        route = _route_of(request)
        if route is None:
            return None
        path, path_params = route
        key = (request.method, path)
        reader, login = self._claims.get(key), self._logins.get(key)
        if reader is None and login is None:
            return None
        params = dict(request.query_params)
        if request.method == "POST":
            body = await request.body()  # kept by Starlette for the handler
            params |= {k: v for k, v in parse_qsl(body.decode("utf-8", "replace")) if k not in SECRET_FIELDS}
        asking = Asking(params, path_params, request.cookies)
        # The database off the event loop: other requests go on meanwhile.
        return await run_in_threadpool(self._witnessed, f"{request.method} {request.url.path}", asking, reader, login)

    def _witnessed(
        self, request: str, asking: Asking, reader: ClaimReader | None, login: LoginStep | None
    ) -> Witnessed:
        session_user = self.session_user(asking.cookies.get(self.cookie))
        witnessed = Witnessed(request, session_user)
        if reader is not None:
            witnessed.claims = reader(asking)
        if login is not None:
            witnessed.step = login.step
            witnessed.username = (login.username(asking) if login.username else None) or session_user
        return witnessed

    def session_user(self, token: str | None) -> str | None:
        """The username of a session, live or not (its last use left as it is)."""
        if not token:
            return None
        with self.store.session() as s:
            return s.scalar(select(User.username).join(PortalSession).where(PortalSession.token == token))

    # -- writing ------------------------------------------------------------------------------------
    def record(
        self, witnessed: Witnessed, verdict: tuple[str, str | None] | None, status: int, fault: str | None
    ) -> None:
        """Write what a request asked and how it was answered. A sign-in step with no `verdict`
        (result, reason) was answered before it was judged: by a fault, or a redirect."""
        at = self.clock()
        with self.store.session() as s, s.begin():
            for c in witnessed.claims:
                s.add(
                    WitnessClaim(
                        at=at,
                        username=witnessed.username,
                        kind=c.kind,
                        request=witnessed.request[:200],
                        claim_number=c.claim_number,
                        account_number=c.account_number,
                        member_id=c.member_id,
                        dos_from=c.dos_from,
                        dos_to=c.dos_to,
                        claim_key=c.claim_key,
                        payer_id=c.payer_id,
                        status=status,
                        fault=fault,
                    )
                )
            if witnessed.step is not None:
                result, reason = verdict or ("error", fault or f"not judged: HTTP {status}")
                s.add(
                    WitnessLogin(
                        at=at,
                        username=witnessed.username,
                        step=witnessed.step,
                        result=result,
                        reason=reason,
                        status=status,
                        fault=fault,
                    )
                )

    def login_now(self, username: str | None, step: str, result: str, reason: str | None, status: int) -> None:
        """Write a sign-in step a handler judges and answers by itself (the mailbox)."""
        with self.store.session() as s, s.begin():
            s.add(
                WitnessLogin(at=self.clock(), username=username, step=step, result=result, reason=reason, status=status)
            )

    def view(self) -> dict[str, list[dict[str, Any]]]:
        """{"logins": [...], "claims": [...]}, oldest first."""
        with self.store.session() as s:
            logins = s.scalars(select(WitnessLogin).order_by(WitnessLogin.id)).all()
            claims = s.scalars(select(WitnessClaim).order_by(WitnessClaim.id)).all()
        return {"logins": [row.view() for row in logins], "claims": [row.view() for row in claims]}

    def clear(self) -> None:
        with self.store.session() as s, s.begin():
            s.execute(delete(WitnessLogin))
            s.execute(delete(WitnessClaim))


def _route_of(request: Request) -> tuple[str, Mapping[str, Any]] | None:
    """The path of the app's route that will answer the request, and its path parameters."""
    for route in request.app.router.routes:
        match, child = route.matches(request.scope)
        if match is Match.FULL:
            return str(getattr(route, "path", "")), child.get("path_params", {})
    return None
