"""Flow and task runs a killed process left RUNNING in Prefect, marked Crashed when the next
sweep starts, so the Prefect UI never shows a run working that died long ago.

A sweep flow run is stale when its sweep run died (bots.worklist.runs: its process is gone, or
its heartbeat stopped for longer than a lease). Only runs of this worklist are touched, never
another's on a shared Prefect server. A process killed in the moment between its flow run's
start and its sweep run's registration leaves that flow run to Prefect."""

from __future__ import annotations

from bots.core.logs import get_logger
from bots.worklist.runs import DeadRun

log = get_logger(__name__)


async def crash_stale_runs(dead: list[DeadRun]) -> list[str]:
    """Mark Crashed, with their unfinished task runs, the Prefect flow runs of the `dead` sweep
    runs (taken back by this run) that Prefect still shows unfinished; the flow run ids marked.
    Best effort: trouble reaching Prefect is logged, never raised (the sweep goes on)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
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

    unfinished = [StateType.RUNNING, StateType.PENDING]
    ids = sorted({run.flow_run_id for run in dead if run.flow_run_id})
    marked: list[str] = []
    if not ids:
        return marked
    message = "its process died (found by the next sweep, which took back its items)"
    try:
        async with get_client() as client:
            flow_runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    id=FlowRunFilterId(any_=ids), state=FlowRunFilterState(type=FlowRunFilterStateType(any_=unfinished))
                )
            )
            for flow_run in flow_runs:
                tasks = await client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id])),
                    task_run_filter=TaskRunFilter(
                        state=TaskRunFilterState(type=TaskRunFilterStateType(any_=unfinished))
                    ),
                )
                for task in tasks:
                    await client.set_task_run_state(task.id, Crashed(message=message), force=True)
                await client.set_flow_run_state(flow_run.id, Crashed(message=message), force=True)
                marked.append(str(flow_run.id))
                log.warning("stale flow run marked crashed", flow_run_id=str(flow_run.id), task_runs=len(tasks))
    except Exception as exc:  # noqa: BLE001 - Prefect's bookkeeping must not stop the sweep
        log.warning("could not mark stale flow runs crashed", error=type(exc).__name__)
    return marked
