"""Page objects for the supported portal shapes: login (one page or two steps), optional MFA,
optional terms page, then either search, results and a detail page or panel per claim
("detail"), or a batch inquiry answered with 277 codes ("batch"). They speak only in
selector-map keys; the map decides how each element is found."""

from __future__ import annotations

import asyncio
import datetime as dt
import difflib
import email.utils
import functools
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page, Response
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from bots.browser.selectors import Resolver, ScreenError, SelectorMap, UnreadableError, page_path
from bots.core.errors import ApplicationError, ConfigError, PortalBusyError, PortalTimeoutError
from bots.core.models import Adjustment, ClaimDetail, FailureKind, Outcome, ResultRow, ServiceLine
from bots.core.money import parse_cents
from bots.core.ratelimit import RateLimiter
from bots.core.registry import PortalEntry
from bots.core.yamlfile import key_line

SCREEN_POLL_S = 0.1
FIRST_WORDS = 12  # of an unknown page, in its error

# Screen -> element keys whose presence identifies it, in the order screens are told apart.
# (page, screen name) -> None: told of every screen recognised (the selectors check's census)
ScreenObserver = Callable[[Page, str], Awaitable[None]]

# A screen whose markers the map does not list is not part of that portal.
SCREENS: dict[str, tuple[str, ...]] = {
    "unavailable": ("page.unavailable",),
    "request_received": ("received.reference",),  # before the others: a confirmation may repeat a form's parts
    "requests": ("requests.table",),
    "request": ("request.submit",),
    "login": ("login.username",),
    "password": ("login.password",),  # the second step of a two-step login
    "mfa": ("mfa.code",),
    "terms": ("terms.agree",),
    "detail": ("detail.heading",),
    "results": ("results.table", "results.empty"),
    "search": ("search.submit",),
    "responses": ("batch.table",),
    "inquiry": ("batch.submit",),
}

DETAIL_FIELDS = (
    "claim_number",
    "account_number",
    "dos_from",
    "dos_to",
    "status_text",
    "status_date",
    "billed",
    "allowed",
    "paid",
    "patient_resp",
    "check_number",
    "check_date",
)

RESULT_FIELDS = ("claim_number", "account_number", "dos_from", "dos_to", "billed", "status")
LINE_FIELDS = ("line_no", "procedure_code", "modifiers", "diagnosis_pointers", "units", "billed", "paid")
ADJUSTMENT_FIELDS = ("line_no", "group_code", "carc", "carc_description", "rarc", "rarc_description", "amount")

RESPONSE_FIELDS = (
    "line",
    "claim_number",
    "account_number",
    "dos_from",
    "dos_to",
    "billed",
    "category_code",
    "category_description",
    "status_code",
    "status_description",
    "status_date",
    "paid",
)
BATCH_LINE_FIELDS = ("claim_number", "member_id", "dos_from", "dos_to")
# The request form's fields (the apply flow fills them; bots.apply)
REQUEST_FIELDS = ("kind", "claim_number", "line", "procedure_code", "modifiers", "reason", "your_reference")

# The elements each part of a shape needs; a selector map without one (or with it absent) fails
# at load. What the detail shape reads beyond these (and beyond what `match_on` compares) may be
# absent: it reads as not shown.
SHAPE_KEYS: dict[str, tuple[str, ...]] = {
    "login": ("login.username", "login.password", "login.submit"),
    "two_step": ("login.next",),
    "totp": ("mfa.code", "mfa.submit"),
    "mailbox": ("mfa.code", "mfa.submit", "mfa.reference", "mailbox.message", "mailbox.reference", "mailbox.code"),
    "detail": (
        "search.claim_number",
        "search.member_id",
        "search.dos_from",
        "search.dos_to",
        "search.submit",
        "results.table",
        "results.empty",
        "results.row",
        "results.open",
        "detail.heading",
        "detail.status_text",
    ),
    "batch": (
        "batch.payer",
        "batch.line",
        *(f"batch.{n}" for n in BATCH_LINE_FIELDS),
        "batch.submit",
        "batch.table",
        "batch.row",
        *(f"response.{n}" for n in RESPONSE_FIELDS),
    ),
    # a portal with `requests` in the registry: its form, its confirmation, its list of requests
    "requests": (
        *(f"request.{n}" for n in REQUEST_FIELDS),
        "request.submit",
        "received.reference",
        "requests.table",
        "requests.row",
        "requests.reference",
        "requests.your_reference",
    ),
}

# The results cells each `match_on` field compares (detail shape).
MATCH_KEYS: dict[str, tuple[str, ...]] = {
    "claim_number": ("results.claim_number",),
    "account_number": ("results.account_number",),
    "dos": ("results.dos_from", "results.dos_to"),
    "billed": ("results.billed",),
}

# A table the portal has needs its rows and the cells without which a row means nothing.
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "detail.lines": ("detail.line_row", "line.line_no", "line.procedure_code", "line.billed"),
    "detail.adjustments": ("detail.adjustment_row", "adjustment.group_code", "adjustment.carc", "adjustment.amount"),
}


# Elements read when a map lists them, needed by no shape: messages, links, markers.
OPTIONAL_KEYS = (
    "login.error",
    "terms.agree",
    "terms.continue",
    "page.unavailable",
    "nav.new_search",
    "nav.new_inquiry",
    "nav.new_request",
    "request.error",
    "search.error",
    "batch.error",
    "results.next_page",
    *(f"results.{n}" for n in RESULT_FIELDS),
    *(f"detail.{n}" for n in DETAIL_FIELDS),
    *(f"line.{n}" for n in LINE_FIELDS),
    *(f"adjustment.{n}" for n in ADJUSTMENT_FIELDS),
)
HOOK_PREFIX = "hook."  # elements only a hook reads


def playwright_trouble(exc: PlaywrightError, doing: str = "") -> ApplicationError:
    """A Playwright error as the transient trouble it is: a page that did not answer in time, a
    browser (or page) that went away, or else trouble reaching the portal."""
    what = f"{doing}: " if doing else ""
    text = what + str(exc).splitlines()[0]
    if isinstance(exc, PlaywrightTimeoutError):
        return PortalTimeoutError(text)
    error = ApplicationError(text)
    if "has been closed" in str(exc):  # Target page, context or browser has been closed
        error.failure = FailureKind.BROWSER
    return error


def retry_after_s(value: str | None, now: dt.datetime | None = None) -> float | None:
    """A Retry-After header in seconds from now: delay-seconds or an HTTP date (RFC 9110 10.2.3);
    None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]{1,9}", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


def known_keys() -> set[str]:
    """Every element key rcmbot reads (a map may also list what it masks, and `hook.*` keys)."""
    parts = (*SHAPE_KEYS.values(), *MATCH_KEYS.values(), *TABLE_KEYS.values(), tuple(TABLE_KEYS), OPTIONAL_KEYS)
    return {key for part in parts for key in part}


def unknown_keys(smap: SelectorMap) -> list[tuple[str, str | None]]:
    """(key, the closest known key) for each element nothing reads: a typo, most often, which
    would otherwise pass every check while the sweep silently reads nothing there."""
    known = known_keys()
    return [
        (key, next(iter(difflib.get_close_matches(key, sorted(known), n=1)), None))
        for key in smap.elements
        if key not in known and key not in smap.mask and not key.startswith(HOOK_PREFIX)
    ]


def required_keys(entry: PortalEntry, smap: SelectorMap | None = None) -> tuple[str, ...]:
    """Every element a portal must have in its map: those its shape, login and MFA kind need,
    the results cells its `match_on` compares, and the rows and key cells of each table `smap`
    says the portal has."""
    parts = ["login", entry.shape]
    parts += (["two_step"] if entry.login == "two_step" else []) + ([entry.mfa] if entry.mfa in SHAPE_KEYS else [])
    parts += ["requests"] if entry.requests else []
    keys = [key for part in parts for key in SHAPE_KEYS[part]]
    if entry.shape == "detail":
        keys += [key for field in entry.match_on for key in MATCH_KEYS[field]]
        tables = [t for t in TABLE_KEYS if smap is not None and smap.present(t)]
        keys += [key for table in tables for key in TABLE_KEYS[table]]
    return tuple(dict.fromkeys(keys))


def reachable(smap: SelectorMap) -> set[str]:
    """What a canary's `reaches` may name for a portal with this map: a screen, an outcome, or
    an element the portal has."""
    keys = {key for key in smap.elements if smap.present(key)}
    read = (Outcome.STATUS, Outcome.UNMAPPED, Outcome.NOT_FOUND, Outcome.AMBIGUOUS)  # a canary never passes others
    return {*SCREENS, "mailbox", *(o.value for o in read), *keys}


def load_selector_map(path: Path, entry: PortalEntry) -> SelectorMap:
    """A portal's selector map with every element its registry entry needs (ConfigError naming
    file, line and key otherwise)."""
    smap = SelectorMap.load(path)
    problems = [
        ConfigError(
            str(path),
            key_line(path, ("elements", key)),
            f"elements.{key}",
            "no such element"
            + (f" (did you mean {close!r}?)" if close else "")
            + f"; an element only a hook reads is named {HOOK_PREFIX}…",
        )
        for key, close in unknown_keys(smap)
    ]
    try:
        smap.require(required_keys(entry, smap))
    except ConfigError as missing:
        problems = missing.problems + problems
    if problems:
        raise ConfigError.collect(problems)
    return smap


@dataclass
class PortalPage:
    """One browser page working one portal."""

    page: Page
    resolver: Resolver
    date_format: str
    timeout_ms: float
    limiter: RateLimiter | None = None  # the portal's request rate limit, shared by its pages
    observer: ScreenObserver | None = None
    status: int | None = None  # the HTTP status of the last page loaded

    # -- screens ------------------------------------------------------------------------------
    async def screen(self, expect: tuple[str, ...] = (), likely: tuple[str, ...] = ()) -> str:
        """Say which known screen the page shows, polling until one appears (one of `expect`,
        or login or unavailable, when given): one browser query per marker and round, where
        waiting on a union of every marker's candidates would make the browser evaluate them
        all twice. When the caller knows which screens are `likely`, a few queries settle the
        common case first (see _likely_screen)."""
        if expect:  # a hint never returns what the caller waits past
            likely = tuple(name for name in likely if name in (*expect, "login", "unavailable"))
        if likely and (fast := await self._likely_screen(likely)) is not None:
            return await self._recognised(*fast)
        keys = [k for keys in SCREENS.values() for k in keys if k in self.resolver.map.elements]
        deadline = time.monotonic() + self.timeout_ms / 1000
        while True:
            probed = await asyncio.gather(*(self.resolver.probe(self.page, k) for k in keys))
            found = {k: index for k, index in zip(keys, probed, strict=True) if index is not None}
            for name, markers in SCREENS.items():
                hit = next((key for key in markers if key in found), None)
                if hit and (not expect or name in (*expect, "login", "unavailable")):
                    return await self._recognised(name, hit, found[hit])
            if time.monotonic() > deadline:
                status = f"HTTP {self.status}" if self.status else "no HTTP status"
                message = f"no known screen appeared at {page_path(self.page.url)} ({status})"
                raise ScreenError(message, await self._what_is_shown())
            await asyncio.sleep(SCREEN_POLL_S)

    async def _recognised(self, name: str, marker: str, index: int) -> str:
        self.resolver.note(marker, index)
        if self.observer:
            await self.observer(self.page, name)
        return name

    async def _likely_screen(self, likely: tuple[str, ...]) -> tuple[str, str, int] | None:
        """(screen, marker, candidate) when one of the `likely` screens shows and no screen that
        comes before it in SCREENS does, found in few browser queries: one for every candidate
        of every earlier screen together (a union, only asked whether anything matches), then
        the likely screens' markers in order. The answer is the one asking every marker would
        give; None when it cannot be settled that way (then every marker is asked)."""
        order = [name for name in SCREENS if any(self.resolver.map.present(k) for k in SCREENS[name])]
        known = [name for name in likely if name in order]
        if not known:
            return None
        first = min(order.index(name) for name in known)
        smap = self.resolver.map
        earlier = [
            candidate.locate(self.page)
            for name in order[:first]
            for key in SCREENS[name]
            if smap.present(key)
            for candidate in smap.elements[key].candidates
        ]
        if earlier and await functools.reduce(Locator.or_, earlier).count():
            return None
        for name in order[first:]:
            if name not in known:
                return None  # a screen nobody expected comes first in order: it must be asked about
            for key in SCREENS[name]:
                if smap.present(key) and (index := await self.resolver.probe(self.page, key)) is not None:
                    return name, key, index
        return None

    async def _what_is_shown(self) -> str | None:
        """The title and main heading (or first words) of a page no screen matched, for a person
        to see what it was; None when the page cannot say (closed, navigating)."""
        try:
            title = (await self.page.title()).strip()
            heading = self.page.locator("h1").first
            shown = "heading" if await heading.count() else "page begins"
            text = await (heading if shown == "heading" else self.page.locator("body")).inner_text(timeout=1000)
        except PlaywrightError:
            return None
        return f"title {title!r}, {shown} {' '.join(text.split()[:FIRST_WORDS])!r}"

    async def goto(self, url: str, likely: tuple[str, ...] = ()) -> str:
        """Load a URL; return the screen it shows (one of `likely`, most often)."""
        if self.limiter:
            await self.limiter.wait()
        response = await self.page.goto(url, wait_until="domcontentloaded", timeout=self.timeout_ms)
        return await self._loaded(response, likely)

    async def follow(self, target: Locator, likely: tuple[str, ...] = ()) -> str:
        """Click something that loads a new page (a link, a submit button); return its screen
        (one of `likely`, most often)."""
        if self.limiter:
            await self.limiter.wait()
        async with self.page.expect_navigation(wait_until="domcontentloaded", timeout=self.timeout_ms) as loaded:
            await target.click()
        return await self._loaded(await loaded.value, likely)

    async def _loaded(self, response: Response | None, likely: tuple[str, ...]) -> str:
        """The screen a navigation led to; PortalBusyError when the portal answered 429 or 5xx
        (with its Retry-After, if it said when to come back): no screen of such a page is worked."""
        self.status = response.status if response else None
        if response is not None and (response.status == 429 or response.status >= 500):
            retry_after = retry_after_s(await response.header_value("retry-after"))
            shown = await self._what_is_shown()
            raise PortalBusyError(
                f"the portal answered HTTP {response.status} at {page_path(self.page.url)}"
                + (f" ({shown})" if shown else "")
                + (f"; it asks to come back in {retry_after:g} s" if retry_after is not None else ""),
                response.status,
                retry_after,
            )
        return await self.screen(likely=likely)

    async def reveal(self, target: Locator, *screens: str) -> str:
        """Click something that changes the page in place (a single-page app's expanding
        panel) and wait for one of `screens`."""
        if self.limiter:
            await self.limiter.wait()
        await target.click()
        return await self.screen(screens)

    async def submit(self, button_key: str, likely: tuple[str, ...] = ()) -> str:
        return await self.follow(await self.resolver.get(self.page, button_key), likely)

    async def fill(self, key: str, value: str) -> None:
        await (await self.resolver.get(self.page, key)).fill(value)

    # -- values -------------------------------------------------------------------------------
    def date(self, text: str | None, key: str = "a date") -> dt.date | None:
        """A date as the portal writes it (the registry's date_format); None for no text."""
        if not text:
            return None
        try:
            return dt.datetime.strptime(text, self.date_format).date()
        except ValueError:
            raise UnreadableError(key, self.page.url, f"its text is not a date like {self.date_format}") from None

    def cents(self, text: str | None, key: str = "an amount") -> int | None:
        """An amount such as $1,234.50 in cents; None for no text."""
        if not text:
            return None
        try:
            return parse_cents(text)
        except ValueError:
            raise UnreadableError(key, self.page.url, "its text is not an amount like 1,234.50") from None

    def number(self, text: str | None, key: str, default: int) -> int:
        if not text:
            return default
        try:
            return int(text)
        except ValueError:
            raise UnreadableError(key, self.page.url, "its text is not a whole number") from None

    async def _texts(self, scope: Page | Locator, prefix: str, names: tuple[str, ...]) -> dict[str, str | None]:
        """{name: text or None} of the elements `prefix.name`, read together."""
        found = await self.resolver.texts(scope, (f"{prefix}.{n}" for n in names))
        return {n: found[f"{prefix}.{n}"] or None for n in names}

    async def table(
        self, table: Locator, row_key: str, prefix: str, names: tuple[str, ...], link_key: str | None = None
    ) -> list[dict[str, str | None]]:
        """Every row's fields `prefix.name` (and its link's href under "href"), in few browser
        calls (Resolver.rows)."""
        columns = [(f"{prefix}.{n}", None) for n in names] + ([(link_key, "href")] if link_key else [])
        fields = [*names, "href"] if link_key else list(names)
        rows = await self.resolver.rows(table, row_key, columns)
        return [{f: v or None for f, v in zip(fields, row, strict=True)} for row in rows]

    # -- results ------------------------------------------------------------------------------
    async def result_rows(self) -> list[tuple[ResultRow, str]]:
        """Rows of the current results page with the link that opens each claim ("" where the
        row opens in place, with a button). A field the portal does not show is None."""
        table = await self.resolver.get(self.page, "results.table")
        return [
            (
                ResultRow(
                    claim_number=t["claim_number"],
                    account_number=t["account_number"],
                    dos_from=self.date(t["dos_from"], "results.dos_from"),
                    dos_to=self.date(t["dos_to"], "results.dos_to"),
                    billed_cents=self.cents(t["billed"], "results.billed"),
                    status_text=t["status"],
                ),
                t["href"] or "",
            )
            for t in await self.table(table, "results.row", "results", RESULT_FIELDS, "results.open")
        ]

    # -- detail -------------------------------------------------------------------------------
    async def claim_detail(self) -> ClaimDetail:
        """The claim on the detail screen; a field or table the portal does not have is None or
        empty."""
        d, lines, adjustments = await asyncio.gather(
            self._texts(self.page, "detail", DETAIL_FIELDS),
            self._detail_table("detail.lines", "detail.line_row", "line", LINE_FIELDS),
            self._detail_table("detail.adjustments", "detail.adjustment_row", "adjustment", ADJUSTMENT_FIELDS),
        )
        return ClaimDetail(
            payer_claim_number=d["claim_number"] or "",
            account_number=d["account_number"],
            dos_from=self.date(d["dos_from"], "detail.dos_from"),
            dos_to=self.date(d["dos_to"], "detail.dos_to"),
            status_text=d["status_text"] or "",
            status_date=self.date(d["status_date"], "detail.status_date"),
            billed_cents=self.cents(d["billed"], "detail.billed"),
            allowed_cents=self.cents(d["allowed"], "detail.allowed"),
            paid_cents=self.cents(d["paid"], "detail.paid"),
            patient_resp_cents=self.cents(d["patient_resp"], "detail.patient_resp"),
            check_number=d["check_number"],
            check_date=self.date(d["check_date"], "detail.check_date"),
            lines=[self._line(t) for t in lines],
            adjustments=[self._adjustment(t) for t in adjustments],
        )

    async def _detail_table(
        self, table_key: str, row_key: str, prefix: str, names: tuple[str, ...]
    ) -> list[dict[str, str | None]]:
        """A table of the detail screen: [] when the portal does not have it, or does not show
        an optional one for this claim."""
        element = self.resolver.map.elements.get(table_key)
        if element is None or element.absent:
            return []
        table = await (self.resolver.find if element.optional else self.resolver.get_all)(self.page, table_key)
        return [] if table is None else await self.table(table.first, row_key, prefix, names)

    def _line(self, t: dict[str, str | None]) -> ServiceLine:
        return ServiceLine(
            line_no=self.number(t["line_no"], "line.line_no", 0),
            procedure_code=t["procedure_code"] or "",
            modifiers=[m.strip() for m in (t["modifiers"] or "").split(",") if m.strip()],
            diagnosis_pointers=t["diagnosis_pointers"] or "",
            units=self.number(t["units"], "line.units", 1),
            billed_cents=self.cents(t["billed"], "line.billed") or 0,
            paid_cents=self.cents(t["paid"], "line.paid") or 0,
        )

    def _adjustment(self, t: dict[str, str | None]) -> Adjustment:
        return Adjustment(
            line_no=self.number(t["line_no"], "adjustment.line_no", 0) if t["line_no"] else None,
            group_code=t["group_code"] or "",
            carc=t["carc"] or "",
            carc_description=t["carc_description"] or "",
            rarc=t["rarc"],
            rarc_description=t["rarc_description"],
            amount_cents=self.cents(t["amount"], "adjustment.amount") or 0,
        )
