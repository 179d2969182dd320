"""Apply review decisions: submit every approved corrected claim or reconsideration through its
payer portal's request form, exactly once, and mark each task applied or apply failed.

Thin on purpose: the request bot and the bookkeeping live in bots.apply. One task run per
request, so each submission is visible in the Prefect UI."""

from __future__ import annotations

import asyncio
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from bots.apply import ApplyRun, PortalRequest, RequestBot, Submitted
from bots.core.settings import Settings


@task(name="apply-decision", task_run_name="apply-task-{request.task_id}", cache_policy=NO_CACHE)
async def apply_decision(run: ApplyRun, bot: RequestBot, request: PortalRequest) -> Submitted:
    """One approved decision submitted (unless the portal already has it) and recorded."""
    return await run.submit_and_record(bot, request)


@flow(name="apply-review-decisions", log_prints=False)
async def apply_review_decisions(
    portal_urls: dict[str, str] | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """Apply every approved review decision; return the counts (no PHI).
    `settings`: the caller's, in-process; None (deployments): read from the environment."""
    run = await asyncio.to_thread(ApplyRun.load, settings or Settings(), portal_urls, str(flow_run.id))
    summary = await run.run(step=apply_decision)
    return summary.as_dict()
