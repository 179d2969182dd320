"""Orchestration room: Prefect's environment, loading flows and deployments, `rcmbot serve`."""

from typing import TYPE_CHECKING

from bots.core.lazy import lazy_exports

if TYPE_CHECKING:
    from bots.orchestration.applyflow import ApplyTrigger, run_apply_flow
    from bots.orchestration.backup import Copied, restore
    from bots.orchestration.chaos import ChaosPlan, chaos_settings, run_chaos
    from bots.orchestration.demo import demo_settings, fresh_state_dir, run_demo
    from bots.orchestration.deployments import DeploymentSpec, PrefectProject, load_deployments
    from bots.orchestration.limits import limit_name, portal_slot, shared_server, sync_portal_limits
    from bots.orchestration.prefect_env import configure_prefect, read_secret_block
    from bots.orchestration.reconcile import Reconciliation
    from bots.orchestration.serve import start_local_server
    from bots.orchestration.stale import crash_stale_runs
    from bots.orchestration.sweepflow import ProgressFactory, run_sweep_flow

__all__ = [
    "ApplyTrigger",
    "ChaosPlan",
    "Copied",
    "DeploymentSpec",
    "PrefectProject",
    "ProgressFactory",
    "Reconciliation",
    "chaos_settings",
    "configure_prefect",
    "crash_stale_runs",
    "demo_settings",
    "fresh_state_dir",
    "limit_name",
    "load_deployments",
    "portal_slot",
    "read_secret_block",
    "restore",
    "run_apply_flow",
    "run_chaos",
    "run_demo",
    "run_sweep_flow",
    "shared_server",
    "start_local_server",
    "sync_portal_limits",
]

# Names load on first use: every `rcmbot` command imports `prefect_env`, and that must not load
# the sweep (Playwright, the worklist) as well. `serve` is also a module name here: import that
# function from bots.orchestration.serve.
_MODULES = {
    "Copied": "bots.orchestration.backup",
    "restore": "bots.orchestration.backup",
    "ChaosPlan": "bots.orchestration.chaos",
    "chaos_settings": "bots.orchestration.chaos",
    "run_chaos": "bots.orchestration.chaos",
    "Reconciliation": "bots.orchestration.reconcile",
    "ApplyTrigger": "bots.orchestration.applyflow",
    "run_apply_flow": "bots.orchestration.applyflow",
    "demo_settings": "bots.orchestration.demo",
    "fresh_state_dir": "bots.orchestration.demo",
    "run_demo": "bots.orchestration.demo",
    "DeploymentSpec": "bots.orchestration.deployments",
    "PrefectProject": "bots.orchestration.deployments",
    "load_deployments": "bots.orchestration.deployments",
    "limit_name": "bots.orchestration.limits",
    "portal_slot": "bots.orchestration.limits",
    "shared_server": "bots.orchestration.limits",
    "sync_portal_limits": "bots.orchestration.limits",
    "configure_prefect": "bots.orchestration.prefect_env",
    "read_secret_block": "bots.orchestration.prefect_env",
    "start_local_server": "bots.orchestration.serve",
    "crash_stale_runs": "bots.orchestration.stale",
    "ProgressFactory": "bots.orchestration.sweepflow",
    "run_sweep_flow": "bots.orchestration.sweepflow",
}


__getattr__ = lazy_exports(__name__, _MODULES)
