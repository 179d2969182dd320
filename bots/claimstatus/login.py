"""Signing in to a portal, once for every page that shares the session: one-page or two-step
login, TOTP or mailed one-time codes, and a terms page the bot may accept or must leave to a
person."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urljoin, urlsplit

import pyotp
from playwright.async_api import BrowserContext, Page, Request
from playwright.async_api import Error as PlaywrightError

from bots.browser.capture import snapshot
from bots.browser.pages import PortalPage, ScreenObserver, playwright_trouble, retry_after_s
from bots.browser.selectors import Resolver, ScreenError
from bots.browser.tracing import FailureTracer
from bots.claimstatus.runtime import PortalRuntime
from bots.core.errors import ApplicationError, BusinessError, PortalBusyError
from bots.core.logs import get_logger, redactor
from bots.core.models import FailureKind
from bots.core.ratelimit import RateLimiter
from bots.core.settings import Settings

log = get_logger(__name__)
# reason -> None: what holds the portal (and raises its alert) the moment its credentials are refused
OnRefused = Callable[[str], Awaitable[None]]


class LoginError(BusinessError):
    """Signing in cannot succeed by trying again (a sign-in page that leads nowhere, a code the
    registry cannot provide): the portal stops for this run until a person looks."""

    failure = FailureKind.NEEDS_PERSON


class CredentialsRefusedError(LoginError):
    """The portal refused the password, the one-time code or the mailbox token. Never retried:
    a real portal locks the account after a few; the portal is held until a person resumes it."""

    failure = FailureKind.CREDENTIALS_REFUSED


class PersonNeededError(BusinessError):
    """The portal shows something only a person may answer (a terms page the registry reserves
    for people): its sweep stops, and its items wait for the next sweep."""

    failure = FailureKind.NEEDS_PERSON


class PortalStoppedError(BusinessError):
    """The portal stopped for this run (refused credentials, a person needed, maintenance, the
    circuit breaker): no more sign-ins or checks; its items are deferred with the reason."""

    def __init__(self, reason: str, failure: FailureKind) -> None:
        super().__init__(reason)
        self.failure = failure  # type: ignore[misc]


class SignInFailedError(ApplicationError):
    """A sign-in another page was waiting on failed: the same trouble, without trying again."""

    def __init__(self, reason: str, failure: FailureKind) -> None:
        super().__init__(reason)
        self.failure = failure  # type: ignore[misc]


class SharedLogin:
    """One portal session shared by every page of a browser context (they share its cookies):
    logged in once, and again once per expiry however many pages notice it."""

    def __init__(
        self,
        portal: PortalRuntime,
        settings: Settings,
        observer: ScreenObserver | None = None,
        on_refused: OnRefused | None = None,
    ) -> None:
        self.portal = portal
        self.settings = settings
        self.observer = observer
        self.on_refused = on_refused  # told at once when the portal refuses the credentials (it holds the portal)
        self.generation = 0
        self.stopped: PortalStoppedError | None = None  # why the portal stopped; nothing is tried after it
        self.failed: list[str] = []  # why each login failed since the last that worked
        self._failed_at = 0.0  # monotonic time of the last failure
        self._last_failure = FailureKind.PORTAL_ERROR
        self.attempts = 0  # sign-ins tried, so pages that waited on one learn how it went
        self._last_totp: str | None = None  # the last TOTP code sent (never sent twice)
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
        attempts = self.attempts
        async with self._lock:
            if self.stopped:
                raise self.stopped
            if self.generation == seen and self.attempts != attempts and self.failed:
                # The sign-in this page waited on failed: every waiter failing with it at once
                # (not each trying in turn) lets concurrent timeouts overlap instead of queueing.
                raise SignInFailedError(self.failed[-1], self._last_failure)
            await self._hold_back()
            if self.generation == seen:
                self.attempts += 1
                async with tracer.untraced() if tracer else contextlib.nullcontext():
                    await self._sign_in(context, resolver)
                self.failed.clear()
                self.generation += 1
                log.info("logged in", portal=self.portal.key, generation=self.generation)
            return self.generation

    def stop(self, reason: str, failure: FailureKind) -> PortalStoppedError:
        """Stop the portal for this run (the first reason stays); the error its pages now raise."""
        if self.stopped is None:
            self.stopped = PortalStoppedError(reason, failure)
            log.error("portal stops for this run", portal=self.portal.key, failure=failure.value)
        return self.stopped

    async def _sign_in(self, context: BrowserContext, resolver: Resolver) -> None:
        page = await context.new_page()
        page.on("request", self._posted_to)
        try:
            await self._login(self.page(page, resolver))
        except (PersonNeededError, LoginError) as exc:  # trying again cannot help, and may lock the account
            stopped = self.stop(str(exc).rstrip("."), exc.failure)
            if exc.failure == FailureKind.CREDENTIALS_REFUSED and self.on_refused is not None:
                await self.on_refused(str(stopped))  # held before anything else happens: a kill now loses nothing
            raise stopped from exc
        except PlaywrightError as exc:
            self._failed(playwright_trouble(exc, f"{self.portal.key}: signing in"))
            raise self.failed_error from exc
        except (ApplicationError, BusinessError) as exc:
            self._failed(exc)
            if isinstance(exc, ScreenError):  # the sign-in page is closed below: keep what it showed
                exc.snapshot = exc.snapshot or await snapshot(page, resolver, self.settings.browser)
            raise
        finally:
            await page.close()

    @property
    def failed_error(self) -> SignInFailedError:
        return SignInFailedError(self.failed[-1], self._last_failure)

    def _posted_to(self, request: Request) -> None:
        if request.method != "GET":
            self.sign_in_paths.add(urlsplit(request.url).path)

    def _failed(self, exc: ApplicationError | BusinessError) -> None:
        self.failed.append(str(exc).splitlines()[0])
        self._last_failure = exc.failure
        self._failed_at = time.monotonic()

    async def _hold_back(self) -> None:
        """After as many failed sign-ins in a row as a claim's tries (an outage, a wrong page),
        one try goes through per backoff period: the next waits for the period to end (the
        pages behind it wait with it) instead of failing its claim at once."""
        wait = self._failed_at + self.settings.sweep.backoff_max_s - time.monotonic()
        if len(self.failed) >= self.settings.sweep.retry_attempts and wait > 0:
            log.info("signing in held back", portal=self.portal.key, failed=len(self.failed), wait_s=round(wait, 1))
            await asyncio.sleep(wait)

    async def _refused(self, pp: PortalPage, what: str) -> CredentialsRefusedError:
        try:
            reason = await pp.resolver.text(pp.page, "login.error") or "no reason shown"
        except ApplicationError:  # the refusal stands, whatever its message
            reason = "no reason shown"
        return CredentialsRefusedError(f"{self.portal.key}: {what} refused: {reason.rstrip('.')}")

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
                screen = await self._after_secret(pp, "login.submit", "the password")
                if screen in ("login", "password"):
                    raise await self._refused(pp, "login")
            elif screen == "mfa":
                code = await self._one_time_code(pp)
                redactor.register([code])
                await pp.fill("mfa.code", code)
                screen = await self._after_secret(pp, "mfa.submit", "the verification code")
                if screen == "mfa":
                    raise CredentialsRefusedError(f"{key}: verification code refused")
            elif screen == "terms":
                if self.portal.entry.terms_acknowledged_by == "person":
                    raise PersonNeededError(
                        f"{key}: the portal asks to accept its terms of use, which its registry "
                        "entry reserves for a person: sign in by hand, read and accept them, then sweep again"
                    )
                await (await pp.resolver.get(pp.page, "terms.agree")).check()
                screen = await pp.submit("terms.continue")
            elif screen == "unavailable":
                raise PortalBusyError(f"{key}: portal unavailable during login", pp.status or 503)
            else:
                return
        raise LoginError(f"{key}: login did not reach the portal's start screen")

    async def _after_secret(self, pp: PortalPage, button: str, what: str) -> str:
        """Submit a password or code; the screen it leads to. A page no map screen matches after a
        secret was sent may be the portal's own refusal or lockout notice: signing in again
        could lock the account, so the portal stops for a person (LoginError), never retried."""
        try:
            return await pp.submit(button)
        except ScreenError as exc:
            raise LoginError(f"{self.portal.key}: after {what}, {exc}; a person should sign in by hand") from exc

    async def _one_time_code(self, pp: PortalPage) -> str:
        creds, mfa = self.portal.credentials, self.portal.entry.mfa
        if mfa == "totp" and creds.totp_secret is not None:
            totp = pyotp.TOTP(creds.totp_secret.get_secret_value())
            if totp.now() == self._last_totp:  # a portal refuses a code used once: wait for the next
                await asyncio.sleep(totp.interval - time.time() % totp.interval + 0.5)
            self._last_totp = totp.now()
            return self._last_totp
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
                response = await page.goto(url, wait_until="domcontentloaded")
                if response is not None and response.status in (401, 403):
                    raise CredentialsRefusedError(
                        f"{self.portal.key}: mailbox token refused (HTTP {response.status} from the mailbox)"
                    )
                if response is not None and (response.status == 429 or response.status >= 500):
                    retry_after = retry_after_s(await response.header_value("retry-after"))
                    raise PortalBusyError(
                        f"{self.portal.key}: the mailbox answered HTTP {response.status}", response.status, retry_after
                    )
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
