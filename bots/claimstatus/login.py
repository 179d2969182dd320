"""Signing in to a portal, once for every page that shares the session: one-page or two-step
login, TOTP or mailed one-time codes, and a terms page the bot may accept or must leave to a
person."""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import urljoin, urlsplit

import pyotp
from playwright.async_api import BrowserContext, Page, Request
from playwright.async_api import Error as PlaywrightError

from bots.browser.capture import snapshot
from bots.browser.pages import PortalPage, ScreenObserver
from bots.browser.selectors import Resolver, ScreenError
from bots.browser.tracing import FailureTracer
from bots.claimstatus.runtime import PortalRuntime
from bots.core.errors import ApplicationError, BusinessError
from bots.core.logs import get_logger, redactor
from bots.core.ratelimit import RateLimiter
from bots.core.settings import Settings

log = get_logger(__name__)


class LoginError(BusinessError):
    """The portal refused the credentials or the code: retrying could lock the account."""


class PersonNeededError(BusinessError):
    """The portal shows something only a person may answer (a terms page the registry reserves
    for people): its sweep stops, and its items wait for the next sweep."""


class SharedLogin:
    """One portal session shared by every page of a browser context (they share its cookies):
    logged in once, and again once per expiry however many pages notice it."""

    def __init__(self, portal: PortalRuntime, settings: Settings, observer: ScreenObserver | None = None) -> None:
        self.portal = portal
        self.settings = settings
        self.observer = observer
        self.generation = 0
        self.stopped: str | None = None  # why a person is needed; no login is tried after it
        self.failed: list[str] = []  # why each login failed since the last that worked
        self.refused: list[str] = []  # of those, the portal's refusals (credentials, codes)
        self._failed_at = 0.0  # monotonic time of the last failure
        rate = portal.entry.rate_limit_per_min
        self.limiter = RateLimiter(rate) if rate else None
        self._lock = asyncio.Lock()
        # Where signing in sends the password and codes: the sign-in and mailbox pages, and every
        # page a sign-in posted to. A kept trace blanks what went there (bots.browser.tracing).
        self.sign_in_paths = {
            urlsplit(urljoin(portal.base_url + "/", path)).path
            for path in (portal.entry.login_url, portal.entry.mailbox_url)
            if path
        }

    def page(self, page: Page, resolver: Resolver) -> PortalPage:
        """A page object for this portal, under its rate limit."""
        return PortalPage(
            page,
            resolver,
            self.portal.entry.date_format,
            self.settings.browser.navigation_timeout_s * 1000,
            self.limiter,
            self.observer,
        )

    async def refresh(
        self, context: BrowserContext, resolver: Resolver, seen: int, tracer: FailureTracer | None = None
    ) -> int:
        """Log in unless another page already did since generation `seen`. With a `tracer` (the
        context's), nothing of the sign-in is recorded: the recording stops before its first
        step and starts again once its page is closed."""
        async with self._lock:
            if self.stopped:
                raise PersonNeededError(self.stopped)
            self._hold_back()
            if self.generation == seen:
                async with tracer.untraced() if tracer else contextlib.nullcontext():
                    await self._sign_in(context, resolver)
                self.failed.clear()
                self.refused.clear()
                self.generation += 1
                log.info("logged in", portal=self.portal.key, generation=self.generation)
            return self.generation

    async def _sign_in(self, context: BrowserContext, resolver: Resolver) -> None:
        page = await context.new_page()
        page.on("request", self._posted_to)
        try:
            await self._login(self.page(page, resolver))
        except PersonNeededError as exc:
            self.stopped = str(exc)
            log.error("portal needs a person; its sweep stops", portal=self.portal.key, reason=self.stopped)
            raise
        except (ApplicationError, BusinessError, PlaywrightError) as exc:
            self._failed(exc)
            if isinstance(exc, ScreenError):  # the sign-in page is closed below: keep what it showed
                exc.snapshot = exc.snapshot or await snapshot(page, resolver, self.settings.browser)
            raise
        finally:
            await page.close()

    def _posted_to(self, request: Request) -> None:
        if request.method != "GET":
            self.sign_in_paths.add(urlsplit(request.url).path)

    def _failed(self, exc: Exception) -> None:
        why = str(exc).splitlines()[0]
        self.failed.append(why)
        if isinstance(exc, LoginError):
            self.refused.append(why)
        self._failed_at = time.monotonic()

    def _hold_back(self) -> None:
        """After as many failed sign-ins in a row as a claim's tries, every page would fail the
        same way: refusals stop this run's sign-ins (more could lock the account); other
        trouble (a wrong page, an outage) lets one try through per backoff period."""
        attempts, key = self.settings.sweep.retry_attempts, self.portal.key
        if len(self.refused) >= attempts:
            raise LoginError(
                f"{key}: not signing in again in this run after {len(self.refused)} refusals in a row "
                f"(more could lock the account); the last: {self.refused[-1]}"
            )
        wait = self._failed_at + self.settings.sweep.backoff_max_s - time.monotonic()
        if len(self.failed) >= attempts and wait > 0:
            raise ApplicationError(
                f"{key}: signing in failed {len(self.failed)} times in a row; trying again in {wait:.0f} s; "
                f"the last: {self.failed[-1]}"
            )

    async def _refused(self, pp: PortalPage, what: str) -> LoginError:
        reason = await pp.resolver.text(pp.page, "login.error") or "no reason shown"
        return LoginError(f"{self.portal.key}: {what} refused: {reason}")

    async def _login(self, pp: PortalPage) -> None:
        creds, key = self.portal.credentials, self.portal.key
        screen = await pp.goto(self.portal.url(self.portal.entry.login_url))
        for _ in range(8):
            if screen == "login":
                await pp.fill("login.username", creds.username.get_secret_value())
                if self.portal.entry.login == "two_step":
                    screen = await pp.submit("login.next")
                    if screen == "login":
                        raise await self._refused(pp, "username")
                    continue
            if screen in ("login", "password"):  # the password: on the login page, or its own step
                await pp.fill("login.password", creds.password.get_secret_value())
                screen = await pp.submit("login.submit")
                if screen in ("login", "password"):
                    raise await self._refused(pp, "login")
            elif screen == "mfa":
                code = await self._one_time_code(pp)
                redactor.register([code])
                await pp.fill("mfa.code", code)
                screen = await pp.submit("mfa.submit")
                if screen == "mfa":
                    raise LoginError(f"{key}: verification code refused")
            elif screen == "terms":
                if self.portal.entry.terms_acknowledged_by == "person":
                    raise PersonNeededError(
                        f"{key}: the portal asks to accept its terms of use, which its registry "
                        "entry reserves for a person: sign in by hand, read and accept them, then sweep again"
                    )
                await (await pp.resolver.get(pp.page, "terms.agree")).check()
                screen = await pp.submit("terms.continue")
            elif screen == "unavailable":
                raise ApplicationError(f"{key}: portal unavailable during login")
            else:
                return
        raise LoginError(f"{key}: login did not reach the portal's start screen")

    async def _one_time_code(self, pp: PortalPage) -> str:
        creds, mfa = self.portal.credentials, self.portal.entry.mfa
        if mfa == "totp" and creds.totp_secret is not None:
            return pyotp.TOTP(creds.totp_secret.get_secret_value()).now()
        if mfa == "mailbox" and creds.mailbox_token is not None:
            reference = await pp.resolver.text(pp.page, "mfa.reference")
            if not reference:
                raise LoginError(f"{self.portal.key}: the code page shows no message reference")
            return await self._mailed_code(pp.page.context, pp.resolver, reference)
        raise LoginError(
            f"{self.portal.key}: the portal asks for a one-time code, but its registry entry says mfa {mfa}"
        )

    async def _mailed_code(self, context: BrowserContext, resolver: Resolver, reference: str) -> str:
        """Read the code of the message with `reference` from the mailbox page, polling until
        it arrives. The mailbox is opened with a bearer token, never a URL that carries it."""
        assert self.portal.credentials.mailbox_token is not None and self.portal.entry.mailbox_url
        url = urljoin(self.portal.base_url + "/", self.portal.entry.mailbox_url)
        sweep = self.settings.sweep
        page = await context.new_page()
        try:
            await page.set_extra_http_headers(
                {"Authorization": f"Bearer {self.portal.credentials.mailbox_token.get_secret_value()}"}
            )
            deadline = time.monotonic() + sweep.mailbox_wait_s
            while True:
                await page.goto(url, wait_until="domcontentloaded")
                if self.observer:
                    await self.observer(page, "mailbox")
                messages = await resolver.find(page, "mailbox.message")
                if messages is not None:
                    refs, codes = await asyncio.gather(
                        resolver.column(messages, "mailbox.reference"), resolver.column(messages, "mailbox.code")
                    )
                    code = dict(zip(refs or [], codes or [], strict=False)).get(reference)
                    if code:
                        return code
                if time.monotonic() > deadline:
                    raise ApplicationError(
                        f"{self.portal.key}: no mailed code with reference {reference} "
                        f"arrived within {sweep.mailbox_wait_s:g} s"
                    )
                await asyncio.sleep(sweep.mailbox_poll_s)
        finally:
            await page.close()
