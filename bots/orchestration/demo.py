"""The demo: simulated portals on loopback, a seeded worklist, and a sweep through the flow,
in a state directory of the demo's own."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bots.core.errors import InputError
from bots.core.settings import Settings
from bots.orchestration.sweepflow import ProgressFactory, run_sweep_flow

MARKER = ".rcmbot-demo"  # in a state directory the demo made, and so may delete next time
# What the demo puts in its directory: one made before the marker existed holds only these.
DEMO_FILES = {
    MARKER,
    "worklist.db",
    "worklist.db-wal",
    "worklist.db-shm",
    "worklist.csv",
    "evidence",
    "portal",
    "prefect",
    "selector-checks",
}


def demo_settings(settings: Settings, state_dir: Path | None) -> Settings:
    """The demo's settings: the given state directory, else `demo` inside the usual one,
    holding the worklist database, evidence (encrypted, keys under keys/) and Prefect home."""
    path = state_dir if state_dir is not None else settings.state_dir / "demo"
    # Never the shared worklist database of RCMBOT_DATABASE_URL: the demo's own, in its directory.
    evidence = settings.evidence.model_copy(update={"encryption": True})  # as a real deployment should run
    update = {"state_dir": path, "evidence_dir": path / "evidence", "database_url": None, "evidence": evidence}
    return settings.model_copy(update=update)


def fresh_state_dir(path: Path, command: str = "demo") -> None:
    """Empty the state directory of `rcmbot <command>` (the demo, chaos), refusing one neither
    made: a user's files there are never deleted."""
    if path.exists() and not path.is_dir():
        raise InputError(f"--state-dir {path}: not a directory")
    if path.is_dir() and any(path.iterdir()):
        if not (path / MARKER).is_file() and not {p.name for p in path.iterdir()} <= DEMO_FILES:
            raise InputError(
                f"{path} holds files that `rcmbot {command}` did not make; give it an empty or new --state-dir"
            )
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text(f"made by `rcmbot {command}`, which empties this directory on its next run\n")


def run_demo(
    settings: Settings,
    *,
    claims: int | None,
    concurrency: int | None,
    say: Callable[[str], None],
    progress: ProgressFactory | None,
    then: Callable[[dict[str, Any], dict[str, str]], None] | None = None,
) -> dict[str, Any]:
    """Start the simulated portals, seed the worklist, sweep it; the sweep's summary, with the
    review tasks it opened. `settings` are the demo's (demo_settings), its state directory already
    fresh. `then(summary, portal URLs)` runs while the portals are still up (the console)."""
    from bots.core.registry import PortalRegistry
    from bots.review import ReviewStore
    from bots.sim.dataset import demo_worklist, write_worklist_csv
    from bots.sim.fleet import SIMULATED, Fleet
    from bots.sweep.runner import SweepDeps
    from bots.worklist.csvio import read_worklist_csv
    from bots.worklist.db import upgrade

    state = settings.state_path
    claims = claims or settings.sim.claims
    registry = PortalRegistry.load(settings.path(settings.portals_file))
    upgrade(settings.worklist_url)
    with Fleet(settings.sim, registry, list(SIMULATED), state / "portal", claims) as fleet:
        # The portals' fresh bot users: the registry reads credentials from these variables.
        os.environ.update(fleet.env)
        for key, url in fleet.urls.items():
            say(f"{registry.portals[key].name} at {url}")
        csv_path = state / "worklist.csv"
        write_worklist_csv(demo_worklist(settings.sim.seed, claims), csv_path)
        deps = SweepDeps.load(settings)
        inserted, _ = deps.store.upsert(read_worklist_csv(csv_path))
        say(f"Seeded a {inserted}-claim AR worklist from {csv_path}")
        say(
            f"Sweeping with {concurrency or settings.sweep.concurrency} browser pages "
            "(Prefect runs embedded; the first start on a fresh machine takes a while)..."
        )
        summary = run_sweep_flow(deps, limit=None, concurrency=concurrency, portal_urls=fleet.urls, progress=progress)
        summary["review_tasks"] = sum(ReviewStore(deps.store.engine, settings.review).open_counts().values())
        if then is not None:
            then(summary, fleet.urls)
        return summary
