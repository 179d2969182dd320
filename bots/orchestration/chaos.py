"""`rcmbot chaos`: the reliability promise tried at full size, on the simulated portals.

The portals run in this process with the `chaos` fault profile (5xx, 429 with Retry-After, hung
responses, ended sessions, latency) at the given rate; each sweep runs as `rcmbot sweep` in a
process group of its own, as a scheduled run would. The first sweeps are killed (SIGKILL to the
whole group: the sweep, its Chromium, its embedded Prefect server) part-way; one portal's
password is changed under the second; then sweeps run to the end until no item is due. The
worklist, the portals' own witness logs and `evidence verify` are reconciled at the end
(bots.orchestration.reconcile)."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from bots.core.settings import AlertSettings, Settings
from bots.evidence.verify import Report, verify
from bots.orchestration.reconcile import Reconciliation, reconcile
from bots.worklist.schema import History, Item
from bots.worklist.store import WorklistStore

PORTALS = ("bluestem", "juniper", "harbor")
POLL_S = 0.5
SWEEP_TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class ChaosPlan:
    claims: int = 1000
    fault_rate: float = 0.2
    kills: int = 2  # sweeps killed part-way, at KILL_AT of the items recorded
    refused_portal: str = "juniper"  # whose password changes under the second sweep
    max_sweeps: int = 12
    # Tries per claim: a fifth of every page failing is far beyond a real portal's day, and a
    # check of 3 to 6 pages then fails one try in two; a team facing such a portal raises the
    # setting as chaos does.
    retry_attempts: int = 6

    KILL_AT = (0.2, 0.55)
    PASSWORD_AT = 0.35


def chaos_settings(settings: Settings, state_dir: Path) -> Settings:
    """Chaos runs in a state directory of its own: its own SQLite worklist (never a shared
    database), evidence encrypted as a deployment's should be, its own Prefect home, and no alert
    channel (its refused password and killed runs page nobody; the alerts are kept)."""
    update = {
        "state_dir": state_dir,
        "evidence_dir": state_dir / "evidence",
        "database_url": None,
        "evidence": settings.evidence.model_copy(update={"encryption": True}),
        "prefect": settings.prefect.model_copy(update={"home": state_dir / "prefect"}),
        "alerts": AlertSettings(),
    }
    return settings.model_copy(update=update)


def run_chaos(settings: Settings, plan: ChaosPlan, say: Callable[[str], None]) -> Reconciliation:
    """Run the plan in `settings`' (fresh) state directory; the reconciliation."""
    from bots.core.registry import PortalRegistry
    from bots.sim.dataset import demo_worklist, write_worklist_csv
    from bots.sim.fleet import Fleet
    from bots.worklist.csvio import read_worklist_csv
    from bots.worklist.db import upgrade

    if plan.kills > len(plan.KILL_AT):
        raise ValueError(f"at most {len(plan.KILL_AT)} kills")
    state = settings.state_path
    registry = PortalRegistry.load(settings.path(settings.portals_file))
    upgrade(settings.worklist_url)
    store = WorklistStore(settings.worklist_url)
    sim = settings.sim.model_copy(update={"faults": dict.fromkeys(PORTALS, "chaos"), "fault_rate": plan.fault_rate})
    with Fleet(sim, registry, list(PORTALS), state / "portal", plan.claims) as fleet:
        csv_path = state / "worklist.csv"
        write_worklist_csv(demo_worklist(settings.sim.seed, plan.claims), csv_path)
        inserted, _ = store.upsert(read_worklist_csv(csv_path))
        say(
            f"{inserted} claims over {', '.join(PORTALS)}; faults on {plan.fault_rate:.0%} of portal pages; "
            f"{plan.retry_attempts} tries per claim (RCMBOT_SWEEP__RETRY_ATTEMPTS)"
        )
        sweeps = Sweeps(settings, fleet.env, fleet.urls, plan.retry_attempts)

        def change_password() -> None:
            server = fleet.servers[plan.refused_portal]
            server.set_password(fleet.usernames[plan.refused_portal], secrets.token_urlsafe(16))
            say(f"  {plan.refused_portal}'s password changed (the bot still has the old one)")

        password_changed = False
        for n, fraction in enumerate(plan.KILL_AT[: plan.kills], 1):
            target, deadline = int(fraction * inserted), time.monotonic() + SWEEP_TIMEOUT_S
            proc = sweeps.start()
            while proc.poll() is None and _recorded(store) < target and time.monotonic() < deadline:
                if n == 2 and not password_changed and _recorded(store) >= plan.PASSWORD_AT * inserted:
                    change_password()
                    password_changed = True
                time.sleep(POLL_S)
            if proc.poll() is None:
                kill(proc)
                say(f"sweep {n}: killed (SIGKILL to its process group) with {_recorded(store)} items recorded")
            else:
                say(f"sweep {n}: ended (exit {proc.returncode}) before it could be killed")
        if not password_changed:
            change_password()
        for n in range(plan.kills + 1, plan.max_sweeps + 1):
            if not _due(store):
                break
            code = sweeps.wait(sweeps.start())
            say(f"sweep {n}: ended (exit {code}); {_recorded(store)} items recorded, {_due(store)} still due")
        witness = {key: server.witness() for key, server in fleet.servers.items()}
    report = _verify(settings)
    orphans = sum(note.startswith("orphan:") for note in report.notes)
    result = reconcile(store, registry, witness, orphans=orphans, evidence_verified=report.ok)
    if result.refused_portals != [plan.refused_portal]:
        result.surprises.append(
            f"portals that refused the credentials: {result.refused_portals or 'none'}, "
            f"where only {plan.refused_portal} (its password changed) should have"
        )
    return result


class Sweeps:
    """`rcmbot sweep` processes against the fleet, each in a new process group (a session), with
    nothing of this machine's rcmbot or Prefect setup but what chaos hands them: no other
    database, alert channel or Prefect server, and no `.env` (they run in the chaos directory)."""

    def __init__(
        self, settings: Settings, credentials: dict[str, str], urls: dict[str, str], retry_attempts: int
    ) -> None:
        mine = ("RCMBOT_", "PREFECT_")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(mine)} | credentials
        self.env |= {
            "RCMBOT_PROJECT_ROOT": str(settings.project_root),
            "RCMBOT_DATABASE_URL": settings.worklist_url,
            "RCMBOT_EVIDENCE_DIR": str(settings.evidence_path),
            "RCMBOT_EVIDENCE__ENCRYPTION": "true",
            "RCMBOT_PREFECT__HOME": str(settings.prefect_home),
            "RCMBOT_LOG__LEVEL": "WARNING",
            "RCMBOT_SWEEP__RETRY_ATTEMPTS": str(retry_attempts),
        }
        self.args = [sys.executable, "-m", "bots.cli", "--state-dir", str(settings.state_path), "sweep", "--json"]
        self.args += [arg for key, url in urls.items() for arg in ("--portal-url", f"{key}={url}")]
        self.log = settings.state_path / "sweeps.log"
        self.cwd = settings.state_path

    def start(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:  # the child keeps its own handle
            return subprocess.Popen(
                self.args, cwd=self.cwd, env=self.env, stdout=log, stderr=log, start_new_session=True
            )

    @staticmethod
    def wait(proc: subprocess.Popen[bytes], timeout: float = SWEEP_TIMEOUT_S) -> int:
        """The sweep's exit code; one that outlives `timeout` is killed with its whole group."""
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill(proc)
            raise


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the sweep's process group: the sweep, its Chromium, its Prefect server."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _recorded(store: WorklistStore) -> int:
    """Items with at least one recorded outcome."""
    with store.session() as s:
        return int(s.scalar(select(func.count(func.distinct(History.item_id)))) or 0)


def _due(store: WorklistStore) -> int:
    """Open items whose follow-up time has come, held by a sweep or not: a killed sweep's leases
    are the next sweep's to take back (and its Prefect run's to mark crashed), not this count's."""
    with store.session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(Item)
                .where(Item.closed_at.is_(None), Item.next_follow_up_at <= dt.datetime.now(dt.UTC))
            )
            or 0
        )


def _verify(settings: Settings) -> Report:
    from bots.evidence.setup import evidence_store, public_key

    return verify(evidence_store(settings), public_key(settings))
