"""An apply run: every approved review decision with a request to submit, through its portal's
request form, one page per portal sharing the portal's login; each task marked applied (with the
portal's reference and evidence of its confirmation) or apply failed (with why).

Exactly once: a run claims each task in the database (two runs at once never both submit it) and
counts the attempt before the portal is touched, so a run that died between submitting and
recording leaves a task whose next attempt looks on the portal first (bots.apply.bot). Knows
nothing of Prefect: the flow hands in the per-request step."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Browser, async_playwright

from bots.alerts import Alerts, hold_portal
from bots.apply.bot import PortalRequest, RequestBot, Submitted
from bots.browser.launch import launch, new_context
from bots.browser.selectors import Resolver
from bots.claimstatus.login import OnRefused, SharedLogin
from bots.claimstatus.runtime import PortalRuntime
from bots.core.errors import ConfigError
from bots.core.logs import get_logger, redaction_scope
from bots.core.registry import PortalRegistry
from bots.core.settings import Settings
from bots.evidence import LocalEvidenceStore
from bots.evidence.setup import evidence_store
from bots.review import Proposal, ReviewError, ReviewStore, Task
from bots.review.ledger import seal
from bots.worklist.db import ensure_current
from bots.worklist.runs import PortalHolds
from bots.worklist.store import WorklistStore

__all__ = ["ApplyRun", "ApplySummary", "Step"]

log = get_logger(__name__)
# (the run, the portal's bot, one request) -> the portal's answer, recorded
Step = Callable[["ApplyRun", RequestBot, PortalRequest], Awaitable[Submitted]]


@dataclass
class ApplySummary:
    approved: int  # tasks waiting when the run began
    applied: int = 0
    found_earlier: int = 0  # of those applied: already on the portal's list, not sent again
    failed: int = 0
    seconds: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)  # why -> tasks

    def as_dict(self) -> dict[str, Any]:
        return {
            "approved": self.approved,
            "applied": self.applied,
            "found_earlier": self.found_earlier,
            "failed": self.failed,
            "seconds": round(self.seconds, 1),
            "failures": self.failures,
        }


class ApplyRun:
    def __init__(
        self,
        settings: Settings,
        worklist: WorklistStore,
        review: ReviewStore,
        evidence: LocalEvidenceStore,
        registry: PortalRegistry,
        base_urls: dict[str, str] | None = None,
        flow_run_id: str | None = None,
    ) -> None:
        self.settings, self.worklist, self.review, self.evidence = settings, worklist, review, evidence
        self.registry, self.base_urls, self.flow_run_id = registry, base_urls or {}, flow_run_id
        self._failures: Counter[str] = Counter()
        self._found_earlier = 0
        self.owner = uuid.uuid4().hex[:12]  # this run, as the holder of the tasks it submits

    @classmethod
    def load(
        cls, settings: Settings, base_urls: dict[str, str] | None = None, flow_run_id: str | None = None
    ) -> ApplyRun:
        """Open the stores and read the registry (ConfigError naming file, line, key;
        SchemaOutdatedError if the database is older than the code)."""
        worklist = WorklistStore(settings.worklist_url)
        ensure_current(worklist.engine)
        return cls(
            settings,
            worklist,
            ReviewStore(worklist.engine, settings.review),
            evidence_store(settings),
            PortalRegistry.load(settings.path(settings.portals_file)),
            base_urls,
            flow_run_id,
        )

    async def run(self, browser: Browser | None = None, step: Step | None = None) -> ApplySummary:
        """Apply every approved task; a `browser` handed in is used and left open."""
        started = time.monotonic()
        step = step or ApplyRun.submit_and_record
        tasks = await asyncio.to_thread(self.review.to_apply, 10_000)
        summary = ApplySummary(approved=len(tasks))
        by_portal: dict[str, list[Task]] = {}
        for task in tasks:
            by_portal.setdefault(task.portal, []).append(task)
        with redaction_scope():
            async with contextlib.AsyncExitStack() as stack:
                held = await asyncio.to_thread(PortalHolds(self.worklist).active)
                for key, portal_tasks in by_portal.items():
                    if key in held:  # its credentials were refused: no sign-in until a person resumes it
                        log.warning("portal held; its approved requests wait", portal=key, tasks=len(portal_tasks))
                        continue
                    runtime, why = self._runtime(key)
                    if runtime is None:
                        for task in portal_tasks:
                            await self._fail(task, why)
                        continue
                    if browser is None:
                        pw = await stack.enter_async_context(async_playwright())
                        browser = await launch(pw, self.settings.browser)
                        stack.push_async_callback(browser.close)
                    await self._run_portal(browser, runtime, portal_tasks, step)
        for task in tasks:
            done = self.review.task(task.id)
            if done is not None and done.state == "applied":
                summary.applied += 1
            elif done is not None and done.state == "apply_failed":
                summary.failed += 1
        await asyncio.to_thread(seal, self.settings, self.worklist.engine, self.evidence)
        summary.failures = dict(self._failures.most_common())
        summary.found_earlier = self._found_earlier
        summary.seconds = time.monotonic() - started
        return summary

    def _runtime(self, key: str) -> tuple[PortalRuntime | None, str]:
        entry = self.registry.portals.get(key)
        if entry is None or entry.requests is None:
            return None, f"portal {key} takes no requests through rcmbot: submit this one by hand"

        try:
            return PortalRuntime.load(self.settings, key, self.base_urls.get(key), self.registry), ""
        except ConfigError as exc:
            return None, f"portal {key} cannot be worked: {exc}"

    async def _run_portal(self, browser: Browser, runtime: PortalRuntime, tasks: list[Task], step: Step) -> None:
        async def sink(content: bytes, media_type: str, item_id: int, url: str) -> str:
            record = await asyncio.to_thread(
                self.evidence.put,
                content,
                media_type,
                item_id=item_id,
                portal=runtime.key,
                page_url=url,
                run_id=f"apply-{self.flow_run_id or 'local'}",
                flow_run_id=self.flow_run_id,
            )
            return record.sha256

        context = await new_context(browser, self.settings.browser)
        try:
            login = SharedLogin(runtime, self.settings, on_refused=self._holder(runtime))
            bot = RequestBot(context, runtime, login, Resolver(runtime.selectors), sink, self.settings)
            for task in tasks:
                if login.stopped:  # the rest wait, approved, for a later run
                    break
                request = await asyncio.to_thread(self._request, task)
                if request is None:
                    continue
                try:
                    await step(self, bot, request)
                except Exception:  # let the task go for the next run (which looks on the portal first)
                    await asyncio.to_thread(self.review.release_apply, task.id, self.owner)
                    raise
        finally:
            with contextlib.suppress(Exception):
                await context.close()

    def _holder(self, runtime: PortalRuntime) -> OnRefused:
        """What holds the portal the moment its credentials are refused (as a sweep would)."""
        alerts, run_id = Alerts(self.settings, self.worklist.engine), f"apply-{self.flow_run_id or 'local'}"

        async def hold(reason: str) -> None:
            await asyncio.to_thread(hold_portal, self.worklist, alerts, runtime.key, runtime.entry.name, reason, run_id)

        return hold

    def _request(self, task: Task) -> PortalRequest | None:
        """The task as a portal request, its attempt counted first; None if it cannot be sent."""
        proposal = Proposal.model_validate_json(task.proposal_json)
        item = self.worklist.item(task.item_id)
        if proposal.submission is None or proposal.line_no is None:
            self._fail_now(task, "the approved decision has nothing a portal form takes")
            return None
        if item is None or not item.payer_claim_number:
            self._fail_now(task, "the payer's claim number is not known yet: check the claim's status first")
            return None
        started = self.review.begin_apply(task.id, self.owner)
        if started is None:  # another apply run holds it, or it was decided otherwise meanwhile
            log.info("request left to another run", task_id=task.id)
            return None
        return PortalRequest(
            task_id=task.id,
            item_id=task.item_id,
            apply_key=str(started.apply_key),
            claim_number=item.payer_claim_number,
            kind=proposal.submission,
            line_no=proposal.line_no,
            procedure_code=proposal.procedure_code,
            modifiers=tuple(proposal.modifiers),
            reason=proposal.note,
            may_have_landed=started.apply_attempts > 1,
        )

    async def submit_and_record(self, bot: RequestBot, request: PortalRequest) -> Submitted:
        """The step: submit one request (unless the portal has it), record the answer."""
        answer = await bot.submit(request)
        try:
            await asyncio.to_thread(
                self.review.finish_apply,
                request.task_id,
                reference=answer.reference,
                error=answer.error,
                evidence=answer.evidence,
            )
        except ReviewError as exc:  # changed meanwhile by hand; the answer's evidence is stored
            log.error("request answered but not recorded", task_id=request.task_id, error=str(exc))
        if answer.error:
            self._failures[answer.error] += 1
        self._found_earlier += answer.found_earlier
        log.info("request", task_id=request.task_id, applied=bool(answer.reference), found_earlier=answer.found_earlier)
        return answer

    async def _fail(self, task: Task, why: str) -> None:
        await asyncio.to_thread(self._fail_now, task, why)

    def _fail_now(self, task: Task, why: str) -> None:
        self._failures[why] += 1
        with contextlib.suppress(ReviewError):
            self.review.finish_apply(task.id, reference=None, error=why, evidence=[])
