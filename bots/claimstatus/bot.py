"""Claim-status bots: one per browser page, all pages of a portal sharing one login.

`check_batch(items) -> results` is the one interface of every bot: the sweep and the selectors
check call nothing else. Each shape splits a batch into attempts and retries each attempt with
tenacity: ClaimStatusBot (the "detail" shape: search -> results -> detail page or panel) one
claim at a time, BatchInquiryBot (the "batch" shape, bots.claimstatus.batch) one inquiry of up
to ten claims at a time. An expired session is healed by logging in again once for every page
that shares it. A hook (a registry-named subclass) overrides the public steps of its shape; the
login, retries, session expiry, page reuse and evidence storage stay here."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote, urljoin

from playwright.async_api import BrowserContext
from playwright.async_api import Error as PlaywrightError
from pydantic import ValidationError
from tenacity import (
    RetryCallState,
)

from bots.browser.capture import captioned, capture, snapshot
from bots.browser.pages import PortalPage, playwright_trouble
from bots.browser.selectors import Resolver, ScreenError, UnreadableError
from bots.browser.tracing import TRACE_MEDIA_TYPE, FailureTracer
from bots.claimstatus.login import PortalStoppedError, SharedLogin
from bots.claimstatus.retrying import retrying, too_long, waited_too_long
from bots.claimstatus.runtime import PortalRuntime
from bots.claimstatus.statusmap import Mapping
from bots.core.errors import (
    ApplicationError,
    BusinessError,
    PortalBusyError,
    SessionExpiredError,
)
from bots.core.logs import get_logger, redactor
from bots.core.models import MATCH_FIELDS, CheckResult, ClaimDetail, ItemRef, Outcome, ResultRow
from bots.core.settings import Settings

log = get_logger(__name__)
T = TypeVar("T")

# The screens each step most often leads to (a hint that saves browser queries, never a rule).
SEARCHED = ("detail", "results", "search")  # a search: results, its one claim, or refused
FORMS = ("search", "inquiry")  # the search or inquiry form
SIGN_IN_SCREENS = ("login", "password", "mfa", "terms")

# (content, media type, item id, page url) -> sha256 of the stored evidence; a Playwright trace
# comes as TRACE_MEDIA_TYPE
EvidenceSink = Callable[[bytes, str, int, str], Awaitable[str]]
# One try at some items on a logged-in page: a result for each item, in order.
_Attempt = Callable[[PortalPage, list[ItemRef]], Awaitable[list[CheckResult]]]


class PortalBot:
    """Checks claims in one page of the portal's browser context, reused from claim to claim.

    The interface is `check_batch`, implemented by each shape (ClaimStatusBot, BatchInquiryBot);
    subclass a shape, not this class. Inside an attempt a step may raise ApplicationError
    (transient: retried), SessionExpiredError (log in again, then retry), BusinessError (not
    retried: the items' results are errors for a person) or ValueError (a screen that could not
    be read: retried, then an error). `expect_screen` is a helper for steps, not a step.

    A check that ends in an error keeps a screenshot and HTML snapshot of the screen it failed
    on as its evidence and, with a `tracer` (the sweep's, one per browser context), the
    context's Playwright trace too."""

    def __init__(
        self,
        context: BrowserContext,
        portal: PortalRuntime,
        login: SharedLogin,
        resolver: Resolver,
        evidence: EvidenceSink,
        settings: Settings,
        *,
        tracer: FailureTracer | None = None,
    ) -> None:
        self.context, self.portal, self.login = context, portal, login
        self.resolver, self.evidence, self.settings = resolver, evidence, settings
        self.tracer = tracer
        self._held = False  # this bot's claim holds the tracer's rotation (it is being retried)
        self._seen = 0  # the login generation this bot's current attempt started under
        self._pp: PortalPage | None = None
        self._used = 0  # claims checked on the current page
        # When the last check failed because signing in failed: which sign-in (SharedLogin.attempts),
        # so a circuit breaker counts one failed sign-in once, however many pages waited on it.
        self.signin_failure: int | None = None

    async def check_batch(self, items: list[ItemRef]) -> list[CheckResult]:
        """Check `items` (any number; the sweep hands one claim at a time to the detail shape and
        up to `batch_size` claims of one payer to the batch shape): a result for each item, in
        order. Never raises for portal trouble: after the last retry an attempt's items get an
        ERROR result (DEFERRED when the portal waits for a person). The sweep and the selectors
        check call this and nothing else; hooks override the shape's steps instead."""
        raise NotImplementedError

    def expect_screen(self, screen: str, *wanted: str) -> None:
        """Helper for steps: carry on if `screen` is one of `wanted`. A sign-in screen (login,
        password, code, terms) means the session is gone or half-made, as when another page's
        sign-in failed half-way (SessionExpiredError: the framework signs in again and retries);
        any other screen is an ApplicationError (retried)."""
        if screen in wanted:
            return
        if screen in SIGN_IN_SCREENS:
            raise SessionExpiredError(f"the portal showed its {screen} page")
        raise ApplicationError(f"expected {' or '.join(wanted)} screen, got {screen}")

    async def open_form(self, pp: PortalPage, nav_key: str) -> str:
        """Helper for steps: go to the search (or inquiry) form, by the portal's own link
        (`nav_key`) when the page shows one, else to the registry's `search_page`; the screen it
        shows."""
        nav = await self.resolver.find(pp.page, nav_key) if pp.page.url != "about:blank" else None
        if nav is not None:
            return await pp.follow(nav.first, FORMS)
        return await pp.goto(self.portal.url(self.portal.entry.search_page), FORMS)

    async def _retried(self, items: list[ItemRef], attempt: _Attempt) -> list[CheckResult]:
        """Run `attempt` at `items` on a logged-in page, retried on transient trouble; after the
        last try, or on a business error, every item gets the same ERROR (or DEFERRED) result,
        with a snapshot of the screen that could not be worked as its evidence."""
        redactor.register([v for item in items for v in (item.account_number, item.member_id, item.payer_claim_number)])

        async def counted(pp: PortalPage) -> list[CheckResult]:
            self._used += len(items)
            return await attempt(pp, items)

        began = time.monotonic()
        try:
            results = await self.with_retries(counted, items[0].id)
        except PortalStoppedError as exc:
            return [CheckResult(outcome=Outcome.DEFERRED, error=str(exc), failure=exc.failure) for _ in items]
        except (ApplicationError, BusinessError) as exc:
            error = redactor.text(str(exc))
            log.warning("check failed", item_id=items[0].id, claims=len(items), error=error, failure=exc.failure.value)
            if isinstance(exc, ScreenError) and exc.shown:  # for the item's history, not the log
                error += f"; the page showed {redactor.text(exc.shown)}"
            evidence = [await self.store_snapshot(item.id, exc) for item in items]
            if not any(evidence):  # the error came without the screen it failed on: the page as it is
                evidence = await self._store_page(items)
            traces = await self._store_traces(items, began)
            return [
                CheckResult(outcome=Outcome.ERROR, error=error, evidence=e + t, failure=exc.failure)
                for e, t in zip(evidence, traces, strict=True)
            ]
        finally:
            await self._traced(len(items))
        if len(results) != len(items):
            raise TypeError(f"{type(self).__name__}: {len(results)} results for {len(items)} items")
        return results

    async def with_retries(self, attempt: Callable[[PortalPage], Awaitable[T]], item_id: int) -> T:
        """Run `attempt` on a logged-in page of this bot, retried with backoff on transient
        trouble (ApplicationError, an unreadable screen), after a fresh login when the session
        expired; the last error is raised (ApplicationError, or BusinessError at once).

        This is the one retry layer of a claim (no Prefect task retries on top): at most
        `retry_attempts` tries within `retry_total_s`, exponential backoff with jitter between
        them, or the portal's Retry-After when it gave one. A Retry-After longer than
        `retry_after_max_s` is not waited on: the portal stops for this run (PortalStoppedError)."""
        expired = False
        sweep = self.settings.sweep
        async for attempt_state in retrying(sweep, before_sleep=self._hold_trace):
            with attempt_state:
                try:
                    self.signin_failure = None
                    try:
                        await self._ensure_session(expired)
                    except ApplicationError as exc:
                        if too_long(exc, sweep):
                            raise self.login.stop(f"{self.portal.key}: {exc}", waited_too_long(exc)) from exc
                        self.signin_failure = self.login.attempts  # the shared sign-in that failed
                        raise
                    expired = False  # signed in again: a later try need not, unless it expires again
                    return await attempt(await self._page())
                except SessionExpiredError:
                    expired = True
                    log.info("session expired; logging in again", item_id=item_id)
                    raise
                except PortalBusyError as exc:
                    if too_long(exc, sweep):
                        raise self.login.stop(f"{self.portal.key}: {exc}", waited_too_long(exc)) from exc
                    raise
                except PlaywrightError as exc:
                    raise playwright_trouble(exc) from exc
                except (ValueError, ScreenError) as exc:  # a screen we could not work
                    trouble = await self._screen_trouble(exc)
                    if trouble is exc:
                        raise
                    raise trouble from exc
        raise AssertionError("tenacity re-raises the last error")

    async def _hold_trace(self, _: RetryCallState) -> None:
        """A try failed and another follows: the tracer records (and keeps) until the check ends."""
        if self.tracer is not None and not self._held:
            self._held = True
            await self.tracer.hold()

    async def _traced(self, claims: int) -> None:
        """The check of `claims` ended (its trace kept if it failed): the tracer may rotate."""
        if self.tracer is None:
            return
        if self._held:
            self._held = False
            await self.tracer.release()
        await self.tracer.checked(claims)

    async def _store_page(self, items: list[ItemRef]) -> list[list[str]]:
        """A snapshot of this bot's page as it is now as each item's evidence (none if it has no
        page, or the page cannot be taken)."""
        taken = None
        if self._pp is not None and not self._pp.page.is_closed() and self._pp.page.url != "about:blank":
            taken = await snapshot(self._pp.page, self.resolver, self.settings.browser)
        if taken is None:
            return [[] for _ in items]
        image, media_type, html, url = taken
        return [await self.store(item.id, url, (image, media_type), (html, "text/html")) for item in items]

    async def _store_traces(self, items: list[ItemRef], began: float) -> list[list[str]]:
        """The Playwright trace of a failed attempt at `items` (begun at `began`, monotonic) as
        each item's evidence: its content hashes, for each item (none without a tracer). The
        trace holds what every page of the portal's session did meanwhile: neighbouring claims'
        steps too, never a sign-in (bots.browser.tracing)."""
        if self.tracer is None:
            return [[] for _ in items]
        traces = await self.tracer.keep(began, release=self._held)
        self._held = False
        url = self._pp.page.url if self._pp is not None else self.portal.base_url
        return [await self.store(item.id, url, *((t, TRACE_MEDIA_TYPE) for t in traces)) for item in items]

    async def _screen_trouble(self, exc: ValueError | ScreenError) -> ScreenError:
        """A screen that could not be worked, as a transient error (a page still rendering may
        read on the next try) in words a biller can read, with a snapshot of the page as it is."""
        if isinstance(exc, ScreenError):
            trouble = exc
        elif isinstance(exc, UnreadableError):
            trouble = ScreenError(str(exc))
        elif isinstance(exc, ValidationError):  # a hook built a model from what it read
            fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
            trouble = ScreenError(f"could not read {fields} of the {exc.title} on the page")
        else:
            trouble = ScreenError(f"unreadable screen: {exc}")
        if trouble.snapshot is None and self._pp is not None:
            trouble.snapshot = await snapshot(self._pp.page, self.resolver, self.settings.browser)
        return trouble

    async def store_snapshot(self, item_id: int, exc: Exception) -> list[str]:
        """The item's evidence of a failed attempt: the snapshot of the screen that failed, if any."""
        taken = exc.snapshot if isinstance(exc, ScreenError) else None
        if taken is None:
            return []
        image, media_type, html, url = taken
        return await self.store(item_id, url, (image, media_type), (html, "text/html"))

    async def _ensure_session(self, expired: bool) -> None:
        if expired or self.login.generation == 0:
            await self.login.refresh(self.context, self.resolver, self._seen if expired else 0, self.tracer)
        self._seen = self.login.generation

    async def _page(self) -> PortalPage:
        """This bot's page; a fresh one every `page_claims` claims (bounds a page's memory)."""
        if self._pp is not None and self._used >= self.settings.browser.page_claims:
            await self._pp.page.close()
            self._pp = None
        if self._pp is None:
            self._used = 0
            self._pp = self.login.page(await self.context.new_page(), self.resolver)
        return self._pp

    async def store(self, item_id: int, url: str, *files: tuple[bytes, str]) -> list[str]:
        """Store evidence files of an item; their content hashes."""
        return [await self.evidence(content, media_type, item_id, url) for content, media_type in files]


def read_result(
    mapping: Mapping | None, detail: ClaimDetail, evidence: list[str], status_code: str | None = None
) -> CheckResult:
    """The result of a claim read in full: its status mapped (STATUS, the mapping's code unless the
    portal gave one), or kept as the portal wrote it (UNMAPPED), never guessed."""
    if mapping is None:
        return CheckResult(
            outcome=Outcome.UNMAPPED, status_text=detail.status_text, detail=detail, evidence=evidence, matches=1
        )
    return CheckResult(
        outcome=Outcome.STATUS,
        category=mapping.category,
        status_code=status_code or mapping.code,
        status_text=detail.status_text,
        detail=detail,
        evidence=evidence,
        matches=1,
    )


@dataclass(frozen=True)
class Match:
    """A results row that is the item's claim, and where to open it from."""

    row: ResultRow
    href: str  # "" when the row opens in place
    index: int  # the row's position on its results page
    page_url: str  # the results page it is on


class ClaimStatusBot(PortalBot):
    """The "detail" shape: search, find the item's row among the results, open its detail.

    `check_batch` checks its items one at a time; each claim is one attempt (`check_one`),
    retried on its own. A hook may override `check_one` (the whole check of one claim) or one of
    its steps: `search`, `matching_rows`, `open_match`, `read_detail`. Steps may call
    `expect_screen` and `capture_evidence`."""

    use_search_url = True  # False: always the search form (the selectors check walks every screen)
    _searched: str | None = None  # what the last search asked for, in words, for evidence captions

    async def check_batch(self, items: list[ItemRef]) -> list[CheckResult]:
        """Check each item on its own (one attempt at a time, each retried): a result for each
        item, in order; never raises for portal trouble."""
        results: list[CheckResult] = []
        for item in items:
            results += await self._retried([item], self._check_alone)
        return results

    async def _check_alone(self, pp: PortalPage, items: list[ItemRef]) -> list[CheckResult]:
        return [await self.check_one(pp, items[0])]

    async def check_one(self, pp: PortalPage, item: ItemRef) -> CheckResult:
        """One attempt at one claim, on a logged-in page: `search`, then no results (NOT_FOUND),
        several or no `matching_rows` (AMBIGUOUS) or the single match opened (`open_match`), read
        (`read_detail`) and its status text mapped (STATUS or UNMAPPED), with evidence of the last
        screen. Where results show fewer fields than identify a claim (the registry's `match_on`
        leaves some out), several matching rows are each opened and told apart on their details.
        A search that lands straight on a claim's detail (the portal's only match) is read if
        that claim is the item's, else AMBIGUOUS. Runs inside `check_batch`'s retries; may raise
        what any step may."""
        self._searched = None
        screen = await self.search(pp, item)
        if screen == "search":
            why = await self.resolver.text(pp.page, "search.error")
            if why:  # the portal refused what was asked: asking again cannot help
                raise BusinessError(f"portal rejected the search: {why}")
            raise ApplicationError("the search form came back without results or a reason")
        self.expect_screen(screen, "results", "detail")
        if screen == "detail":
            return await self._read_if_item(pp, item) or CheckResult(
                outcome=Outcome.AMBIGUOUS, matches=0, evidence=await self.capture_evidence(pp, item)
            )

        if await self.resolver.find(pp.page, "results.empty") is not None:
            caption = f"rcmbot searched {self.portal.key} for {self._searched or 'this claim'}: no claim found"
            return CheckResult(outcome=Outcome.NOT_FOUND, evidence=await self.capture_evidence(pp, item, caption))
        matches = await self.matching_rows(pp, item)
        if len(matches) == 1:
            self.expect_screen(await self.open_match(pp, matches[0]), "detail")
            return await self._result_here(pp, item, await self.read_detail(pp))
        count = len(matches)
        if count > 1 and self._results_may_tie(item):
            found = [r for m in matches if (r := await self._open_if_item(pp, m, item)) is not None]
            if len(found) == 1:
                return found[0]
            count = len(found)  # the rows whose details are the item's claim
            self.expect_screen(await pp.goto(matches[0].page_url, ("results",)), "results")
        return CheckResult(outcome=Outcome.AMBIGUOUS, matches=count, evidence=await self.capture_evidence(pp, item))

    def _results_may_tie(self, item: ItemRef) -> bool:
        """Whether matching rows may be different claims that results cannot tell apart: `match_on`
        leaves out fields a detail shows, and the claim number does not decide."""
        by_claim = bool(item.payer_claim_number) and "claim_number" in self.portal.entry.match_on
        return not by_claim and not set(MATCH_FIELDS) - {"claim_number"} <= set(self.portal.entry.match_on)

    async def _open_if_item(self, pp: PortalPage, match: Match, item: ItemRef) -> CheckResult | None:
        self.expect_screen(await self.open_match(pp, match), "detail")
        return await self._read_if_item(pp, item)

    async def _read_if_item(self, pp: PortalPage, item: ItemRef) -> CheckResult | None:
        """On a claim's detail: its result if it is the item's claim, compared on every field of
        `MATCH_FIELDS` the detail shows; else None."""
        detail = await self.read_detail(pp)
        row = detail.as_row()
        return await self._result_here(pp, item, detail) if row.is_item(item, row.shown(MATCH_FIELDS)) else None

    async def _result_here(self, pp: PortalPage, item: ItemRef, detail: ClaimDetail) -> CheckResult:
        """The result of the claim whose detail is on the page, with the page as its evidence."""
        evidence = await self.capture_evidence(pp, item)
        return read_result(self.portal.statuses.lookup(detail.status_text), detail, evidence)

    async def search(self, pp: PortalPage, item: ItemRef) -> str:
        """Run the item's search; the screen it leads to ("results"; "detail" when the portal opens
        its only match; "search" again when it refused the search). By claim number when the
        worklist has it, else by member and service dates widened by the search window; through
        the registry's `search_url` when the portal has one (and `use_search_url`), else its
        search form."""
        fmt, pad = self.portal.entry.date_format, dt.timedelta(days=self.settings.sweep.search_window_days)
        by_claim = bool(item.payer_claim_number)
        fields = {
            "claim_number": item.payer_claim_number or "",
            "member_id": "" if by_claim else item.member_id,
            "dos_from": "" if by_claim else (item.dos_from - pad).strftime(fmt),
            "dos_to": "" if by_claim else (item.dos_to + pad).strftime(fmt),
        }
        self._searched = (
            f"claim number {fields['claim_number']}"
            if by_claim
            else f"member ID ending {item.member_id[-4:]}, service dates {fields['dos_from']} to {fields['dos_to']}"
        )
        if self.portal.entry.search_url and self.use_search_url:  # one request instead of form page + post + redirect
            path = self.portal.entry.search_url.format(**{k: quote(v, safe="") for k, v in fields.items()})
            return await pp.goto(self.portal.url(path), SEARCHED)
        screen = await self.open_form(pp, "nav.new_search")
        self.expect_screen(screen, "search")
        for name, value in fields.items():
            if value:
                await pp.fill(f"search.{name}", value)
        return await pp.submit("search.submit", SEARCHED)

    async def matching_rows(self, pp: PortalPage, item: ItemRef) -> list[Match]:
        """Runs on a results screen that is not empty: the rows that are this item's claim (by
        the registry's `match_on`: the claim number when the worklist knows it, else account
        number, dates of service and billed amount), across every results page."""
        matches = []
        while True:
            for index, (row, href) in enumerate(await pp.result_rows()):
                if row.is_item(item, self.portal.entry.match_on):
                    matches.append(Match(row, href, index, pp.page.url))
            next_page = await self.resolver.find(pp.page, "results.next_page")
            if next_page is None:
                return matches
            self.expect_screen(await pp.submit("results.next_page", ("results",)), "results")

    async def open_match(self, pp: PortalPage, match: Match) -> str:
        """Open the one matching row's claim; the screen it leads to ("detail"). Follows the
        row's link, or (a single-page app) goes back to its results page if need be and expands
        the row in place."""
        if match.href:
            return await pp.goto(urljoin(match.page_url, match.href), ("detail",))
        if pp.page.url != match.page_url:
            self.expect_screen(await pp.goto(match.page_url, ("results",)), "results")
        rows = await self.resolver.get(pp.page, "results.table")
        row = (await self.resolver.get_all(rows, "results.row")).nth(match.index)
        return await pp.reveal(await self.resolver.get(row, "results.open"), "detail")

    async def read_detail(self, pp: PortalPage) -> ClaimDetail:
        """Runs on the detail screen (a page or a panel): the claim as shown, through the selector
        map's `detail.*`, `line.*` and `adjustment.*` elements. Override to correct what a portal
        shows oddly; raise ValueError for a screen that cannot be read."""
        return await pp.claim_detail()

    async def capture_evidence(self, pp: PortalPage, item: ItemRef, caption: str | None = None) -> list[str]:
        """Helper for steps: store a masked screenshot and an HTML snapshot of the page as it is
        now as the item's evidence, with a `caption` beside the page if given (what was searched,
        where the page does not say); their content hashes (for CheckResult.evidence)."""
        image, media_type, html = await capture(pp.page, self.resolver, self.settings.browser)
        if caption:
            browser = self.settings.browser
            palette = browser.screenshot_colors if browser.screenshot_format == "png8" else None
            image, html = await asyncio.to_thread(captioned, image, media_type, html, caption, palette)
        return await self.store(item.id, pp.page.url, (image, media_type), (html, "text/html"))
