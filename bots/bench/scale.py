"""`rcmbot seed-scale`: a state directory at the size a large revenue-cycle team reaches, for
`rcmbot bench console`: 100,000 review tasks (one per worklist item, with service lines and
decision logs) and 1,000,000 evidence records. Synthetic throughout, written in bulk."""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import insert

from bots.core.settings import Settings
from bots.evidence.index import EvidenceIndex
from bots.evidence.setup import after_run, evidence_store
from bots.review import Decision, Task, priority_of
from bots.review.ledger import ledger_decisions
from bots.worklist import Item, ServiceLineRow, upgrade
from bots.worklist.db import open_engine

PAYERS = ("BSTM1", "JNPR1", "MDWST", "SGBR1", "CDRV1", "NRTHX")
PORTALS = {"BSTM1": "bluestem", "JNPR1": "juniper", "MDWST": "harbor", "SGBR1": "sagebrush", "CDRV1": "cedar"}
CATEGORIES = ("coding", "coding", "coding", "missing_information", "medical_necessity", "rejection")
STATES = ("pending",) * 16 + ("returned", "apply_failed", "approved") + ("applied", "rejected", "resolved")
CHUNK = 5000
DISTINCT_OBJECTS = 500  # evidence records share content-addressed files, as identical captures do


def chunks(n: int, size: int = CHUNK) -> Iterator[range]:
    for start in range(0, n, size):
        yield range(start, min(n, start + size))


def seed_scale(settings: Settings, tasks: int, evidence: int, say: Callable[[str], None]) -> dict[str, Any]:
    """Fill the (empty) state directory of `settings`; what was written and how long it took."""
    started = time.monotonic()
    rng = random.Random(20261129)
    upgrade(settings.worklist_url)
    engine = open_engine(settings.worklist_url)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with engine.begin() as conn:
        for block in chunks(tasks):
            items, lines, rows, logs = [], [], [], []
            for n in block:
                item_id = n + 1
                payer = PAYERS[n % len(PAYERS)]
                dos = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(330))
                billed = rng.randrange(50, 5000) * 100
                state = STATES[rng.randrange(len(STATES))]
                created = now - dt.timedelta(minutes=rng.randrange(60 * 24 * 60))
                items.append(_item(item_id, payer, dos, billed, now, rng))
                lines += [_line(item_id, no, billed // 2) for no in (1, 2)]
                days_left = (dos + dt.timedelta(days=365) - now.date()).days
                rows.append(_task(item_id, payer, state, billed, dos, days_left, created, rng))
                logs.append(_opened(item_id, created))
            conn.execute(insert(Item), items)
            conn.execute(insert(ServiceLineRow), lines)
            conn.execute(insert(Task), rows)
            conn.execute(insert(Decision), logs)
            say(f"  {block.stop:,} of {tasks:,} review tasks")
    engine.dispose()
    _evidence(settings, evidence, tasks, rng, say)
    return {"tasks": tasks, "evidence_records": evidence, "seconds": round(time.monotonic() - started, 1)}


def _item(item_id: int, payer: str, dos: dt.date, billed: int, now: dt.datetime, rng: random.Random) -> dict[str, Any]:
    return {
        "id": item_id,
        "payer_id": payer,
        "account_number": f"SA{item_id:08d}",
        "member_id": f"SM{rng.randrange(10**9):09d}",
        "patient_name": "Synthetic Patient",
        "dos_from": dos,
        "dos_to": dos,
        "billed_cents": billed,
        "payer_claim_number": f"9{item_id:012d}",
        "outcome": "status",
        "status_category": "F2",
        "status_text": "Denied",
        "paid_cents": 0,
        "carc_codes": "4",
        "next_action": "Route to coder for corrected claim or appeal",
        "next_follow_up_at": now + dt.timedelta(days=3),
        "last_checked_at": now,
        "attempts": 1,
        "created_at": now,
        "updated_at": now,
    }


def _line(item_id: int, line_no: int, billed: int) -> dict[str, Any]:
    return {
        "item_id": item_id,
        "line_no": line_no,
        "procedure_code": "99213" if line_no == 1 else "97110",
        "modifiers": "",
        "diagnosis_pointers": "1",
        "units": 1,
        "billed_cents": billed,
        "paid_cents": 0,
    }


def _task(
    item_id: int,
    payer: str,
    state: str,
    billed: int,
    dos: dt.date,
    days_left: int,
    created: dt.datetime,
    rng: random.Random,
) -> dict[str, Any]:
    closed = state in ("applied", "rejected", "resolved")
    proposal = {"action": "corrected_claim", "line_no": 2, "procedure_code": "97110", "modifiers": [], "note": "CO-4"}
    return {
        "id": item_id,
        "item_id": item_id,
        "open_item_id": None if closed else item_id,
        "kind": "denial",
        "state": state,
        "version": 1,
        "payer_id": payer,
        "portal": PORTALS.get(payer, "harbor"),
        "category": CATEGORIES[rng.randrange(len(CATEGORIES))],
        "codes": "CO-4,M20",
        "rules_version": "scale",
        "facts_json": json.dumps({"outcome": "status", "category": "F2", "status_text": "Denied"}),
        "evidence_json": json.dumps([]),
        "line_ids": f"{2 * item_id - 1},{2 * item_id}",
        "proposal_json": json.dumps(proposal),
        "open_balance_cents": billed,
        "filing_deadline": dos + dt.timedelta(days=365),
        "priority": priority_of(billed, days_left),
        "due_at": created + dt.timedelta(days=2),
        "assignee": f"coder{rng.randrange(12)}",
        "apply_attempts": 0,
        "checks": 1,
        "created_at": created,
        "updated_at": created,
    }


def _opened(task_id: int, at: dt.datetime) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "at": at,
        "actor": "sweep",
        "role": "system",
        "from_state": "pending",
        "to_state": "pending",
        "action": "open",
        "reason": "denial",
        "form_json": "{}",
    }


def _evidence(settings: Settings, records: int, items: int, rng: random.Random, say: Callable[[str], None]) -> None:
    """`records` evidence records over a few hundred stored files, appended a chunk at a time
    (no fsync: a seed), then the seeded decisions ledgered, the index filled and a checkpoint
    signed, as after real runs."""
    store = evidence_store(settings)
    store.encrypt = False  # a million records share a few hundred files: only plain objects may be shared
    stored = [
        store.put(
            f"<html><body>synthetic capture {n}</body></html>".encode(),
            "text/html",
            item_id=1,
            portal="bluestem",
            page_url="http://127.0.0.1/claims",
            run_id="scale",
            flow_run_id=None,
        )
        for n in range(DISTINCT_OBJECTS)
    ]
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=365)
    with open(store.log, "ab") as log:
        for block in chunks(records - DISTINCT_OBJECTS, 50_000):
            lines = []
            for n in block:
                update = {
                    "seq": DISTINCT_OBJECTS + n,
                    "item_id": rng.randrange(1, items + 1),
                    "run_id": f"scale-{n // 200}",
                    "captured_at": start + dt.timedelta(seconds=n * 365 * 86400 // records),
                }
                lines.append(stored[n % DISTINCT_OBJECTS].model_copy(update=update).log_line())
            log.write(b"".join(lines))
            say(f"  {block.stop + DISTINCT_OBJECTS:,} of {records:,} evidence records")
    engine = open_engine(settings.worklist_url)
    say(f"  {ledger_decisions(EvidenceIndex(engine, store), durable=False):,} review decisions ledgered")
    after_run(settings, store, engine)
    engine.dispose()
    say("  evidence index filled, checkpoint signed")
