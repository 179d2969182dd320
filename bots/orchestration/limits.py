"""Portal limits across workers: one Prefect global concurrency limit per portal, sized from
the registry's max_concurrency, held by every page working the portal in any sweep on any
machine that shares the Prefect server. Embedded runs are limited in-process only."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bots.core.registry import PortalRegistry


def limit_name(portal: str) -> str:
    return f"rcmbot-portal-{portal}"


def shared_server() -> bool:
    """Whether flows report to a Prefect server that other workers share (not embedded)."""
    return bool(os.environ.get("PREFECT_API_URL"))


def sync_portal_limits(registry: PortalRegistry) -> None:
    """Create or resize each portal's global concurrency limit from the registry."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client:
        for key, entry in registry.portals.items():
            try:
                client.upsert_global_concurrency_limit_by_name(limit_name(key), entry.max_concurrency)
            except ObjectAlreadyExists:  # another worker created it between our look and our create
                client.upsert_global_concurrency_limit_by_name(limit_name(key), entry.max_concurrency)


@asynccontextmanager
async def portal_slot(portal: str) -> AsyncIterator[None]:
    """Hold one of the portal's slots (waiting for one if all are taken)."""
    from prefect.concurrency.asyncio import concurrency

    async with concurrency(limit_name(portal), occupy=1, strict=True):
        yield
