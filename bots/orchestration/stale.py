"""Flow and task runs a killed process left RUNNING in Prefect, marked Crashed when the next
sweep starts, so the Prefect UI never shows a run working that died long ago.

A sweep flow run is stale when its sweep run died (bots.worklist.runs: its process is gone, or
its heartbeat stopped for longer than a lease), or when it is running with no sweep run alive
behind it and began more than a lease ago (killed before it registered)."""

from __future__ import annotations

import datetime as dt

from bots.core.logs import get_logger
from bots.worklist.runs import DeadRun

log = get_logger(__name__)
SWEEP_FLOW = "claim-status-sweep"


async def crash_stale_runs(dead: list[DeadRun], live: set[str], current: str | None, lease_s: float) -> list[str]:
    """Mark Crashed the flow runs of `dead` sweep runs and every sweep flow run still unfinished
    that no `live` run holds and that began over `lease_s` ago (never `current`), with their
    unfinished task runs; the flow run ids marked."""
    # Prefect loads only here: importing this room must not (every `rcmbot` command does)
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterState,
        FlowRunFilterStateType,
        TaskRunFilter,
        TaskRunFilterState,
        TaskRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    unfinished_types = [StateType.RUNNING, StateType.PENDING]
    stale = {run.flow_run_id for run in dead if run.flow_run_id}
    began_before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=lease_s)
    unfinished = FlowRunFilterState(type=FlowRunFilterStateType(any_=unfinished_types))
    async with get_client() as client:
        running = await client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[SWEEP_FLOW])),
            flow_run_filter=FlowRunFilter(state=unfinished),
        )
        stale |= {
            str(run.id)
            for run in running
            if str(run.id) not in live and run.start_time is not None and run.start_time < began_before
        }
        stale -= {current}
        marked = []
        for flow_run_id in sorted(i for i in stale if i):
            if not await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]), state=unfinished)
            ):
                continue  # it ended after all
            message = "its process died (found by the next sweep); its items were taken back"
            tasks = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                task_run_filter=TaskRunFilter(
                    state=TaskRunFilterState(type=TaskRunFilterStateType(any_=unfinished_types))
                ),
            )
            for task in tasks:
                await client.set_task_run_state(task.id, Crashed(message=message), force=True)
            await client.set_flow_run_state(flow_run_id, Crashed(message=message), force=True)
            marked.append(flow_run_id)
            log.warning("stale flow run marked crashed", flow_run_id=flow_run_id, task_runs=len(tasks))
    return marked
