"""Claim-status sweep: check every due worklist item in its payer's portal.

Thin on purpose: selection, browsers, evidence and recording live in bots.sweep. Prefect adds
one task run per claim (about 15 ms each), the run summary artifact, and scheduling."""

from __future__ import annotations

import asyncio
from typing import Any

from prefect import flow, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from bots.claimstatus.bot import PortalBot
from bots.core.models import CheckResult, ItemRef
from bots.core.settings import Settings
from bots.orchestration.limits import portal_slot, shared_server, sync_portal_limits
from bots.orchestration.stale import crash_stale_runs
from bots.sweep.runner import Sweep, SweepDeps


@task(name="check-claim", task_run_name="check-item-{batch[0].id}", cache_policy=NO_CACHE)
async def check_claim(sweep: Sweep, bot: PortalBot, batch: list[ItemRef]) -> list[CheckResult]:
    """One claim (or, at a clearinghouse, one batch inquiry of several), checked and recorded."""
    return await sweep.check_and_record(bot, batch)


@flow(name="claim-status-sweep", log_prints=False)
async def claim_status_sweep(
    limit: int | None = None,
    concurrency: int | None = None,
    run_id: str | None = None,
    portal_urls: dict[str, str] | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Check up to `limit` due items with `concurrency` browser pages; return the summary.
    `settings`: the caller's, in-process; None (deployments): read from the environment."""
    deps = await asyncio.to_thread(SweepDeps.load, settings or Settings())
    sweep = Sweep(deps, run_id=run_id, flow_run_id=str(flow_run.id), base_urls=portal_urls)
    slot = None
    if shared_server():  # other workers may sweep the same portals: share their limits
        await asyncio.to_thread(sync_portal_limits, sweep.registry)
        slot = portal_slot
    due = await asyncio.to_thread(sweep.select, limit)  # leased to this run, once dead runs' items are back
    await crash_stale_runs(sweep.reclaimed)  # best effort: never stops this run
    summary = await sweep.run(due, concurrency, step=check_claim, slot=slot)
    await acreate_markdown_artifact(
        key="claim-status-sweep", markdown=summary.markdown(), description="Claims by outcome; no PHI"
    )
    return summary.as_dict()
