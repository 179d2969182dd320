"""Sweep runs and portal holds in the worklist database.

A run says who works it (host, process id and its start time) and beats its heart while it
works; the items it selected are leased to it (WorklistStore.lease). A run that stopped beating,
or whose process is gone from this machine, died: the next run ends it as crashed and takes its
items at once, and the orchestration marks its Prefect runs crashed. On one machine a dead
process is known at once; across machines, once its lease time passes without a heartbeat.

A hold stops a portal for every later sweep and apply run until a person releases it: its
credentials were refused (more sign-ins could lock the account)."""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import psutil
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bots.core.models import FailureKind
from bots.worklist.schema import PortalHold, SweepRun
from bots.worklist.store import WorklistStore, now_utc


def this_process() -> str:
    """host:pid:start time, so a process id used again by another process is not taken for it."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{psutil.Process(pid).create_time():.2f}"


def holder_alive(holder: str) -> bool | None:
    """Whether the process `holder` names still runs; None when it runs on another machine."""
    host, pid, started = holder.rsplit(":", 2)
    if host != socket.gethostname():
        return None
    try:
        process = psutil.Process(int(pid))
        return f"{process.create_time():.2f}" == started and process.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, ValueError):
        return False


# The failures a hold leaves on its portal's items
HELD = (FailureKind.CREDENTIALS_REFUSED.value, FailureKind.PORTAL_HELD.value)


@dataclass(frozen=True)
class Resumed:
    hold: PortalHold
    items_due: int  # items made due now


@dataclass(frozen=True)
class DeadRun:
    """A run whose process died: its id, its Prefect flow run, and how many leases it held."""

    run_id: str
    flow_run_id: str | None
    leases: int


class SweepRuns:
    """Registers runs, beats their hearts, and ends them (completed, failed, or crashed)."""

    def __init__(self, store: WorklistStore) -> None:
        self.store = store

    def start(self, run_id: str, flow_run_id: str | None) -> None:
        """Register the run (once: a run already registered is left as it is)."""
        now = now_utc()
        with self.store.session() as s, s.begin():
            if s.get(SweepRun, run_id) is None:
                s.add(
                    SweepRun(
                        run_id=run_id,
                        flow_run_id=flow_run_id,
                        holder=this_process(),
                        started_at=now,
                        heartbeat_at=now,
                        selected=0,
                    )
                )

    def selected(self, run_id: str, count: int) -> None:
        """How many items the run holds to work."""
        with self.store.session() as s, s.begin():
            s.execute(update(SweepRun).where(SweepRun.run_id == run_id).values(selected=count))

    def beat(self, run_id: str, lease_s: float) -> bool:
        """The run is alive: its heartbeat now, its leases `lease_s` from now. False when another
        run already ended it as crashed (it stalled past its lease): its items are no longer its."""
        with self.store.session() as s, s.begin():
            alive = s.execute(
                update(SweepRun)
                .where(SweepRun.run_id == run_id, SweepRun.ended_at.is_(None))
                .values(heartbeat_at=now_utc())
            )
        if not alive.rowcount:  # type: ignore[attr-defined]
            return False
        self.store.renew_leases(run_id, lease_s)
        return True

    def finish(self, run_id: str, ending: str) -> None:
        """The run ended (`completed` or `failed`): what it still holds is let go."""
        self.store.release_leases(run_id)
        with self.store.session() as s, s.begin():
            s.execute(
                update(SweepRun)
                .where(SweepRun.run_id == run_id, SweepRun.ended_at.is_(None))
                .values(ended_at=now_utc(), ending=ending)
            )

    def reclaim(self, lease_s: float) -> list[DeadRun]:
        """End every run whose process died as `crashed` and let go of its leases; those runs."""
        stale_before = now_utc() - dt.timedelta(seconds=lease_s)
        with self.store.session() as s:
            running = list(s.scalars(select(SweepRun).where(SweepRun.ended_at.is_(None))))
        dead = []
        for run in running:
            alive = holder_alive(run.holder)
            if alive is False or (alive is None and run.heartbeat_at < stale_before):
                leases = self.store.release_leases(run.run_id)
                self.finish(run.run_id, "crashed")
                dead.append(DeadRun(run.run_id, run.flow_run_id, leases))
        return dead


class PortalHolds:
    """Portals stopped until a person says the cause is fixed."""

    def __init__(self, store: WorklistStore) -> None:
        self.store = store

    def hold(self, portal: str, failure: FailureKind, reason: str, run_id: str | None) -> bool:
        """Hold `portal` unless it is held already (one active hold per portal: a unique index,
        so two runs holding it at once make one); whether this made a new hold."""
        try:
            with self.store.session() as s, s.begin():
                s.add(PortalHold(portal=portal, kind=failure.value, reason=reason, run_id=run_id, held_at=now_utc()))
        except IntegrityError:
            return False
        return True

    def active(self) -> dict[str, PortalHold]:
        """Portal -> its hold, for every portal held now."""
        with self.store.session() as s:
            holds = s.scalars(select(PortalHold).where(PortalHold.released_at.is_(None)).order_by(PortalHold.id))
            return {hold.portal: hold for hold in holds}

    def release(self, portal: str, by: str) -> PortalHold | None:
        """Release the hold on `portal` (a person fixed its cause); the hold, or None if there was none."""
        with self.store.session() as s, s.begin():
            hold = s.scalar(select(PortalHold).where(PortalHold.portal == portal, PortalHold.released_at.is_(None)))
            if hold is not None:
                hold.released_at, hold.released_by = now_utc(), by
            return hold

    def resume(self, portal: str, payer_ids: Sequence[str], by: str) -> Resumed | None:
        """A person confirms the cause is fixed (new credentials set, the account unlocked): the
        hold released and the items it kept waiting (of `payer_ids`, deferred for this portal)
        due now; None when the portal was not held."""
        hold = self.release(portal, by)
        if hold is None:
            return None
        return Resumed(hold, self.store.bring_forward(payer_ids, HELD, f"{portal}:"))


def held_reason(hold: PortalHold) -> str:
    """Why a held portal's items wait, in words a biller can act on."""
    return (
        f"{hold.portal}: held since {hold.held_at:%Y-%m-%d %H:%M} UTC ({hold.reason}); "
        f"after fixing it: rcmbot portal resume {hold.portal}"
    )
