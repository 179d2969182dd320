"""`rcmbot alerts list|test`: the alerts kept in the worklist database, and a test of the channels
they are sent through (RCMBOT_ALERTS__WEBHOOK_URL, RCMBOT_ALERTS__SMTP_HOST, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from bots.cli.common import invocation, prepare_database, print_json, print_table, start
from bots.core.errors import RcmbotError

if TYPE_CHECKING:
    from bots.alerts import Alert, Alerts

app = typer.Typer(no_args_is_help=True)

AsJson = Annotated[bool, typer.Option("--json", help="JSON: one object per line")]


def _alerts(ctx: typer.Context) -> Alerts:
    from bots.alerts import Alerts
    from bots.worklist.db import ensure_current, open_engine

    settings = start(invocation(ctx).settings(), quiet_logs=True)
    prepare_database(settings)
    engine = open_engine(settings.worklist_url)
    ensure_current(engine)
    return Alerts(settings, engine)


def _sent(alert: Alert) -> str:
    delivered = alert.delivered
    return ", ".join(f"{channel} {'ok' if ok else 'failed'}" for channel, ok in delivered.items()) or "-"


@app.command("list", help="alerts, newest first: open and resolved, or only the open ones")
def list_(
    ctx: typer.Context,
    open_only: Annotated[bool, typer.Option("--open", help="only alerts nobody has resolved")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="at most N alerts")] = 50,
    as_json: AsJson = False,
) -> int:
    store = _alerts(ctx)
    alerts = store.open_alerts()[:limit] if open_only else store.recent(limit)
    if as_json:
        for alert in alerts:
            print_json(alert.as_dict())
        return 0
    if not alerts:
        print("no open alerts" if open_only else "no alerts yet")
        return 0
    table = Table(
        "id",
        "kind",
        "incident",
        "raised (UTC)",
        "seen",
        "last seen",
        "status",
        "sent",
        "subject",
        box=None,
        pad_edge=False,
        show_edge=False,
    )
    for alert in alerts:
        table.add_row(
            str(alert.id),
            alert.kind.value,
            alert.key,
            f"{alert.raised_at:%Y-%m-%d %H:%M}",
            str(alert.times_seen),
            f"{alert.last_seen_at:%Y-%m-%d %H:%M}",
            "open" if alert.open else f"resolved by {alert.resolved_by}",
            _sent(alert),
            alert.subject,
        )
    print_table(table, indent=1)
    return 0


@app.command(
    "test",
    help="send a test alert through every configured channel and say how each did "
    "(exit 1: a channel failed; 2: none is configured)",
)
def test(ctx: typer.Context, as_json: AsJson = False) -> int:
    store = _alerts(ctx)
    if not store.channels:
        raise RcmbotError(
            "no alert channel is configured: set RCMBOT_ALERTS__WEBHOOK_URL, or RCMBOT_ALERTS__SMTP_HOST "
            "and RCMBOT_ALERTS__SMTP_TO (docs/alerts.md)"
        )
    alert = store.send_test()
    results = {name: alert.latest(name) for name in store.channel_names}
    ok = all(d is not None and d.ok for d in results.values())
    if as_json:
        channels = {name: {"ok": bool(d and d.ok), "error": d.error if d else None} for name, d in results.items()}
        print_json({"ok": ok, "alert_id": alert.id, "channels": channels})
        return 0 if ok else 1
    for name, d in results.items():
        print(f"{name:<8} " + ("ok" if d is not None and d.ok else f"FAILED: {d.error if d else 'not tried'}"))
    print(f"test alert {alert.id} ({alert.key}): {'sent through every channel' if ok else 'a channel failed'}")
    return 0 if ok else 1
