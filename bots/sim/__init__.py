"""Simulated payer portals: realistic local web apps for the demo, the tests and the benchmarks."""

from typing import TYPE_CHECKING

from bots.core.lazy import lazy_exports

if TYPE_CHECKING:
    from bots.sim.codes import STATUS_277
    from bots.sim.dataset import Dataset, SimClaim, WorklistRow, build_dataset, demo_worklist, write_worklist_csv
    from bots.sim.faults import PROFILES, FaultProfile
    from bots.sim.fleet import SIMULATED, Fleet
    from bots.sim.portal import PortalConfig
    from bots.sim.server import PortalServer, registered_portal, serve_foreground
    from bots.sim.store import PortalStore

__all__ = [
    "Dataset",
    "FaultProfile",
    "Fleet",
    "PROFILES",
    "PortalConfig",
    "PortalServer",
    "PortalStore",
    "SIMULATED",
    "STATUS_277",
    "SimClaim",
    "WorklistRow",
    "build_dataset",
    "demo_worklist",
    "registered_portal",
    "serve_foreground",
    "write_worklist_csv",
]

# Names load on first use: importing one module of this room (the data set, say) need not load
# every portal's web app.
_MODULES = {
    "STATUS_277": "bots.sim.codes",
    "Dataset": "bots.sim.dataset",
    "SimClaim": "bots.sim.dataset",
    "WorklistRow": "bots.sim.dataset",
    "build_dataset": "bots.sim.dataset",
    "demo_worklist": "bots.sim.dataset",
    "write_worklist_csv": "bots.sim.dataset",
    "FaultProfile": "bots.sim.faults",
    "PROFILES": "bots.sim.faults",
    "SIMULATED": "bots.sim.fleet",
    "Fleet": "bots.sim.fleet",
    "PortalConfig": "bots.sim.portal",
    "PortalServer": "bots.sim.server",
    "registered_portal": "bots.sim.server",
    "serve_foreground": "bots.sim.server",
    "PortalStore": "bots.sim.store",
}


__getattr__ = lazy_exports(__name__, _MODULES)
