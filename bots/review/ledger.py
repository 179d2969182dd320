"""Review decisions and applied actions as leaves of the evidence log.

The decision log table is append-only in the database (triggers refuse UPDATE and DELETE); the
evidence log adds what the database cannot: proof, under signed checkpoints, that no decision
was changed, removed or reordered since. Each decision row becomes one JSON object in the
evidence store (kind "decision", or "applied" for what an apply run did at the portal), appended in id order
after the run or request that wrote it. Decisions are caught up from the database rather than
hooked into every transaction, so one written by any process is ledgered by the next catch-up.
"""

from __future__ import annotations

import fcntl
import hashlib
import json

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bots.core.settings import Settings
from bots.evidence.checkpoint import Checkpoint
from bots.evidence.index import EvidenceIndex, EvidenceQuery
from bots.evidence.setup import after_run
from bots.evidence.store import LocalEvidenceStore
from bots.review.schema import Decision, Task
from bots.review.states import Action

PREFIX = "decision-"  # a decision leaf's run_id: its id, zero-padded so ids sort as text
_BATCH = 1000
# PostgreSQL may commit a lower decision id after a higher one was ledgered: look this far back
_LATE = 1000


KINDS = ("decision", "applied")
APPLY_ACTIONS = {Action.APPLIED, Action.APPLY_FAILED}  # what an apply run did at the portal


def decision_json(decision: Decision, task: Task) -> bytes:
    """The decision as the evidence store keeps it: compact JSON with sorted keys."""
    data = {
        "id": decision.id,
        "task_id": decision.task_id,
        "item_id": task.item_id,
        "at": f"{decision.at:%Y-%m-%dT%H:%M:%S.%fZ}",
        "actor": decision.actor,
        "role": decision.role,
        "from_state": decision.from_state,
        "to_state": decision.to_state,
        "action": decision.action,
        "reason": decision.reason,
        "form": json.loads(decision.form_json or "{}"),
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def ledger_decisions(index: EvidenceIndex, durable: bool = True) -> int:
    """Append every decision in the index's database not yet in its evidence log; how many. One
    process at a time (a file lock beside the log), so two catching up at once do not ledger a
    decision twice. `durable` False: without fsyncs, for bulk seeding only."""
    engine, store = index.engine, index.store
    store.root.mkdir(parents=True, exist_ok=True)
    with open(store.root / "decisions.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        index.sync()
        newest = index.search(EvidenceQuery(kinds=KINDS, limit=1))
        after = max(0, int(newest[0].run_id.removeprefix(PREFIX)) - _LATE) if newest else 0
        have = index.run_hashes(KINDS, f"{PREFIX}{after:012d}")
        added = 0
        while True:
            with Session(engine) as s:
                found = s.execute(
                    select(Decision, Task)
                    .join(Task, Task.id == Decision.task_id)
                    .where(Decision.id > after)
                    .order_by(Decision.id)
                    .limit(_BATCH)
                ).all()
            for decision, task in found:
                after = decision.id
                content = decision_json(decision, task)
                # by its content too: a record merely named like this decision does not stand in for it
                if hashlib.sha256(content).hexdigest() in have.get(f"{PREFIX}{decision.id:012d}", set()):
                    continue
                added += 1
                store.put(
                    content,
                    "application/json",
                    item_id=task.item_id,
                    portal=task.portal,
                    page_url="",
                    run_id=f"{PREFIX}{decision.id:012d}",
                    flow_run_id=None,
                    kind="applied" if decision.action in APPLY_ACTIONS else "decision",
                    durable=durable,
                )
            if len(found) < _BATCH:
                return added


def seal(settings: Settings, engine: Engine, store: LocalEvidenceStore) -> Checkpoint | None:
    """What every run (and the console after a decision) ends with: decisions ledgered, the
    index caught up, the tree signed."""
    ledger_decisions(EvidenceIndex(engine, store))
    return after_run(settings, store, engine)
