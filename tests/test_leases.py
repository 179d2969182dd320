"""Leases and runs: two sweeps never hold one item; a run whose process died is ended as crashed
and its items taken back at once; a portal held after refused credentials waits for a person."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import update

from bots.core.models import CheckResult, FailureKind, Outcome
from bots.core.registry import PortalRegistry
from bots.worklist.csvio import read_worklist_csv
from bots.worklist.db import upgrade
from bots.worklist.followup import FollowUpRules
from bots.worklist.runs import PortalHolds, SweepRuns, holder_alive, this_process
from bots.worklist.schema import SweepRun
from bots.worklist.store import WorklistStore
from tests.conftest import ROOT

RULES = FollowUpRules.load(ROOT / "config/followup.yaml")


@pytest.fixture
def store(tmp_path: Path) -> WorklistStore:
    upgrade(url := f"sqlite:///{tmp_path / 'wl.db'}")
    store = WorklistStore(url)
    csv = tmp_path / "wl.csv"
    csv.write_text(
        "payer_id,account_number,member_id,dos_from,dos_to,billed\n"
        + "".join(f"BSTM1,PA{i},BSM{i},2026-09-01,,10\n" for i in range(6))
    )
    store.upsert(read_worklist_csv(csv))
    return store


def ids(store: WorklistStore) -> list[int]:
    return [item.id for item in store.due()]


def test_two_runs_never_hold_one_item_and_a_recorded_check_lets_go(store) -> None:
    due = ids(store)
    first = store.lease("run-a", due[:4], 60)
    second = store.lease("run-b", due, 60)
    assert first == set(due[:4]) and second == set(due[4:])  # disjoint, whoever asks first
    assert ids(store) == []  # nothing due is free
    store.record(
        due[0],
        CheckResult(outcome=Outcome.NOT_FOUND),
        RULES.decide(CheckResult(outcome=Outcome.NOT_FOUND)),
        portal="bluestem",
        run_id="run-a",
        flow_run_id=None,
    )
    assert store.item(due[0]).lease_holder is None
    assert store.release_leases("run-a") == 3
    assert store.lease("run-c", due, 60) == set(due[1:4])  # the checked one is not due any more


def test_an_expired_lease_is_free_and_a_heartbeat_renews(store) -> None:
    due = ids(store)
    assert store.lease("run-a", due, 0.001) == set(due)
    with store.session() as s, s.begin():  # the lease ran out a minute ago
        s.execute(
            update(type(store.item(due[0]))).values(lease_until=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )
    assert store.lease("run-b", due, 60) == set(due)
    assert store.renew_leases("run-b", 60) == len(due)


def test_a_run_whose_process_died_is_ended_as_crashed_and_its_items_taken_back_at_once(store) -> None:
    runs = SweepRuns(store)
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from bots.worklist.runs import this_process; print(this_process(), flush=True); input()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert child.stdout is not None
    holder = child.stdout.readline().strip()
    runs.start("run-dead", "flow-run-1")
    runs.start("run-alive", None)
    with store.session() as s, s.begin():
        s.execute(update(SweepRun).where(SweepRun.run_id == "run-dead").values(holder=holder))
    due = ids(store)
    store.lease("run-dead", due[:3], 3600)  # an hour: only knowing the process died frees them now
    store.lease("run-alive", due[3:], 3600)
    assert holder_alive(holder) is True and runs.reclaim(3600) == []
    child.kill()
    child.wait()
    assert holder_alive(holder) is False
    [dead] = runs.reclaim(3600)
    assert (dead.run_id, dead.flow_run_id, dead.leases) == ("run-dead", "flow-run-1", 3)
    assert ids(store) == due[:3]  # free again; the live run keeps its own
    with store.session() as s:
        assert s.get(SweepRun, "run-dead").ending == "crashed"


def test_a_run_on_another_machine_is_dead_once_its_heartbeat_is_a_lease_old(store) -> None:
    runs = SweepRuns(store)
    runs.start("run-far", None)
    host_pid_start = this_process().split(":", 1)[1]
    with store.session() as s, s.begin():
        s.execute(update(SweepRun).values(holder=f"elsewhere:{host_pid_start}"))
    assert holder_alive(f"elsewhere:{host_pid_start}") is None
    assert runs.reclaim(60) == []  # it beat just now
    with store.session() as s, s.begin():
        s.execute(update(SweepRun).values(heartbeat_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=61)))
    assert [r.run_id for r in runs.reclaim(60)] == ["run-far"]


def test_a_held_portal_waits_for_a_person_and_its_items_come_due_on_resume(store) -> None:
    registry = PortalRegistry.load(ROOT / "config/portals.yaml")
    holds = PortalHolds(store)
    assert holds.hold("bluestem", FailureKind.CREDENTIALS_REFUSED, "bluestem: login refused", "run-a")
    assert not holds.hold("bluestem", FailureKind.CREDENTIALS_REFUSED, "again", "run-b")  # one hold per portal
    deferred = CheckResult(outcome=Outcome.DEFERRED, error="bluestem: held since …", failure=FailureKind.PORTAL_HELD)
    for item_id in ids(store)[:2]:
        store.record(item_id, deferred, RULES.decide(deferred), portal="-", run_id="run-b", flow_run_id=None)
    assert RULES.decide(deferred).rule == "portal credentials refused"
    assert len(ids(store)) == 4  # the two deferred wait an hour
    payers = registry.portals["bluestem"].payer_ids
    resumed = holds.resume("bluestem", payers, "cli:tester")
    assert resumed is not None and resumed.items_due == 2 and resumed.hold.reason == "bluestem: login refused"
    assert len(ids(store)) == 6 and holds.active() == {}
    assert holds.resume("bluestem", payers, "cli:tester") is None


def test_a_long_import_writes_in_short_transactions(store, tmp_path) -> None:
    csv = tmp_path / "big.csv"
    n = store.IMPORT_CHUNK * 2 + 7
    csv.write_text(
        "payer_id,account_number,member_id,dos_from,dos_to,billed\n"
        + "".join(f"JNPR1,JA{i},JM{i},2026-09-01,,10\n" for i in range(n))
    )
    commits = []
    from sqlalchemy import event

    event.listen(store.engine, "commit", lambda conn: commits.append(1))
    assert store.upsert(read_worklist_csv(csv)) == (n, 0)
    assert len(commits) == 3
    assert store.upsert(read_worklist_csv(csv)) == (0, n)  # a rerun of a cut-short import adds nothing twice
