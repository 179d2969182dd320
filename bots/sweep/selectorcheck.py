"""`rcmbot selectors check`: drive a live portal through every screen with its canary claims,
through the same bot code the sweep uses, and report each element of its selector map as ok (the
first candidate matched), drift (only a fallback matched), broken (its screen was reached and
nothing matched), not shown (optional, or inside something optional, and never shown), not
reached (its screen was not reached) or absent (the map says the portal has none); and each
canary as passed (it read cleanly and reached what its `reaches` lists) or failed. The result is
kept for the sweep (bots.sweep.checks): a broken element or a failed canary holds the portal
back."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from playwright.async_api import Browser, Page, async_playwright

from bots.alerts import AlertKind, Alerts, hold_portal, incident_key
from bots.browser.launch import launch, new_context
from bots.browser.pages import PortalPage
from bots.browser.selectors import Resolver, page_path
from bots.claimstatus.bot import ClaimStatusBot, PortalBot
from bots.claimstatus.hooks import bot_class
from bots.claimstatus.login import SharedLogin
from bots.claimstatus.runtime import PortalRuntime
from bots.claimstatus.validate import unknown_reaches
from bots.core.errors import ApplicationError, BusinessError, ConfigError, InputError
from bots.core.logs import get_logger
from bots.core.models import CheckResult, FailureKind, Outcome
from bots.core.registry import Canary, PortalRegistry
from bots.core.settings import Settings
from bots.evidence.setup import evidence_store, signer
from bots.sweep.checks import save_check
from bots.sweep.runner import batches
from bots.worklist.db import upgrade
from bots.worklist.runs import PortalHolds, held_reason
from bots.worklist.store import WorklistStore

log = get_logger(__name__)
Status = Literal["ok", "drift", "broken", "not shown", "not reached", "absent"]
STATUSES: tuple[Status, ...] = ("ok", "drift", "broken", "not shown", "not reached", "absent")

# Where each element may be seen, by its key's first part.
APP_SCREENS = {"search", "results", "detail", "inquiry", "responses"}
SCREENS_OF: dict[str, set[str]] = {
    "login": {"login", "password"},
    "mfa": {"mfa"},
    "terms": {"terms"},
    "search": {"search"},
    "results": {"results"},
    "detail": {"detail"},
    "line": {"detail"},
    "adjustment": {"detail"},
    "batch": {"inquiry", "responses"},
    "response": {"responses"},
    "mailbox": {"mailbox"},
    "nav": APP_SCREENS,
    "page": {"unavailable"},
    "request": {"request"},
    "received": {"request_received"},  # never reached by a check: it submits nothing
    "requests": {"requests"},
}


class Census:
    """Watches every screen the bot reaches and probes every element that belongs there,
    keeping the best candidate each element ever matched, and what each canary reached."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver, self.map = resolver, resolver.map
        self.best: dict[str, int | None] = {}  # key -> best candidate index; None: looked, absent
        self.missed_at: dict[str, str] = {}  # key -> the page it was looked for on and not found
        self.unhoused: dict[str, str] = {}  # key -> its container, not found on the key's screen
        self.running: list[int] = []  # the canaries being checked now
        self.reached: dict[int, set[str]] = defaultdict(set)  # canary -> screens and elements seen

    async def observe(self, page: Page, screen: str) -> None:
        self._saw(screen)
        for key, element in self.map.elements.items():
            if element.absent or screen not in SCREENS_OF.get(key.split(".", 1)[0], set()):
                continue
            container = await self.resolver.nested(page, element.within) if element.within else (0, page)
            if container is None:
                self.unhoused.setdefault(key, element.within or "")
                continue
            index = await self.resolver.probe(container[1], key)  # probing notes no drift
            old = self.best.get(key)
            if index is not None:
                self._saw(key)
                if old is None or index < old:
                    self.best[key] = index
            else:
                self.best.setdefault(key, None)
                self.missed_at.setdefault(key, page_path(page.url))

    def _saw(self, what: str) -> None:
        for canary in self.running:
            self.reached[canary].add(what)

    def status(self, key: str) -> tuple[Status, str]:
        """The element's status and the candidate that matched (or why not)."""
        element = self.map.elements[key]
        if element.absent:
            return "absent", "the portal has no such element (absent: true)"
        index = self.best.get(key)
        if index is not None:
            return ("ok" if index == 0 else "drift"), f"#{index + 1} {element.candidates[index].describe()}"
        if key in self.best:
            if element.optional:
                return "not shown", "optional, not shown on the screens reached"
            tried = "; ".join(c.describe() for c in element.candidates)
            return "broken", f"{self.map.where(key)}: none of {tried} matched at {self.missed_at[key]}"
        if key in self.unhoused:
            container = self.unhoused[key]
            if self.status(container)[0] == "broken":
                return "broken", f"inside {container}, which did not match"
            return "not shown", f"inside {container}, which was not shown"
        screens = " or ".join(sorted(SCREENS_OF.get(key.split(".", 1)[0], {"?"})))
        return "not reached", f"its screen ({screens}) was not reached"


@dataclass
class CheckReport:
    portal: str
    checked_at: str  # UTC, ISO 8601
    seconds: float
    elements: dict[str, dict[str, str]]  # key -> {"status", "detail"}
    canaries: list[dict[str, Any]] = field(default_factory=list)  # what each canary's check found
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def broken(self) -> list[str]:
        return [k for k, v in self.elements.items() if v["status"] == "broken"]

    @property
    def failed_canaries(self) -> list[dict[str, Any]]:
        return [c for c in self.canaries if not c["passed"]]

    @property
    def passed(self) -> bool:
        return not self.broken and not self.failed_canaries


def canary_verdict(n: int, result: CheckResult, wanted: list[str], reached: set[str]) -> dict[str, Any]:
    """What one canary's check found, and whether it passed: it read cleanly (no error, not
    deferred) and reached every screen, element or outcome its `reaches` lists."""
    missed = [w for w in wanted if w not in reached and w != result.outcome.value]
    passed = result.outcome not in (Outcome.ERROR, Outcome.DEFERRED) and not missed
    return {
        "canary": n,
        "outcome": result.outcome.value,
        "category": result.category,
        "error": result.error,
        "reaches": wanted,
        "missed": missed,
        "passed": passed,
    }


async def visit_request_screens(bot: PortalBot, portal: PortalRuntime, canary: Canary) -> None:
    """Show the census the request form and the submitted-requests list (of the first canary's
    claim): reading only. A check never submits a request, so the confirmation is not reached."""
    pages = portal.entry.requests
    assert pages is not None
    claim = quote(canary.claim_number or "", safe="")
    for path, screen in ((pages.form_page, "request"), (pages.list_page.replace("{claim_number}", claim), "requests")):

        async def visit(pp: PortalPage, path: str = path, screen: str = screen) -> None:
            bot.expect_screen(await pp.goto(portal.url(path), (screen,)), screen)

        with contextlib.suppress(ApplicationError, BusinessError):  # an unreached screen says so in the report
            await bot.with_retries(visit, 0)


async def check_selectors(
    settings: Settings, key: str, base_url: str | None = None, browser: Browser | None = None
) -> CheckReport:
    """Run the portal's canaries through its screens in one browser session; report every element.
    A `browser` handed in is used for a context of the check's own, and left open."""
    started = time.monotonic()
    registry = PortalRegistry.load(settings.path(settings.portals_file))
    if key not in registry.portals:
        raise InputError(f"no portal {key!r} in {settings.portals_file} (have: {', '.join(registry.portals)})")
    worklist = await asyncio.to_thread(_worklist, settings)
    hold = (await asyncio.to_thread(PortalHolds(worklist).active)).get(key)
    if hold is not None:  # its credentials were refused: nothing signs in until a person resumes it
        raise InputError(held_reason(hold))
    portal = PortalRuntime.load(settings, key, base_url, registry)
    if not portal.entry.canaries:
        raise InputError(f"portal {key!r} lists no canaries in {settings.portals_file}: nothing to drive it with")
    registry_file = settings.path(settings.portals_file)
    unknown = unknown_reaches(portal.entry, portal.selectors, registry_file, key)
    if unknown:
        raise ConfigError.collect(unknown)
    resolver = Resolver(portal.selectors)
    census = Census(resolver)
    alerts = Alerts(settings, worklist.engine)

    async def held(reason: str) -> None:  # not the map's fault: held as a sweep holds it, the check not kept
        await asyncio.to_thread(hold_portal, worklist, alerts, key, portal.entry.name, reason, run_id)

    login = SharedLogin(portal, settings, census.observe, on_refused=held)
    store = evidence_store(settings)
    run_id = f"selectors-check-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"

    async def keep(content: bytes, media_type: str, item_id: int, url: str) -> str:
        """A canary's screens go to the evidence store, under its negative item id: what the
        check saw is evidence like the sweep's (masked the same way, verified the same way)."""
        record = await asyncio.to_thread(
            store.put, content, media_type, item_id=item_id, portal=key, page_url=url, run_id=run_id, flow_run_id=None
        )
        return record.sha256  # `rcmbot evidence open` takes it (files may be encrypted)

    canaries = []
    async with contextlib.AsyncExitStack() as stack:
        if browser is None:
            browser = await launch(await stack.enter_async_context(async_playwright()), settings.browser)
            stack.push_async_callback(browser.close)
        context = await new_context(browser, settings.browser)
        stack.push_async_callback(context.close)
        bot = bot_class(key, portal.entry, settings.path(settings.portals_file), settings.project_root)(
            context, portal, login, resolver, keep, settings
        )
        if isinstance(bot, ClaimStatusBot):
            bot.use_search_url = False  # the search form is a screen to check too
        items = [c.item(n) for n, c in enumerate(portal.entry.canaries, 1)]
        for batch in batches(items, portal.entry.claims_per_inquiry):
            census.running = [-item.id for item in batch]
            for item, result in zip(batch, await bot.check_batch(batch), strict=True):
                n = -item.id
                verdict = canary_verdict(n, result, portal.entry.canaries[n - 1].reaches, census.reached[n])
                canaries.append(verdict | {"evidence": result.evidence})
        if portal.entry.requests is not None:
            await visit_request_screens(bot, portal, portal.entry.canaries[0])
    await asyncio.to_thread(store.checkpoint, signer(settings))  # the canaries' evidence, signed like a run's
    elements = {k: dict(zip(("status", "detail"), census.status(k), strict=True)) for k in portal.selectors.elements}
    counts = {str(s): sum(1 for v in elements.values() if v["status"] == s) for s in STATUSES}
    report = CheckReport(
        portal=key,
        checked_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        seconds=round(time.monotonic() - started, 1),
        elements=elements,
        canaries=canaries,
        counts=counts,
    )
    if login.stopped is not None and login.stopped.failure == FailureKind.CREDENTIALS_REFUSED:
        log.error("selectors check stopped: credentials refused; the portal is held", portal=key)
        return report
    save_check(settings, report.portal, asdict(report))
    log.info("selectors checked", portal=key, failed_canaries=len(report.failed_canaries), **counts)
    await asyncio.to_thread(alert_on, alerts, report, portal.entry.name)
    return report


def _worklist(settings: Settings) -> WorklistStore:
    """The worklist database, where holds and alerts are kept (the embedded one brought up to date)."""
    if settings.database_url is None:
        upgrade(settings.worklist_url)
    return WorklistStore(settings.worklist_url)


def alert_on(alerts: Alerts, report: CheckReport, name: str) -> None:
    """A failed check raises the portal's `selectors_broken` alert (once per incident); a passing
    one resolves it: the sweep works the portal again."""
    key = incident_key(AlertKind.SELECTORS_BROKEN, report.portal)
    if report.passed:
        alerts.resolve(key, f"selectors check of {report.checked_at}")
        return
    failed = [str(c["canary"]) for c in report.failed_canaries]
    alerts.raise_alert(
        AlertKind.SELECTORS_BROKEN,
        key,
        f"{name}: selectors check failed; its items wait",
        f"Broken elements: {', '.join(report.broken) or 'none'}; failed canaries: {', '.join(failed) or 'none'}. "
        f"Fix the selector map, then run: rcmbot selectors check {report.portal}",
        portal=report.portal,
    )
