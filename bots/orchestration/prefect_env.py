"""Prefect runs offline and quiet: its home inside the project's state directory, telemetry
off, a generous first start for the embedded server. Must run before Prefect is imported."""

from __future__ import annotations

import os
from typing import Any, cast

from bots.core.registry import use_secret_blocks
from bots.core.settings import Settings

# For the embedded server of a one-off sweep only (`rcmbot serve` starts its server without
# them). It records flow and task runs; services for schedules, workers, automations and
# pauses have nothing to do there but cost CPU the browsers need, as does keeping every task
# run's state-change events (three a claim) once the task runs are recorded; block types are
# registered when a block is first saved rather than (~3 s) at every start. Task runs are
# recorded from their events up to 100 at a time, at least every second, instead of one
# event per transaction: the server's CPU per claim falls by more than half. A sweep killed
# outright loses up to that second of its task runs' states in Prefect (the worklist has them;
# the next run marks the killed run's task runs left RUNNING as Crashed).
EMBEDDED_SERVER = {
    "PREFECT_API_BLOCKS_REGISTER_ON_START": "false",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
    **{
        f"PREFECT_SERVER_SERVICES_{name}_ENABLED": "false"
        for name in (
            "CANCELLATION_CLEANUP",
            "EVENT_LOGGER",
            "EVENT_PERSISTER",
            "FOREMAN",
            "LATE_RUNS",
            "SCHEDULER",
            "PAUSE_EXPIRATIONS",
            "REPOSSESSOR",
            "CLEANUP_RECONCILER",
            "TRIGGERS",
        )
    },
}


def configure_prefect(settings: Settings) -> None:
    home = settings.prefect_home
    home.mkdir(parents=True, exist_ok=True)
    defaults = {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": str(int(settings.prefect.startup_timeout_s)),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        **EMBEDDED_SERVER,
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    use_secret_blocks(read_secret_block)


def read_secret_block(name: str) -> str | None:
    """A Prefect Secret block's value; None if there is no such block."""
    from prefect.blocks.system import Secret

    try:  # _sync: credentials are resolved in plain code that may run under an event loop
        block = cast(Secret[Any], Secret.load(name, _sync=True))  # type: ignore[call-arg]
    except ValueError:
        return None
    return str(block.get()) or None
