"""`rcmbot bench`: rcmbot's sweep side by side with hand-written Playwright baselines."""

from typing import TYPE_CHECKING

from bots.core.lazy import lazy_exports

if TYPE_CHECKING:
    from bots.bench.console import bench_console
    from bots.bench.evidence import bench_evidence
    from bots.bench.run import (
        CONCURRENCY,
        MODES,
        QUICK_CLAIMS,
        QUICK_CONCURRENCY,
        QUICK_LATENCY_MS,
        CpuSampler,
        Plan,
        bench_worklist,
        percentile,
        profile_table,
        run_bench,
        run_profile,
        table,
    )
    from bots.bench.scale import seed_scale

__all__ = [
    "CONCURRENCY",
    "CpuSampler",
    "MODES",
    "Plan",
    "QUICK_CLAIMS",
    "QUICK_CONCURRENCY",
    "QUICK_LATENCY_MS",
    "bench_console",
    "bench_evidence",
    "bench_worklist",
    "percentile",
    "profile_table",
    "run_bench",
    "run_profile",
    "seed_scale",
    "table",
]

# Names load on first use: a benchmark point runs as `python -m bots.bench.point`, and the
# memory it measures must not include modules the point does not use.
_MODULES = {
    "CONCURRENCY": "bots.bench.run",
    "CpuSampler": "bots.bench.run",
    "MODES": "bots.bench.run",
    "Plan": "bots.bench.run",
    "QUICK_CLAIMS": "bots.bench.run",
    "QUICK_CONCURRENCY": "bots.bench.run",
    "QUICK_LATENCY_MS": "bots.bench.run",
    "bench_worklist": "bots.bench.run",
    "percentile": "bots.bench.run",
    "profile_table": "bots.bench.run",
    "run_bench": "bots.bench.run",
    "run_profile": "bots.bench.run",
    "table": "bots.bench.run",
    "bench_console": "bots.bench.console",
    "bench_evidence": "bots.bench.evidence",
    "seed_scale": "bots.bench.scale",
}


__getattr__ = lazy_exports(__name__, _MODULES)
