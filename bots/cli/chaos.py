"""`rcmbot chaos`: faults, kills and a changed password against the simulated portals, then the
worklist reconciled against what the portals saw (bots.orchestration.chaos)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from bots.cli.common import console, invocation, print_json, print_table, start


def chaos(
    ctx: typer.Context,
    claims: Annotated[int, typer.Option("--claims", min=10, help="worklist size over three portals")] = 1000,
    kills: Annotated[int, typer.Option("--kills", min=0, max=2, help="sweeps killed part-way (SIGKILL)")] = 2,
    fault_rate: Annotated[
        float, typer.Option("--fault-rate", min=0.0, max=0.5, help="share of portal pages that fail")
    ] = 0.2,
    json_output: Annotated[bool, typer.Option("--json", help="print the reconciliation as one JSON line")] = False,
) -> int:
    from bots.orchestration.chaos import ChaosPlan, chaos_settings, run_chaos
    from bots.orchestration.demo import fresh_state_dir

    run = invocation(ctx)
    base = run.settings()
    settings = chaos_settings(base, run.state_dir or base.state_dir / "chaos")
    fresh_state_dir(settings.state_path, "chaos")
    start(settings, quiet_logs=True)
    plan = ChaosPlan(claims=claims, fault_rate=fault_rate, kills=kills)
    result = run_chaos(settings, plan, say=(lambda _: None) if json_output else console.print)
    if json_output:
        print_json(result.as_json())
    else:
        table = Table(box=None, pad_edge=False, show_header=False)
        table.add_column()
        table.add_column(justify="right")
        table.add_row("items", str(result.items))
        for outcome, n in result.outcomes.items():
            table.add_row(f"  ended {outcome}", str(n))
        table.add_row("checked (portals that took the credentials)", f"{result.checked_share:.1%}")
        table.add_row("lost", str(result.lost))
        table.add_row("checked twice in one run", str(result.duplicated))
        table.add_row("evidence orphans (reported by evidence verify)", str(result.orphans))
        table.add_row("sign-ins after a refusal", str(result.login_attempts_after_refusal))
        table.add_row("evidence verified", "yes" if result.evidence_verified else "NO")
        console.print(f"\nReconciliation (worklist against the portals' own logs), in {settings.state_path}:")
        print_table(table)
        for problem in result.problems:
            console.print(f"FAILED: {problem}")
    return 1 if result.problems else 0
