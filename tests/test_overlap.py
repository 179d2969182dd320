"""Sweeps as separate processes, as schedules and people start them: two at once check disjoint
sets, an import runs beside a sweep, and a reduced `rcmbot chaos` (faults, a kill -9 of the
sweep's process group, a changed password, reruns) loses and duplicates nothing and leaves no
Prefect run RUNNING."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bots.sim.dataset import write_worklist_csv
from bots.worklist.schema import History
from bots.worklist.store import WorklistStore
from tests.conftest import RCMBOT, ROOT, base_env, rcmbot, seed_worklist


def sweep_env(tmp_path: Path, portal) -> dict[str, str]:
    return (
        base_env(tmp_path)
        | portal.env()
        | {
            "RCMBOT_EVIDENCE_DIR": str(tmp_path / "evidence"),
            "RCMBOT_SWEEP__BACKOFF_INITIAL_S": "0.05",
            "RCMBOT_SWEEP__BACKOFF_MAX_S": "0.2",
        }
    )


class SweepProcess:
    """`rcmbot sweep --json` in a process of its own, its output in files (a pipe nobody reads
    while the test does something else would fill and stop it)."""

    def __init__(self, env: dict[str, str], portal: Any, out: Path, *args: str) -> None:
        self.out, self.err = out.with_suffix(".out"), out.with_suffix(".err")
        with self.out.open("w") as stdout, self.err.open("w") as stderr:
            self.proc = subprocess.Popen(
                [*RCMBOT, "sweep", "--json", "--portal-url", f"bluestem={portal.url}", *args],
                cwd=ROOT,
                env=env,
                stdout=stdout,
                stderr=stderr,
            )

    def summary(self) -> dict[str, Any]:
        """Wait for it; its JSON summary (it must have exited 0)."""
        code = self.proc.wait(timeout=600)
        assert code == 0, self.err.read_text()[-3000:]
        return dict(json.loads(self.out.read_text().splitlines()[-1]))


def recorded(store: WorklistStore) -> int:
    with store.session() as s:
        return int(s.scalar(select(func.count()).select_from(History)) or 0)


@pytest.mark.slow
def test_two_sweep_processes_at_once_check_disjoint_sets(tmp_path, settings, portal, dataset) -> None:
    rows = [r for r in dataset.worklist if r.kind == "paid"][:12]
    seed_worklist(settings, rows)
    env = sweep_env(tmp_path, portal)
    both = [SweepProcess(env, portal, tmp_path / f"sweep{n}", "--limit", "6", "--concurrency", "2") for n in (1, 2)]
    summaries = [sweep.summary() for sweep in both]
    assert [s["claims"] for s in summaries] == [6, 6] and all(s["unaccounted"] == 0 for s in summaries)
    store = WorklistStore(settings.worklist_url)
    checks = Counter(h.item_id for item in store.items() for h in store.history(item.id))
    assert sorted(checks.values()) == [1] * 12  # every item checked, none twice
    asked = Counter(c["claim_number"] for c in portal.server.witness()["claims"] if c["kind"] == "detail")
    assert len(asked) == 12 and set(asked.values()) == {1}  # the portal's own log agrees


@pytest.mark.slow
def test_an_import_runs_beside_a_sweep(tmp_path, settings, portal, dataset) -> None:
    portal.reset(latency_ms=300)  # a sweep of some seconds
    rows = [r for r in dataset.worklist if r.kind == "paid"][:12]
    seed_worklist(settings, rows)
    sweep = SweepProcess(sweep_env(tmp_path, portal), portal, tmp_path / "sweep", "--concurrency", "2")
    store = WorklistStore(settings.worklist_url)
    while not recorded(store) and sweep.proc.poll() is None:  # its items selected, its first check recorded
        time.sleep(0.1)
    big = [dataclasses.replace(rows[0], account_number=f"IMP{i:07d}", payer_claim_number=None) for i in range(30_000)]
    csv_path = tmp_path / "big.csv"
    write_worklist_csv(big, csv_path)
    imported = rcmbot("worklist", "import", str(csv_path), env=base_env(tmp_path))
    assert imported.returncode == 0, imported.stderr[-2000:]
    assert "30000 new item(s)" in imported.stdout
    summary = sweep.summary()
    assert "database is locked" not in sweep.err.read_text()
    assert summary["claims"] == summary["checked"] == 12
    assert recorded(store) == 12  # one check of each, none of the items imported meanwhile


@pytest.mark.slow
def test_a_reduced_chaos_run_loses_and_duplicates_nothing(tmp_path) -> None:
    state = tmp_path / "chaos"
    env = {k: v for k, v in base_env(tmp_path).items() if not k.startswith("PREFECT_")}  # its own Prefect home
    done = rcmbot(
        "--state-dir",
        str(state),
        "chaos",
        "--claims",
        "40",
        "--kills",
        "1",
        "--fault-rate",
        "0.1",
        "--json",
        env=env,
        timeout=900,
    )
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    result = json.loads(done.stdout.splitlines()[-1])
    assert set(result) == {
        "items",
        "outcomes",
        "checked_share",
        "lost",
        "duplicated",
        "orphans",
        "login_attempts_after_refusal",
        "evidence_verified",
    }
    assert result["items"] == 40 and result["lost"] == 0 and result["duplicated"] == 0
    assert result["evidence_verified"] is True and result["login_attempts_after_refusal"] <= 1
    assert result["checked_share"] >= 0.9
    assert any(k.endswith("portal_held") or k.endswith("credentials_refused") for k in result["outcomes"])
    with sqlite3.connect(state / "prefect" / "prefect.db") as db:  # Prefect's own records
        states = Counter(kind for (kind,) in db.execute("SELECT state_type FROM flow_run"))
        tasks = Counter(kind for (kind,) in db.execute("SELECT state_type FROM task_run"))
    assert states["RUNNING"] == 0 and states["CRASHED"] >= 1, states  # the killed run's, marked at the next start
    assert tasks["RUNNING"] == 0, tasks
