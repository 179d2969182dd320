"""The claim-status bot: one per browser page, all pages of a portal sharing one login.

A check walks search -> results -> detail and turns what it reads into a CheckResult.
Transient trouble (timeouts, portal errors, an expired session) is retried with tenacity;
an expired session is healed by logging in again once for every page that shares it."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from urllib.parse import quote, urljoin

import pyotp
from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from bots.browser.capture import capture
from bots.browser.pages import PortalPage
from bots.browser.selectors import Resolver
from bots.claimstatus.runtime import PortalRuntime
from bots.core.errors import ApplicationError, BusinessError, SessionExpiredError
from bots.core.logs import get_logger, redactor
from bots.core.models import CheckResult, ItemRef, Outcome, ResultRow
from bots.core.ratelimit import RateLimiter
from bots.core.settings import Settings

log = get_logger(__name__)

# (content, media type, item id, page url) -> sha256 of the stored evidence
EvidenceSink = Callable[[bytes, str, int, str], Awaitable[str]]


class LoginError(BusinessError):
    """The portal refused the credentials or the code: retrying could lock the account."""


class PersonNeededError(BusinessError):
    """The portal shows something only a person may answer (a terms page the registry reserves
    for people): its sweep stops, and its items wait for the next sweep."""


class SharedLogin:
    """One portal session shared by every page of a browser context (they share its cookies):
    logged in once, and again once per expiry however many pages notice it."""

    def __init__(self, portal: PortalRuntime, settings: Settings) -> None:
        self.portal = portal
        self.settings = settings
        self.generation = 0
        self.stopped: str | None = None  # why a person is needed; no login is tried after it
        rate = portal.entry.rate_limit_per_min
        self.limiter = RateLimiter(rate) if rate else None
        self._lock = asyncio.Lock()

    def page(self, page: Page, resolver: Resolver) -> PortalPage:
        """A page object for this portal, under its rate limit."""
        return PortalPage(page, resolver, self.portal.entry.date_format,
                          self.settings.browser.navigation_timeout_s * 1000, self.limiter)

    async def refresh(self, context: BrowserContext, resolver: Resolver, seen: int) -> int:
        """Log in unless another page already did since generation `seen`."""
        async with self._lock:
            if self.stopped:
                raise PersonNeededError(self.stopped)
            if self.generation == seen:
                page = await context.new_page()
                try:
                    await self._login(self.page(page, resolver))
                except PersonNeededError as exc:
                    self.stopped = str(exc)
                    log.error("portal needs a person; its sweep stops", portal=self.portal.key, reason=self.stopped)
                    raise
                finally:
                    await page.close()
                self.generation += 1
                log.info("logged in", portal=self.portal.key, generation=self.generation)
            return self.generation

    async def _login(self, pp: PortalPage) -> None:
        creds = self.portal.credentials
        screen = await pp.goto(self.portal.base_url + "/")
        for _ in range(6):
            if screen == "login":
                await pp.fill("login.username", creds.username.get_secret_value())
                await pp.fill("login.password", creds.password.get_secret_value())
                screen = await pp.submit("login.submit")
                if screen == "login":
                    raise LoginError(f"{self.portal.key}: login refused: "
                                     f"{await pp.resolver.text(pp.page, 'login.error') or 'no reason shown'}")
            elif screen == "mfa":
                if creds.totp_secret is None:
                    raise LoginError(f"{self.portal.key}: portal asks for MFA but no TOTP secret is configured")
                code = pyotp.TOTP(creds.totp_secret.get_secret_value()).now()
                redactor.register([code])
                await pp.fill("mfa.code", code)
                screen = await pp.submit("mfa.submit")
                if screen == "mfa":
                    raise LoginError(f"{self.portal.key}: verification code refused")
            elif screen == "terms":
                if self.portal.entry.terms_acknowledged_by == "person":
                    raise PersonNeededError(
                        f"{self.portal.key}: the portal asks to accept its terms of use, which its registry "
                        "entry reserves for a person: sign in by hand, read and accept them, then sweep again")
                await (await pp.resolver.get(pp.page, "terms.agree")).check()
                screen = await pp.submit("terms.continue")
            elif screen == "unavailable":
                raise ApplicationError(f"{self.portal.key}: portal unavailable during login")
            else:
                return
        raise LoginError(f"{self.portal.key}: login did not reach the search screen")


class ClaimStatusBot:
    """Checks claims in one page of the portal's browser context, reused from claim to claim."""

    def __init__(self, context: BrowserContext, portal: PortalRuntime, login: SharedLogin,
                 resolver: Resolver, evidence: EvidenceSink, settings: Settings) -> None:
        self.context, self.portal, self.login = context, portal, login
        self.resolver, self.evidence, self.settings = resolver, evidence, settings
        self.seen = 0  # the login generation this bot's current attempt started under
        self.pp: PortalPage | None = None
        self.used = 0  # claims checked on the current page

    async def _page(self) -> PortalPage:
        if self.pp is not None and self.used >= self.settings.browser.page_claims:
            await self.pp.page.close()
            self.pp = None
        if self.pp is None:
            self.used = 0
            self.pp = self.login.page(await self.context.new_page(), self.resolver)
        return self.pp

    async def _ensure_session(self, expired: bool) -> None:
        if expired or self.login.generation == 0:
            await self.login.refresh(self.context, self.resolver, self.seen if expired else 0)
        self.seen = self.login.generation

    async def check(self, item: ItemRef) -> CheckResult:
        """Check one item. Never raises for portal trouble: that becomes an ERROR outcome."""
        redactor.register([item.account_number, item.member_id, item.payer_claim_number])
        expired = False
        sweep = self.settings.sweep
        retrying = AsyncRetrying(
            stop=stop_after_attempt(sweep.retry_attempts),
            wait=wait_exponential_jitter(multiplier=sweep.backoff_initial_s, max=sweep.backoff_max_s),
            retry=retry_if_exception_type(ApplicationError), reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    try:
                        await self._ensure_session(expired)
                        return await self._check_once(item)
                    except SessionExpiredError:
                        expired = True
                        log.info("session expired; logging in again", item_id=item.id)
                        raise
                    except PlaywrightError as exc:
                        raise ApplicationError(str(exc).splitlines()[0]) from exc
                    except ValueError as exc:  # a screen we could not parse: a changed layout
                        raise ApplicationError(f"unreadable screen: {exc}") from exc
        except PersonNeededError as exc:
            return CheckResult(outcome=Outcome.DEFERRED, error=str(exc))
        except (ApplicationError, BusinessError) as exc:
            log.warning("check failed", item_id=item.id, error=redactor.text(str(exc)))
            return CheckResult(outcome=Outcome.ERROR, error=redactor.text(str(exc)))
        raise AssertionError("unreachable: tenacity reraises")

    async def _expect(self, screen: str, *wanted: str) -> None:
        if screen in wanted:
            return
        if screen == "login":
            raise SessionExpiredError("the portal showed its login page")
        raise ApplicationError(f"expected {' or '.join(wanted)} screen, got {screen}")

    async def _search(self, pp: PortalPage, item: ItemRef) -> str:
        """Run the item's search; the screen it leads to. By claim number when the worklist has
        it, else by member and service dates widened by the search window."""
        fmt, pad = self.portal.entry.date_format, dt.timedelta(days=self.settings.sweep.search_window_days)
        by_claim = bool(item.payer_claim_number)
        fields = {"claim_number": item.payer_claim_number or "",
                  "member_id": "" if by_claim else item.member_id,
                  "dos_from": "" if by_claim else (item.dos_from - pad).strftime(fmt),
                  "dos_to": "" if by_claim else (item.dos_to + pad).strftime(fmt)}
        if self.portal.entry.search_url:  # one request instead of form page + post + redirect
            path = self.portal.entry.search_url.format(**{k: quote(v, safe="") for k, v in fields.items()})
            return await pp.goto(self.portal.base_url + path)
        nav = await self.resolver.find(pp.page, "nav.new_search") if pp.page.url != "about:blank" else None
        screen = await (pp.follow(nav.first) if nav is not None else pp.goto(self.portal.base_url + "/"))
        await self._expect(screen, "search")
        for name, value in fields.items():
            if value:
                await pp.fill(f"search.{name}", value)
        return await pp.submit("search.submit")

    async def _check_once(self, item: ItemRef) -> CheckResult:
        pp = await self._page()
        self.used += 1
        screen = await self._search(pp, item)
        if screen == "search":
            raise BusinessError(f"portal rejected the search: {await self.resolver.text(pp.page, 'search.error')}")
        await self._expect(screen, "results")

        if await self.resolver.find(pp.page, "results.empty") is not None:
            return CheckResult(outcome=Outcome.NOT_FOUND, evidence=await self._evidence(item, "results"))
        matches = await self._matching_rows(pp, item)
        if len(matches) != 1:
            return CheckResult(outcome=Outcome.AMBIGUOUS, matches=len(matches),
                               evidence=await self._evidence(item, "results"))

        await self._expect(await pp.goto(urljoin(pp.page.url, matches[0][1])), "detail")
        detail = await pp.claim_detail()
        evidence = await self._evidence(item, "detail")
        mapping = self.portal.statuses.lookup(detail.status_text)
        if mapping is None:
            return CheckResult(outcome=Outcome.UNMAPPED, status_text=detail.status_text,
                               detail=detail, evidence=evidence, matches=1)
        return CheckResult(outcome=Outcome.STATUS, category=mapping.category, status_code=mapping.code,
                           status_text=detail.status_text, detail=detail, evidence=evidence, matches=1)

    async def _matching_rows(self, pp: PortalPage, item: ItemRef) -> list[tuple[ResultRow, str]]:
        """Rows that are this item's claim, across every results page."""
        matches = []
        while True:
            for row, href in await pp.result_rows():
                same = (row.claim_number == item.payer_claim_number if item.payer_claim_number
                        else row.matches(item))
                if same:
                    matches.append((row, href))
            next_page = await self.resolver.find(pp.page, "results.next_page")
            if next_page is None:
                return matches
            await self._expect(await pp.submit("results.next_page"), "results")

    async def _evidence(self, item: ItemRef, screen: str) -> list[str]:
        pp = self.pp
        assert pp is not None, "evidence is captured from the page that was just checked"
        image, media_type, html = await capture(pp.page, screen, self.resolver, self.settings.browser)
        url = pp.page.url
        return [await self.evidence(image, media_type, item.id, url),
                await self.evidence(html, "text/html", item.id, url)]
