"""A sweep: due items, grouped by portal, worked by a bounded pool of browser pages that
share one login. Each item is recorded the moment its check ends, so a crash loses at most
the claims in flight. Knows nothing of Prefect: the flow hands in the per-claim step."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import structlog
from playwright.async_api import Browser, BrowserContext, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from bots.browser.launch import launch, new_context
from bots.browser.selectors import Resolver
from bots.browser.tracing import TRACE_MEDIA_TYPE, FailureTracer
from bots.claimstatus.bot import PortalBot
from bots.claimstatus.hooks import bot_class
from bots.claimstatus.login import SharedLogin
from bots.claimstatus.runtime import PortalRuntime
from bots.core.logs import get_logger, redaction_scope
from bots.core.models import CheckResult, ItemRef, Outcome
from bots.core.registry import MissingCredentialsError, PortalRegistry
from bots.core.settings import BrowserSettings, Settings
from bots.denials import DenialRules
from bots.evidence import Kind, LocalEvidenceStore
from bots.evidence.setup import evidence_store
from bots.review import TaskOpener
from bots.review.ledger import seal
from bots.sweep.checks import broken_portals
from bots.worklist.db import ensure_current
from bots.worklist.followup import FollowUpRules
from bots.worklist.store import WorklistStore

log = get_logger(__name__)
Step = Callable[["Sweep", PortalBot, list[ItemRef]], Awaitable[list[CheckResult]]]
# portal key -> a context held by each page working that portal (a cross-worker limit)
Slot = Callable[[str], AbstractAsyncContextManager[None]]


def new_run_id() -> str:
    return f"run-{uuid.uuid4().hex[:12]}"


@dataclass
class SweepSummary:
    run_id: str
    claims: int
    by_category: dict[str, int]
    evidence_files: int
    errors: int
    seconds: float
    drift: dict[str, list[str]] = field(default_factory=dict)
    flow_run_id: str | None = None
    by_portal: dict[str, int] = field(default_factory=dict)  # claims checked in each portal
    needs_person: dict[str, str] = field(default_factory=dict)  # portal -> why its sweep stopped
    # why claims were not checked: outcome (deferred, manual) -> reason -> claims
    not_checked: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def checked(self) -> int:
        """Claims a portal was asked about (not those deferred or left to a person)."""
        return sum(n for key, n in self.by_category.items() if key not in (Outcome.DEFERRED, Outcome.MANUAL))

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "claims": self.claims,
            "checked": self.checked,
            "by_category": self.by_category,
            "evidence_files": self.evidence_files,
            "errors": self.errors,
            "seconds": round(self.seconds, 1),
            "drift": self.drift,
            "flow_run_id": self.flow_run_id,
            "by_portal": self.by_portal,
            "needs_person": self.needs_person,
            "not_checked": self.not_checked,
        }

    def markdown(self) -> str:
        rows = "\n".join(f"| {k} | {v} |" for k, v in sorted(self.by_category.items()))
        return (
            f"# Claim-status sweep {self.run_id}\n\n{self.checked} of {self.claims} claims "
            f"checked in {self.seconds:.1f} s; {self.errors} errors; "
            f"{self.evidence_files} evidence files.\n\n| outcome | claims |\n|---|---|\n{rows}\n"
        )


class Browsers:
    """The sweep's Chromium, launched on first use and relaunched, a bounded number of times,
    when it goes away in the middle of a sweep (a crash, a killed process)."""

    def __init__(self, pw: Playwright | None, settings: BrowserSettings) -> None:
        self.pw, self.settings = pw, settings
        self.browser: Browser | None = None
        self.launches = 0

    @classmethod
    def given(cls, browser: Browser) -> Browsers:
        """A browser someone else owns: used while connected, never relaunched or closed."""
        browsers = cls(None, BrowserSettings(relaunches=0))
        browsers.browser, browsers.launches = browser, 1
        return browsers

    async def get(self) -> Browser | None:
        """A connected browser, or None once the relaunch budget is spent."""
        if self.browser is not None and self.browser.is_connected():
            return self.browser
        if self.launches > self.settings.relaunches:
            return None
        assert self.pw is not None, "a given browser is never relaunched (its budget is spent)"
        if self.browser is not None:
            log.error("browser went away mid-sweep; relaunching", relaunch=self.launches)
        self.launches += 1
        self.browser = await launch(self.pw, self.settings)
        return self.browser

    async def close(self) -> None:
        if self.browser is not None and self.pw is not None:
            with contextlib.suppress(PlaywrightError):
                await self.browser.close()


def batches(items: list[ItemRef], size: int) -> list[list[ItemRef]]:
    """Items in groups of at most `size`, each of one payer, in worklist order."""
    by_payer: dict[str, list[ItemRef]] = {}
    for item in items:
        by_payer.setdefault(item.payer_id, []).append(item)
    return [group[i : i + size] for group in by_payer.values() for i in range(0, len(group), size)]


@dataclass(frozen=True)
class SweepDeps:
    """What sweeps work with: stores, registry and rules, loaded once and shared (by the runs
    of one process, and later by the console and workers)."""

    settings: Settings
    store: WorklistStore
    evidence: LocalEvidenceStore
    registry: PortalRegistry
    rules: FollowUpRules
    review: TaskOpener  # opens a review task for a check a person must decide on

    @classmethod
    def load(cls, settings: Settings) -> SweepDeps:
        """Open the stores and read the registry and rules (ConfigError naming file, line, key);
        SchemaOutdatedError if the worklist database is older than the code."""
        store = WorklistStore(settings.worklist_url)
        ensure_current(store.engine)
        return cls(
            settings=settings,
            store=store,
            evidence=evidence_store(settings),
            registry=PortalRegistry.load(settings.path(settings.portals_file)),
            rules=FollowUpRules.load(settings.path(settings.followup_rules_file)),
            review=TaskOpener(DenialRules.load(settings.path(settings.denial_rules_file)), settings.review),
        )


class Sweep:
    """One run over due items. Constructing it does no I/O: its dependencies are handed in."""

    def __init__(
        self,
        deps: SweepDeps,
        run_id: str | None = None,
        flow_run_id: str | None = None,
        base_urls: dict[str, str] | None = None,
    ) -> None:
        self.settings = deps.settings
        self.store, self.evidence, self.rules, self.registry = deps.store, deps.evidence, deps.rules, deps.registry
        self.review = deps.review
        self.run_id = run_id or new_run_id()
        self.flow_run_id = flow_run_id
        self.base_urls = base_urls or {}
        self.portals: dict[str, PortalRuntime] = {}
        self.bots: dict[str, type[PortalBot]] = {}
        self._unusable: dict[str, str] | None = None
        self._evidence_count = 0
        self._by_portal: Counter[str] = Counter()
        self._not_checked: dict[str, Counter[str]] = {}
        self._needs_person: dict[str, str] = {}  # portal -> what a person must do before it is worked

    @property
    def unusable(self) -> dict[str, str]:
        """Portals not to work in this sweep -> why: those whose latest selectors check failed
        (read once per sweep), and those whose credentials are not available here."""
        if self._unusable is None:
            self._unusable = broken_portals(self.settings, list(self.registry.portals))
        return self._unusable

    def due(self, limit: int | None = None) -> list[ItemRef]:
        return self.store.due(limit=limit)

    def route(self, items: list[ItemRef]) -> tuple[dict[str, list[ItemRef]], list[tuple[ItemRef, CheckResult]]]:
        """Each item to the portal that checks it now, or the outcome saying why none does."""
        now = dt.datetime.now(dt.UTC)
        by_portal: dict[str, list[ItemRef]] = {}
        unrouted = []
        for item in items:
            route = self.registry.route(item.payer_id, now, self.unusable)
            if route.portal is not None:
                by_portal.setdefault(route.portal, []).append(item)
            else:
                outcome = Outcome.DEFERRED if route.deferred else Outcome.MANUAL
                unrouted.append((item, CheckResult(outcome=outcome, error=route.reason)))
        return by_portal, unrouted

    def preflight(self, items: list[ItemRef]) -> dict[str, PortalRuntime]:
        """Load and validate every portal these items go to (registry entry, selector map,
        status map, hook); raise ConfigError naming file, line and key before any work. A portal
        whose credentials are missing is not an error: its items are deferred (or go to another
        portal listing their payer) while the others are swept."""
        return self._load(self.route_loaded(items)[0])

    def route_loaded(self, items: list[ItemRef]) -> tuple[dict[str, list[ItemRef]], list[tuple[ItemRef, CheckResult]]]:
        """route(), with every portal chosen loaded; one whose credentials are missing is marked
        unusable and its items routed again."""
        while True:
            by_portal, unrouted = self.route(items)
            missing = {}
            for key in by_portal:
                try:
                    self._load([key])
                except MissingCredentialsError as exc:
                    missing[key] = f"{key}: credentials {exc.problem}; set them, then sweep again"
                    log.error("portal credentials missing; its items wait", portal=key)
            if not missing:
                return by_portal, unrouted
            self.unusable.update(missing)
            self._needs_person.update(missing)

    def _load(self, keys: Iterable[str]) -> dict[str, PortalRuntime]:
        for key in keys:
            if key not in self.portals:
                self.portals[key] = PortalRuntime.load(self.settings, key, self.base_urls.get(key), self.registry)
                self.bots[key] = bot_class(
                    key,
                    self.registry.portals[key],
                    self.settings.path(self.settings.portals_file),
                    self.settings.project_root,
                )
        return self.portals

    async def check_and_record(self, bot: PortalBot, batch: list[ItemRef]) -> list[CheckResult]:
        """The step: check a batch (one claim, unless the portal answers batches), record each result.
        Whatever goes wrong with one claim ends that claim, never the sweep: an error nobody
        foresaw (bad data, a bug) is recorded as the claim's error, by its kind, and the sweep goes on."""
        try:
            results = await bot.check_batch(batch)
        except Exception as exc:  # noqa: BLE001 - isolated to these claims, kept in their history
            log.error("claim failed unexpectedly", item_id=batch[0].id, kind=type(exc).__name__)
            reason = f"unexpected {type(exc).__name__} while checking: see the logs of run {self.run_id}"
            results = [CheckResult(outcome=Outcome.ERROR, error=reason) for _ in batch]
        for item, result in zip(batch, results, strict=True):
            await self.record(bot.portal.key, item, result)
        return results

    async def record(self, portal: str, item: ItemRef, result: CheckResult) -> None:
        decision = self.rules.decide(result)
        await asyncio.to_thread(
            self.store.record,
            item.id,
            result,
            decision,
            portal=portal,
            run_id=self.run_id,
            flow_run_id=self.flow_run_id,
            after=self.review,
        )
        self._evidence_count += len(result.evidence)
        if result.outcome not in (Outcome.DEFERRED, Outcome.MANUAL):
            self._by_portal[portal] += 1
        else:
            self._not_checked.setdefault(result.outcome.value, Counter())[result.error or "no reason given"] += 1
        log.info("checked", item_id=item.id, outcome=result.outcome.value, category=result.category, rule=decision.rule)

    async def _give_up(self, portal: str, queue: asyncio.Queue[list[ItemRef]], reason: str) -> None:
        while not queue.empty():
            for item in queue.get_nowait():
                await self.record(portal, item, CheckResult(outcome=Outcome.ERROR, error=reason))

    async def _store_evidence(
        self, portal: str, content: bytes, media_type: str, item_id: int, url: str, kind: Kind = "evidence"
    ) -> str:
        record = await asyncio.to_thread(
            self.evidence.put,
            content,
            media_type,
            item_id=item_id,
            portal=portal,
            page_url=url,
            run_id=self.run_id,
            flow_run_id=self.flow_run_id,
            kind=kind,
        )
        return record.sha256

    async def run(
        self,
        items: list[ItemRef],
        concurrency: int | None = None,
        step: Step | None = None,
        slot: Slot | None = None,
        browser: Browser | None = None,
    ) -> SweepSummary:
        """Work every item; return the summary of this run. A `browser` handed in is used as it
        is (not relaunched, not closed): one browser can serve many runs, as in the tests."""
        with redaction_scope():  # values registered for this run's log redaction end with it
            return await self._run(items, concurrency, step, slot, browser)

    async def _run(
        self,
        items: list[ItemRef],
        concurrency: int | None,
        step: Step | None,
        slot: Slot | None,
        browser: Browser | None,
    ) -> SweepSummary:
        started = time.monotonic()
        step = step or Sweep.check_and_record
        concurrency = concurrency or self.settings.sweep.concurrency
        structlog.contextvars.bind_contextvars(run_id=self.run_id)
        by_portal, unrouted = self.route_loaded(items)  # a bad map stops the sweep before anything is recorded
        for item, result in unrouted:
            await self.record("-", item, result)
        drift: dict[str, list[str]] = {}
        async with contextlib.AsyncExitStack() as stack:
            browsers: Browsers | None = None
            for key, portal_items in by_portal.items():
                if browsers is None:
                    browsers = (
                        Browsers.given(browser)
                        if browser is not None
                        else Browsers(await stack.enter_async_context(async_playwright()), self.settings.browser)
                    )
                    stack.push_async_callback(browsers.close)
                drift[key], stopped = await self._run_portal(browsers, key, portal_items, concurrency, step, slot)
                if stopped:
                    self._needs_person[key] = stopped
        await asyncio.to_thread(seal, self.settings, self.store.engine, self.evidence)
        counts = self.store.run_counts(self.run_id)
        return SweepSummary(
            run_id=self.run_id,
            claims=len(items),
            by_category=dict(sorted(counts.items())),
            evidence_files=self._evidence_count,
            errors=counts.get(Outcome.ERROR.value, 0),
            seconds=time.monotonic() - started,
            drift={k: v for k, v in drift.items() if v},
            flow_run_id=self.flow_run_id,
            by_portal=dict(sorted(self._by_portal.items())),
            needs_person=dict(self._needs_person),
            not_checked={outcome: dict(reasons.most_common()) for outcome, reasons in self._not_checked.items()},
        )

    async def _run_portal(
        self, browsers: Browsers, key: str, items: list[ItemRef], concurrency: int, step: Step, slot: Slot | None
    ) -> tuple[list[str], str | None]:
        """Work one portal's items; its drifted elements, and why it needs a person if it does."""
        portal = self.portals[key]
        resolver = Resolver(portal.selectors)
        login = SharedLogin(portal, self.settings)
        queue: asyncio.Queue[list[ItemRef]] = asyncio.Queue()
        for batch in batches(items, portal.entry.claims_per_inquiry):
            queue.put_nowait(batch)

        async def sink(content: bytes, media_type: str, item_id: int, url: str) -> str:
            kind: Kind = "trace" if media_type == TRACE_MEDIA_TYPE else "evidence"  # only traces come zipped
            return await self._store_evidence(key, content, media_type, item_id, url, kind)

        async def worker(browser: Browser, context: BrowserContext, tracer: FailureTracer | None) -> None:
            async with slot(key) if slot else contextlib.nullcontext():
                bot = self.bots[key](context, portal, login, resolver, sink, self.settings, tracer=tracer)
                while not queue.empty() and browser.is_connected():
                    batch = queue.get_nowait()
                    with structlog.contextvars.bound_contextvars(item_id=batch[0].id):
                        await step(self, bot, batch)

        # One context, one page per worker (~50 MB less per worker than a context each).
        # If the browser goes away, the workers stop and a fresh browser works what is left.
        # Tracing is per context too: one trace for all its pages while a check is in trouble
        # (bots.browser.tracing; recording all the time costs a claim ~45% more CPU), kept as
        # the evidence of each check that fails.
        while not queue.empty() and not login.stopped:
            browser = await browsers.get()
            if browser is None:
                await self._give_up(key, queue, "the browser kept going away; relaunch limit reached")
                break
            context = await new_context(browser, self.settings.browser)
            tracer = FailureTracer(context, login.sign_in_paths) if self.settings.evidence.trace_failures else None
            try:
                pages = min(concurrency, portal.entry.max_concurrency, queue.qsize())
                await asyncio.gather(*(worker(browser, context, tracer) for _ in range(pages)))
            finally:
                if tracer is not None:
                    await tracer.close()
                with contextlib.suppress(PlaywrightError):
                    await context.close()
        return sorted(resolver.drift), login.stopped
