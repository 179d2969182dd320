"""`rcmbot worklist import|export|show`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from bots.cli.common import console, invocation, prepare_database, print_table, start
from bots.core.errors import RcmbotError
from bots.core.money import format_cents

if TYPE_CHECKING:
    from bots.worklist.store import WorklistStore

app = typer.Typer(no_args_is_help=True)


def _store(ctx: typer.Context) -> WorklistStore:
    from bots.worklist.db import ensure_current
    from bots.worklist.store import WorklistStore

    settings = start(invocation(ctx).settings())
    prepare_database(settings)
    store = WorklistStore(settings.worklist_url)
    ensure_current(store.engine)
    return store


@app.command("import", help="import a worklist CSV: every row valid, or nothing imported")
def import_(ctx: typer.Context, file: Annotated[Path, typer.Argument(help="the CSV file")]) -> int:
    from bots.worklist.csvio import read_worklist_csv

    inserted, updated = _store(ctx).upsert(read_worklist_csv(file))
    print(f"imported {file}: {inserted} new item(s), {updated} updated")
    return 0


@app.command("export", help="export the worklist with its latest results as CSV")
def export(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", help="file to write (default: standard output)")] = None,
) -> int:
    from bots.worklist.csvio import write_worklist_csv

    items = _store(ctx).iter_items()
    if out is None:
        write_worklist_csv(items, sys.stdout)  # type: ignore[arg-type]
        return 0
    with open(out, "w", newline="", encoding="utf-8") as f:
        n = write_worklist_csv(items, f)
    print(f"exported {n} item(s) to {out}")
    return 0


@app.command("show", help="list items, or one item with its lines and history")
def show(
    ctx: typer.Context,
    id: Annotated[int | None, typer.Option("--id", help="show one item in full")] = None,  # noqa: A002
    due: Annotated[bool, typer.Option("--due", help="only items due for follow-up now")] = False,
    limit: Annotated[int, typer.Option("--limit", min=0, max=1_000_000, help="show at most this many items")] = 50,
) -> int:
    store = _store(ctx)
    if id is not None:
        _show_item(store, id)
        return 0
    items, total = store.page(limit, due=due)
    table = Table(
        "id",
        "payer",
        "account",
        "claim #",
        "outcome",
        "cat",
        "paid",
        "next action",
        box=None,
        pad_edge=False,
        show_edge=False,
    )
    for column in (table.columns[0], table.columns[6]):
        column.justify = "right"
    for it in items:
        table.add_row(
            str(it.id),
            it.payer_id,
            it.account_number,
            it.payer_claim_number or "-",
            it.outcome or "-",
            it.status_category or "",
            format_cents(it.paid_cents),
            it.next_action or "-",
        )
    print_table(table, indent=1)
    if total > len(items):
        console.print(f"... {total - len(items)} more (--limit)")
    return 0


def _show_item(store: WorklistStore, item_id: int) -> None:
    item = store.item(item_id)
    if item is None:
        raise RcmbotError(f"no worklist item {item_id}")
    out = console.print
    out(
        f"item {item.id}  payer {item.payer_id}  account {item.account_number}  "
        f"claim {item.payer_claim_number or '-'}  billed {format_cents(item.billed_cents)}"
    )
    out(
        f"  status {item.status_category or item.outcome or '-'}  {item.status_text or ''}  "
        f"paid {format_cents(item.paid_cents) or '-'}  CARC {item.carc_codes or '-'}  RARC {item.rarc_codes or '-'}"
    )
    out(
        f"  next: {item.next_action or '-'} at {item.next_follow_up_at:%Y-%m-%d %H:%M} UTC"
        f"{'  (closed)' if item.closed_at else ''}"
    )
    for line in store.lines(item.id):
        out(
            f"  line {line.line_no}: {line.procedure_code} {line.modifiers or ''} x{line.units} "
            f"billed {format_cents(line.billed_cents)} paid {format_cents(line.paid_cents)}"
        )
    out("  history:")
    for h in store.history(item.id):
        out(
            f"    {h.checked_at:%Y-%m-%d %H:%M:%S} UTC  {h.run_id}  {h.outcome:<9} "
            f"{h.status_category or '':<4} {h.status_text or h.error or ''}"
        )
