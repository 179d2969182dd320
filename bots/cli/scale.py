"""`rcmbot seed-scale`: a large synthetic state directory for `rcmbot bench console`."""

from __future__ import annotations

from typing import Annotated

import typer

from bots.cli.common import invocation, print_json, start
from bots.core.errors import InputError


def seed_scale(
    ctx: typer.Context,
    tasks: Annotated[int, typer.Option("--tasks", min=1, help="review tasks (and worklist items)")] = 100_000,
    evidence: Annotated[int, typer.Option("--evidence", min=1000, help="evidence records")] = 1_000_000,
    json_output: Annotated[bool, typer.Option("--json", help="print one JSON line")] = False,
) -> int:
    from bots.bench.scale import seed_scale as seed

    run = invocation(ctx)
    if run.state_dir is None:
        raise InputError("give seed-scale a state directory of its own: rcmbot --state-dir DIR seed-scale")
    settings = run.settings()
    path = settings.state_path
    if path.exists() and any(path.iterdir()):
        raise InputError(f"--state-dir {path}: not empty; seed-scale fills a new directory")
    start(settings, quiet_logs=True)
    say = (lambda _msg: None) if json_output else (lambda msg: print(msg, flush=True))
    report = seed(settings, tasks, evidence, say)
    if json_output:
        print_json(report)
    else:
        print(
            f"{report['tasks']:,} review tasks and {report['evidence_records']:,} evidence records in {path} "
            f"({report['seconds']} s). Next: rcmbot --state-dir {path} bench console"
        )
    return 0
