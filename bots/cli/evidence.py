"""`rcmbot evidence list|verify`."""

from __future__ import annotations

from typing import Annotated

import typer

from bots.cli.common import invocation, start

app = typer.Typer(no_args_is_help=True)


@app.command("list", help="list evidence records")
def list_(
    ctx: typer.Context,
    item: Annotated[int | None, typer.Option("--item", help="only this worklist item's evidence")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="only the newest N")] = None,
) -> int:
    from bots.evidence import open_evidence_store

    settings = start(invocation(ctx).settings())
    records = [r for r in open_evidence_store(settings.evidence_path).records() if item is None or r.item_id == item]
    for r in records[-limit:] if limit else records:
        print(
            f"{r.captured_at:%Y-%m-%dT%H:%M:%SZ}  item {r.item_id:>5}  {r.media_type:<10}  "
            f"{r.size:>7} B  {r.sha256[:16]}  {r.path}"
        )
    print(f"{len(records)} evidence record(s) in {settings.evidence_path}")
    return 0


@app.command("verify", help="recompute every hash; non-zero exit on any problem")
def verify(ctx: typer.Context) -> int:
    from bots.evidence import open_evidence_store

    settings = start(invocation(ctx).settings())
    store = open_evidence_store(settings.evidence_path)
    problems = store.verify()
    for problem in problems:
        print(problem)
    n = len({r.path for r in store.records()})
    print(f"{'FAILED' if problems else 'OK'}: {n} evidence file(s) checked, {len(problems)} problem(s)")
    return 1 if problems else 0
