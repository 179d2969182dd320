"""`rcmbot selectors check`: drive a live portal through every screen with its canary claims
and report each element of its selector map as ok (the first candidate matched), drift (only
a fallback matched), broken (its screen was reached and nothing matched) or not reached.
The result is kept for the sweep (bots.sweep.checks)."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from playwright.async_api import Browser, Page, async_playwright

from bots.browser.launch import launch, new_context
from bots.browser.selectors import Resolver
from bots.claimstatus.bot import ClaimStatusBot
from bots.claimstatus.hooks import bot_class
from bots.claimstatus.login import SharedLogin
from bots.claimstatus.runtime import PortalRuntime
from bots.core.errors import InputError
from bots.core.logs import get_logger
from bots.core.registry import PortalRegistry
from bots.core.settings import Settings
from bots.sweep.checks import save_check
from bots.sweep.runner import batches

log = get_logger(__name__)
Status = Literal["ok", "drift", "broken", "not reached"]
STATUSES: tuple[Status, ...] = ("ok", "drift", "broken", "not reached")

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
}


class Census:
    """Watches every screen the bot reaches and probes every element that belongs there,
    keeping the best candidate each element ever matched."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver, self.map = resolver, resolver.map
        self.best: dict[str, int | None] = {}  # key -> best candidate index; None: looked, absent

    async def observe(self, page: Page, screen: str) -> None:
        for key, element in self.map.elements.items():
            if screen not in SCREENS_OF.get(key.split(".", 1)[0], set()):
                continue
            container = await self.resolver.nested(page, element.within) if element.within else (0, page)
            if container is None:
                continue  # its container is absent: nothing to say about it on this screen
            index = await self.resolver.probe(container[1], key)  # probing notes no drift
            old = self.best.get(key)
            if index is not None and (old is None or index < old):
                self.best[key] = index
            else:
                self.best.setdefault(key, None)

    def status(self, key: str) -> tuple[Status, str]:
        """The element's status and the candidate that matched (or why not)."""
        element = self.map.elements[key]
        if key not in self.best:
            return "not reached", "its screen was not reached"
        index = self.best[key]
        if index is None:
            return ("not reached", "optional, not shown") if element.optional else ("broken", "no candidate matched")
        return ("ok" if index == 0 else "drift"), f"#{index + 1} {element.candidates[index].describe()}"


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


async def check_selectors(
    settings: Settings, key: str, base_url: str | None = None, browser: Browser | None = None
) -> CheckReport:
    """Run the portal's canaries through its screens in one browser session; report every element.
    A `browser` handed in is used for a context of the check's own, and left open."""
    started = time.monotonic()
    registry = PortalRegistry.load(settings.path(settings.portals_file))
    if key not in registry.portals:
        raise InputError(f"no portal {key!r} in {settings.portals_file} (have: {', '.join(registry.portals)})")
    portal = PortalRuntime.load(settings, key, base_url, registry)
    if not portal.entry.canaries:
        raise InputError(f"portal {key!r} lists no canaries in {settings.portals_file}: nothing to drive it with")
    resolver = Resolver(portal.selectors)
    census = Census(resolver)
    login = SharedLogin(portal, settings, census.observe)

    async def discard(content: bytes, media_type: str, item_id: int, url: str) -> str:
        return ""  # a canary's evidence is not worklist evidence

    outcomes = []
    async with contextlib.AsyncExitStack() as stack:
        if browser is None:
            browser = await launch(await stack.enter_async_context(async_playwright()), settings.browser)
            stack.push_async_callback(browser.close)
        context = await new_context(browser, settings.browser)
        stack.push_async_callback(context.close)
        bot = bot_class(key, portal.entry, settings.path(settings.portals_file))(
            context, portal, login, resolver, discard, settings
        )
        if isinstance(bot, ClaimStatusBot):
            bot.use_search_url = False  # the search form is a screen to check too
        items = [c.item(n) for n, c in enumerate(portal.entry.canaries, 1)]
        for batch in batches(items, portal.entry.claims_per_inquiry):
            for item, result in zip(batch, await bot.check_batch(batch), strict=True):
                outcomes.append(
                    {
                        "canary": -item.id,
                        "outcome": result.outcome.value,
                        "category": result.category,
                        "error": result.error,
                    }
                )
    elements = {k: dict(zip(("status", "detail"), census.status(k), strict=True)) for k in portal.selectors.elements}
    counts = {str(s): sum(1 for v in elements.values() if v["status"] == s) for s in STATUSES}
    report = CheckReport(
        portal=key,
        checked_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        seconds=round(time.monotonic() - started, 1),
        elements=elements,
        canaries=outcomes,
        counts=counts,
    )
    save_check(settings, report.portal, asdict(report))
    log.info("selectors checked", portal=key, **counts)
    return report
