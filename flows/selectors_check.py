"""Selectors check: drive each portal through every screen with its canary claims before the
sweep, so a portal whose screens changed is skipped (its items deferred) instead of failing
claim after claim. One task per portal; the report is kept for the sweep and as an artifact."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE

from bots.core.registry import PortalRegistry
from bots.core.settings import Settings
from bots.sweep.selectorcheck import CheckReport, check_selectors


@task(name="check-selectors", task_run_name="check-selectors-{portal}", cache_policy=NO_CACHE)
async def check_portal(settings: Settings, portal: str, base_url: str | None) -> CheckReport:
    return await check_selectors(settings, portal, base_url)


@flow(name="selectors-check", log_prints=False)
async def selectors_check(
    portals: list[str] | None = None, portal_urls: dict[str, str] | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """Check `portals` (default: every registered portal that may be automated and has canaries).
    `settings`: the caller's, in-process; None (deployments): read from the environment."""
    settings = settings or Settings()
    registry = PortalRegistry.load(settings.path(settings.portals_file))
    keys = portals or [k for k, e in registry.portals.items() if e.automation_permitted and e.canaries]
    urls = portal_urls or {}
    reports = [await check_portal(settings, key, urls.get(key)) for key in keys]
    rows = "\n".join(
        f"| {r.portal} | {r.counts['ok']} | {r.counts['drift']} | {r.counts['broken']} | {r.counts['not reached']} |"
        for r in reports
    )
    table = f"| portal | ok | drift | broken | not reached |\n|---|---|---|---|---|\n{rows}\n"
    await acreate_markdown_artifact(
        key="selectors-check",
        description="Selector map health per portal; no PHI",
        markdown=f"# Selectors check\n\n{table}",
    )
    return {r.portal: {"counts": r.counts, "broken": r.broken} for r in reports}
