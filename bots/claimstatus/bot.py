"""Claim-status bots: one per browser page, all pages of a portal sharing one login.

A check turns what the portal shows about one worklist item into a CheckResult. Transient
trouble (timeouts, portal errors, an expired session) is retried with tenacity; an expired
session is healed by logging in again once for every page that shares it. ClaimStatusBot
works the "detail" shape (search -> results -> detail page or panel); the batch shape is in
bots.claimstatus.batch."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote, urljoin

from playwright.async_api import BrowserContext
from playwright.async_api import Error as PlaywrightError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from bots.browser.capture import capture
from bots.browser.pages import PortalPage
from bots.browser.selectors import Resolver
from bots.claimstatus.login import PersonNeededError, SharedLogin
from bots.claimstatus.runtime import PortalRuntime
from bots.core.errors import ApplicationError, BusinessError, SessionExpiredError
from bots.core.logs import get_logger, redactor
from bots.core.models import CheckResult, ItemRef, Outcome, ResultRow
from bots.core.settings import Settings

log = get_logger(__name__)

# (content, media type, item id, page url) -> sha256 of the stored evidence
EvidenceSink = Callable[[bytes, str, int, str], Awaitable[str]]


class PortalBot:
    """Checks claims in one page of the portal's browser context, reused from claim to claim.
    Subclasses say how one check reads the portal (`_check_once`)."""

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

    async def begin(self, batch: list[ItemRef]) -> None:
        """The items this bot checks next, in this order (one, unless the portal takes batches)."""

    async def _check_once(self, item: ItemRef) -> CheckResult:
        raise NotImplementedError

    async def _expect(self, screen: str, *wanted: str) -> None:
        if screen in wanted:
            return
        if screen == "login":
            raise SessionExpiredError("the portal showed its login page")
        raise ApplicationError(f"expected {' or '.join(wanted)} screen, got {screen}")

    async def _store(self, item: ItemRef, url: str, *files: tuple[bytes, str]) -> list[str]:
        """Store evidence files of `item`; their content hashes."""
        return [await self.evidence(content, media_type, item.id, url) for content, media_type in files]


class ClaimStatusBot(PortalBot):
    """The "detail" shape: search, find the item's row among the results, open its detail."""

    use_search_url = True  # False: always the search form (the selectors check walks every screen)

    async def _search(self, pp: PortalPage, item: ItemRef) -> str:
        """Run the item's search; the screen it leads to. By claim number when the worklist has
        it, else by member and service dates widened by the search window."""
        fmt, pad = self.portal.entry.date_format, dt.timedelta(days=self.settings.sweep.search_window_days)
        by_claim = bool(item.payer_claim_number)
        fields = {"claim_number": item.payer_claim_number or "",
                  "member_id": "" if by_claim else item.member_id,
                  "dos_from": "" if by_claim else (item.dos_from - pad).strftime(fmt),
                  "dos_to": "" if by_claim else (item.dos_to + pad).strftime(fmt)}
        if self.portal.entry.search_url and self.use_search_url:  # one request instead of form page + post + redirect
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
            return CheckResult(outcome=Outcome.NOT_FOUND, evidence=await self._evidence(item))
        matches = await self._matching_rows(pp, item)
        if len(matches) != 1:
            return CheckResult(outcome=Outcome.AMBIGUOUS, matches=len(matches),
                               evidence=await self._evidence(item))

        await self._expect(await self._open(pp, matches[0]), "detail")
        detail = await pp.claim_detail()
        evidence = await self._evidence(item)
        mapping = self.portal.statuses.lookup(detail.status_text)
        if mapping is None:
            return CheckResult(outcome=Outcome.UNMAPPED, status_text=detail.status_text,
                               detail=detail, evidence=evidence, matches=1)
        return CheckResult(outcome=Outcome.STATUS, category=mapping.category, status_code=mapping.code,
                           status_text=detail.status_text, detail=detail, evidence=evidence, matches=1)

    async def _matching_rows(self, pp: PortalPage, item: ItemRef) -> list[Match]:
        """Rows that are this item's claim, across every results page."""
        matches = []
        while True:
            for index, (row, href) in enumerate(await pp.result_rows()):
                if row.is_item(item):
                    matches.append(Match(row, href, index, pp.page.url))
            next_page = await self.resolver.find(pp.page, "results.next_page")
            if next_page is None:
                return matches
            await self._expect(await pp.submit("results.next_page"), "results")

    async def _open(self, pp: PortalPage, match: Match) -> str:
        """Open a matched row's claim: follow its link, or (a single-page app) go back to its
        results page if need be and expand it in place."""
        if match.href:
            return await pp.goto(urljoin(match.page_url, match.href))
        if pp.page.url != match.page_url:
            await self._expect(await pp.goto(match.page_url), "results")
        rows = await self.resolver.get(pp.page, "results.table")
        row = (await self.resolver.get_all(rows, "results.row")).nth(match.index)
        return await pp.reveal(await self.resolver.get(row, "results.open"), "detail")

    async def _evidence(self, item: ItemRef) -> list[str]:
        pp = self.pp
        assert pp is not None, "evidence is captured from the page that was just checked"
        image, media_type, html = await capture(pp.page, self.resolver, self.settings.browser)
        return await self._store(item, pp.page.url, (image, media_type), (html, "text/html"))


@dataclass(frozen=True)
class Match:
    """A results row that is the item's claim, and where to open it from."""

    row: ResultRow
    href: str  # "" when the row opens in place
    index: int
    page_url: str
