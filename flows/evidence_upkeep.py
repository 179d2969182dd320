"""Evidence upkeep, on a schedule: an hourly signed checkpoint of the evidence log (runs sign one
when they end; this one also covers review decisions made in the console meanwhile), and the
daily removal of evidence whose retention period ended, recorded with a tombstone so the tree
and every checkpoint still verify.

Thin on purpose: the work lives in bots.evidence.upkeep and bots.review.ledger."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from bots.core.settings import Settings
from bots.evidence.setup import evidence_store, signer
from bots.evidence.upkeep import expire
from bots.review.ledger import seal
from bots.worklist.db import open_engine


@flow(name="evidence-checkpoint", log_prints=False)
def evidence_checkpoint(settings: Settings | None = None) -> dict[str, Any]:
    """Ledger review decisions, catch the index up and sign the tree; the checkpoint (no PHI)."""
    settings = settings or Settings()
    engine = open_engine(settings.worklist_url)
    try:
        made = seal(settings, engine, evidence_store(settings))
    finally:
        engine.dispose()
    return {"signed": made is not None, "tree_size": made.size if made else None}


@flow(name="evidence-retention", log_prints=False)
def evidence_retention(settings: Settings | None = None) -> dict[str, Any]:
    """Remove the files of evidence captured longer ago than the retention period; the count."""
    settings = settings or Settings()
    store = evidence_store(settings)
    before = dt.datetime.now(dt.UTC) - dt.timedelta(days=settings.evidence.retention_days)
    done = expire(store, before, run_id=f"retention-{flow_run.id}", signer=signer(settings))
    engine = open_engine(settings.worklist_url)
    try:
        seal(settings, engine, store)
    finally:
        engine.dispose()
    return {"removed": done.removed, "tombstone_seq": done.tombstone.seq if done.tombstone else None}
