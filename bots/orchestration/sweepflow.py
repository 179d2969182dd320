"""Run the claim-status sweep flow in this process (embedded Prefect unless PREFECT_API_URL)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from bots.core.errors import InputError
from bots.sweep.runner import Sweep, SweepDeps, new_run_id

# (run id, number of due items) -> a context that shows progress while the flow runs
ProgressFactory = Callable[[str, int], AbstractContextManager[Any]]


def run_sweep_flow(
    deps: SweepDeps,
    *,
    limit: int | None,
    concurrency: int | None,
    portal_urls: dict[str, str] | None,
    progress: ProgressFactory | None = None,
) -> dict[str, Any]:
    """Check the due items through the `claim-status-sweep` flow; return its summary."""
    from prefect.flows import load_flow_from_entrypoint

    # Validate registry, maps, rules and credentials before Prefect starts, so a bad file is
    # reported by name, line and key rather than as a failed flow run.
    settings = deps.settings
    unknown = sorted(set(portal_urls or {}) - set(deps.registry.portals))
    if unknown:
        raise InputError(
            f"--portal-url {', '.join(unknown)}: no such portal in {settings.portals_file} "
            f"(have: {', '.join(deps.registry.portals)})"
        )
    preflight = Sweep(deps, base_urls=portal_urls)
    due = preflight.due(limit)
    preflight.preflight(due)
    flow: Any = load_flow_from_entrypoint(f"{settings.project_root / 'flows/claim_status_sweep.py'}:claim_status_sweep")
    run_id = new_run_id()
    params = {
        "limit": limit,
        "concurrency": concurrency,
        "run_id": run_id,
        "portal_urls": portal_urls,
        "settings": settings,
    }
    with progress(run_id, len(due)) if progress else contextlib.nullcontext():
        return dict(asyncio.run(flow(**params)))
