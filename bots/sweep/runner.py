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
from sqlalchemy.exc import SQLAlchemyError

from bots.alerts import AlertKind, Alerts, hold_portal, incident_key
from bots.browser.launch import launch, new_context
from bots.browser.selectors import Resolver
from bots.browser.tracing import TRACE_MEDIA_TYPE, FailureTracer
from bots.claimstatus.bot import PortalBot
from bots.claimstatus.hooks import bot_class
from bots.claimstatus.login import OnRefused, PortalStoppedError, SharedLogin
from bots.claimstatus.runtime import PortalRuntime
from bots.core.logs import get_logger, redaction_scope
from bots.core.models import CheckResult, FailureKind, ItemRef, Outcome
from bots.core.registry import Blocked, MissingCredentialsError, PortalRegistry
from bots.core.settings import BrowserSettings, Settings
from bots.denials import DenialRules
from bots.evidence import Kind, LocalEvidenceStore
from bots.evidence.setup import evidence_store
from bots.review import TaskOpener
from bots.review.ledger import seal
from bots.sweep.breaker import CircuitBreaker
from bots.sweep.checks import broken_portals
from bots.worklist.db import ensure_current
from bots.worklist.followup import FollowUpRules
from bots.worklist.runs import DeadRun, PortalHolds, SweepRuns, held_reason
from bots.worklist.store import WorklistStore

log = get_logger(__name__)
Step = Callable[["Sweep", PortalBot, list[ItemRef]], Awaitable[list[CheckResult]]]
# portal key -> a context held by each page working that portal (a cross-worker limit)
Slot = Callable[[str], AbstractAsyncContextManager[None]]


# Outcomes of claims the portal did not answer about
NOT_CHECKED = (Outcome.ERROR, Outcome.DEFERRED, Outcome.MANUAL)
# What the alert of a portal's stop says first
SUBJECTS = {
    AlertKind.CIRCUIT_OPEN: "circuit breaker open; the rest of the run's claims wait",
    AlertKind.NEEDS_PERSON: "a person is needed before the portal can be swept",
}


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
    # why claims were not checked: outcome (error, deferred, manual) -> reason -> claims
    not_checked: dict[str, dict[str, int]] = field(default_factory=dict)
    by_failure: dict[str, int] = field(default_factory=dict)  # failed, deferred or manual claims by FailureKind
    held_elsewhere: int = 0  # items handed to this run that another running sweep holds (not worked here)
    unaccounted: int = 0  # items this run selected that ended without an outcome (none, unless it crashed)

    @property
    def checked(self) -> int:
        """Claims the portal answered about (not those that failed, were deferred or left to a person)."""
        return sum(n for key, n in self.by_category.items() if key not in NOT_CHECKED)

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
            "by_failure": self.by_failure,
            "held_elsewhere": self.held_elsewhere,
            "unaccounted": self.unaccounted,
        }

    def markdown(self) -> str:
        rows = "\n".join(f"| {k} | {v} |" for k, v in sorted(self.by_category.items()))
        deferred = self.by_category.get(Outcome.DEFERRED, 0)
        return (
            f"# Claim-status sweep {self.run_id}\n\n{self.checked} of {self.claims} claims "
            f"checked in {self.seconds:.1f} s; {self.errors} failed; {deferred} deferred; "
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
        self.runs, self.holds = SweepRuns(deps.store), PortalHolds(deps.store)
        self.alerts = Alerts(deps.settings, deps.store.engine)
        self.run_id = run_id or new_run_id()
        self.flow_run_id = flow_run_id
        self.base_urls = base_urls or {}
        self.portals: dict[str, PortalRuntime] = {}
        self.bots: dict[str, type[PortalBot]] = {}
        self.reclaimed: list[DeadRun] = []  # runs found dead when this one started
        self._unusable: dict[str, Blocked] | None = None
        self._evidence_count = 0
        self._by_portal: Counter[str] = Counter()
        self._not_checked: dict[str, Counter[str]] = {}
        self._needs_person: dict[str, str] = {}  # portal -> what a person must do before it is worked
        self._logins: dict[str, SharedLogin] = {}
        self._breakers: dict[str, CircuitBreaker] = {}

    @property
    def unusable(self) -> dict[str, Blocked]:
        """Portals not to work in this sweep -> why: those a person must release (refused
        credentials, a terms page), those whose latest selectors check failed (read once per
        sweep), and those whose credentials are not available here."""
        if self._unusable is None:
            broken = broken_portals(self.settings, list(self.registry.portals))
            self._unusable = {key: Blocked(why, FailureKind.SELECTORS_BROKEN) for key, why in broken.items()}
            for key, hold in self.holds.active().items():
                self._unusable[key] = Blocked(held_reason(hold), FailureKind.PORTAL_HELD)
        return self._unusable

    def reclaim(self) -> list[DeadRun]:
        """End the runs whose process died and take back their items (see bots.worklist.runs)."""
        dead = self.runs.reclaim(self.settings.sweep.lease_s)
        for run in dead:
            log.warning("a sweep run died; its items are taken back", dead_run=run.run_id, leases=run.leases)
            self.alerts.raise_alert(
                AlertKind.RUN_FAILED,
                incident_key(AlertKind.RUN_FAILED, "claim-status-sweep"),  # one incident however many runs
                f"Sweep run {run.run_id} died",
                f"Its process stopped without ending the run; {run.leases} items it held were taken back "
                f"by run {self.run_id}, which checks them.",
                run_id=run.run_id,
            )
        self.reclaimed += dead
        return dead

    def due(self, limit: int | None = None) -> list[ItemRef]:
        """Due items no live sweep holds, as they are now (a look: nothing taken, nobody's items
        taken back; `select` and `run` do that)."""
        return self.store.due(limit=limit)

    def select(self, limit: int | None = None) -> list[ItemRef]:
        """Take up to `limit` due items for this run: registered, then leased in one statement
        (another sweep selecting at the same time gets other items). What `run` is handed."""
        self.reclaim()
        self.runs.start(self.run_id, self.flow_run_id)
        return self.store.lease_due(self.run_id, self.settings.sweep.lease_s, limit)

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
                unrouted.append((item, CheckResult(outcome=outcome, error=route.reason, failure=route.failure)))
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
                    why = f"{key}: credentials {exc.problem}; set them, then sweep again"
                    missing[key] = Blocked(why, FailureKind.NO_CREDENTIALS)
                    log.error("portal credentials missing; its items wait", portal=key)
            if not missing:
                return by_portal, unrouted
            self.unusable.update(missing)
            self._needs_person.update({key: blocked.reason for key, blocked in missing.items()})

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
            results = [CheckResult(outcome=Outcome.ERROR, error=reason, failure=FailureKind.UNEXPECTED) for _ in batch]
        for item, result in zip(batch, results, strict=True):
            await self.record(bot.portal.key, item, result)
        key = bot.portal.key
        if key in self._breakers and self._breakers[key].observe(results, bot.signin_failure):
            self._logins[key].stop(self._breakers[key].reason(key), FailureKind.CIRCUIT_OPEN)
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
        if result.outcome not in NOT_CHECKED:
            self._by_portal[portal] += 1
        else:
            self._not_checked.setdefault(result.outcome.value, Counter())[result.error or "no reason given"] += 1
        log.info(
            "checked",
            item_id=item.id,
            outcome=result.outcome.value,
            category=result.category,
            failure=result.failure,
            rule=decision.rule,
        )

    async def _defer_rest(self, portal: str, queue: asyncio.Queue[list[ItemRef]], result: CheckResult) -> None:
        """Record `result` (why they were not checked) for every batch still queued."""
        while not queue.empty():
            for item in queue.get_nowait():
                await self.record(portal, item, result)

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
        """Work the `items` no other live sweep holds (leased to this run while it works, its
        heartbeat renewing the leases); return the summary of this run. A `browser` handed in is
        used as it is (not relaunched, not closed): one browser can serve many runs, as in the tests."""
        with redaction_scope():  # values registered for this run's log redaction end with it
            await asyncio.to_thread(self.reclaim)
            await asyncio.to_thread(self.runs.start, self.run_id, self.flow_run_id)
            ending = "failed"
            heartbeat = asyncio.create_task(self._heartbeat())
            try:
                summary = await self._run(items, concurrency, step, slot, browser)
                ending = "completed"
                return summary
            except Exception as exc:
                await asyncio.to_thread(
                    self.alerts.raise_alert,
                    AlertKind.RUN_FAILED,
                    incident_key(AlertKind.RUN_FAILED, "claim-status-sweep"),
                    f"Sweep run {self.run_id} failed",
                    f"It stopped with {type(exc).__name__}; the items it did not record stay due. See its logs.",
                    run_id=self.run_id,
                )
                raise
            finally:
                heartbeat.cancel()
                await asyncio.to_thread(self.runs.finish, self.run_id, ending)

    async def _heartbeat(self) -> None:
        """While the run works: its heartbeat, and its leases renewed."""
        sweep = self.settings.sweep
        while True:
            await asyncio.sleep(sweep.heartbeat_s)
            try:
                alive = await asyncio.to_thread(self.runs.beat, self.run_id, sweep.lease_s)
            except SQLAlchemyError as exc:  # a busy database: the next beat renews, well inside the lease
                log.warning("sweep heartbeat missed", error=type(exc).__name__)
                continue
            if not alive:  # stalled past its lease and ended by another run: its items are that run's now
                log.error("this run was ended as crashed by another; it stops")
                for login in self._logins.values():
                    login.stop("the run stalled past its lease; another run took its items", FailureKind.UNEXPECTED)
                return

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
        held = await asyncio.to_thread(
            self.store.lease, self.run_id, [i.id for i in items], self.settings.sweep.lease_s
        )
        await asyncio.to_thread(self.runs.selected, self.run_id, len(held))
        by_portal = {k: mine for k, v in by_portal.items() if (mine := [i for i in v if i.id in held])}
        for item, result in unrouted:
            if item.id in held:
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
                drift[key] = await self._run_portal(browsers, key, portal_items, concurrency, step, slot)
        await asyncio.to_thread(seal, self.settings, self.store.engine, self.evidence)
        outcomes = self.store.run_outcomes(self.run_id)
        counts = self.store.run_counts(self.run_id)
        return SweepSummary(
            run_id=self.run_id,
            claims=len(held),
            by_category=dict(sorted(counts.items())),
            evidence_files=self._evidence_count,
            errors=counts.get(Outcome.ERROR.value, 0),
            seconds=time.monotonic() - started,
            drift={k: v for k, v in drift.items() if v},
            flow_run_id=self.flow_run_id,
            by_portal=dict(sorted(self._by_portal.items())),
            needs_person=dict(self._needs_person),
            not_checked={outcome: dict(reasons.most_common()) for outcome, reasons in self._not_checked.items()},
            by_failure=dict(sorted(outcomes.failures.items())),
            held_elsewhere=len(items) - len(held),
            unaccounted=len(held) - outcomes.items,
        )

    async def _run_portal(
        self, browsers: Browsers, key: str, items: list[ItemRef], concurrency: int, step: Step, slot: Slot | None
    ) -> list[str]:
        """Work one portal's items; its drifted elements. A portal that stops (refused credentials,
        a person needed, a long maintenance, the circuit breaker) has the rest of its items deferred
        with the reason; refused credentials also hold it for later sweeps."""
        portal = self.portals[key]
        resolver = Resolver(portal.selectors)
        login = self._logins[key] = SharedLogin(portal, self.settings, on_refused=self._holder(key))
        self._breakers[key] = CircuitBreaker(self.settings.sweep.circuit_failures)
        queue: asyncio.Queue[list[ItemRef]] = asyncio.Queue()
        for batch in batches(items, portal.entry.claims_per_inquiry):
            queue.put_nowait(batch)

        async def sink(content: bytes, media_type: str, item_id: int, url: str) -> str:
            kind: Kind = "trace" if media_type == TRACE_MEDIA_TYPE else "evidence"  # only traces come zipped
            return await self._store_evidence(key, content, media_type, item_id, url, kind)

        async def worker(browser: Browser, context: BrowserContext, tracer: FailureTracer | None) -> None:
            async with slot(key) if slot else contextlib.nullcontext():
                bot = self.bots[key](context, portal, login, resolver, sink, self.settings, tracer=tracer)
                while not queue.empty() and browser.is_connected() and not login.stopped:
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
                gone = "the browser kept going away; relaunch limit reached"
                await self._defer_rest(
                    key, queue, CheckResult(outcome=Outcome.ERROR, error=gone, failure=FailureKind.BROWSER)
                )
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
        if login.stopped:
            await self._portal_stopped(key, login.stopped, queue)
        elif self._by_portal[key]:  # the portal answered again: its passing incidents are over
            for kind in (AlertKind.CIRCUIT_OPEN, AlertKind.NEEDS_PERSON):
                await asyncio.to_thread(self.alerts.resolve, incident_key(kind, key), f"sweep run {self.run_id}")
        return sorted(resolver.drift)

    def _holder(self, key: str) -> OnRefused:
        """What holds `key` the moment its credentials are refused: signing in again could lock the account."""
        name = self.registry.portals[key].name

        async def hold(reason: str) -> None:
            await asyncio.to_thread(hold_portal, self.store, self.alerts, key, name, reason, self.run_id)

        return hold

    async def _portal_stopped(self, key: str, stopped: PortalStoppedError, queue: asyncio.Queue[list[ItemRef]]) -> None:
        """The portal stopped for this run: the rest of its items deferred with the reason; held for
        later sweeps when its credentials were refused."""
        reason, name = str(stopped), self.registry.portals[key].name
        await self._defer_rest(key, queue, CheckResult(outcome=Outcome.DEFERRED, error=reason, failure=stopped.failure))
        if stopped.failure in (FailureKind.MAINTENANCE, FailureKind.RATE_LIMITED):  # ends by itself: nobody to call
            return
        if stopped.failure == FailureKind.CREDENTIALS_REFUSED:  # held the moment it happened (_holder)
            self._needs_person[key] = f"{reason}; after fixing it: rcmbot portal resume {key}"
            return
        self._needs_person[key] = reason
        kind = AlertKind.CIRCUIT_OPEN if stopped.failure == FailureKind.CIRCUIT_OPEN else AlertKind.NEEDS_PERSON
        subject = f"{name}: {SUBJECTS[kind]}"
        await asyncio.to_thread(
            self.alerts.raise_alert, kind, incident_key(kind, key), subject, reason, portal=key, run_id=self.run_id
        )
