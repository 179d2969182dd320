"""The root `rcmbot` app: the global --state-dir, every command group, and error handling
(`rcmbot: error: ...` and exit 2 for bad input or configuration)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from bots.cli import (
    alerts,
    backup,
    bench,
    chaos,
    console,
    db,
    demo,
    evidence,
    portal,
    scale,
    selectors,
    sweep,
    users,
    worklist,
)
from bots.cli.common import Invocation
from bots.core.errors import RcmbotError

app = typer.Typer(
    name="rcmbot",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Revenue-cycle bots: claim-status sweeps over payer portals, AR worklists and evidence.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    ctx: typer.Context,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir",
            help="use a self-contained state directory (worklist database and evidence inside it), e.g. .rcmbot/demo",
        ),
    ] = None,
) -> None:
    ctx.obj = Invocation(state_dir)


app.command("demo", help="simulated portals + 200-claim worklist + sweep, from scratch")(demo.demo)
app.command("sweep", help="check every due worklist item now (embedded Prefect)")(sweep.sweep)
app.command("serve", help="unattended mode: local Prefect server + prefect.yaml schedules")(sweep.serve)
app.command("console", help="the supervisors' web console (default http://127.0.0.1:8700)")(console.console)
app.command("seed-scale", help="a large synthetic state directory (review tasks, evidence) for `bench console`")(
    scale.seed_scale
)
app.command("chaos", help="faults, kills and a changed password on the simulated portals; reconcile")(chaos.chaos)
app.command("backup", help="a consistent copy of the worklist database and the evidence, while sweeps run")(
    backup.backup
)
app.command("restore", help="put a backup in place, into a new state directory")(backup.restore)
app.add_typer(users.app, name="users", help="console users: add, disable, enable, reset-password, list")
app.add_typer(portal.app, name="portal", help="simulated portals")
app.add_typer(selectors.app, name="selectors", help="selector maps")
app.add_typer(bench.app, name="bench")
app.add_typer(worklist.app, name="worklist", help="the AR follow-up worklist")
app.add_typer(evidence.app, name="evidence", help="captured evidence")
app.add_typer(db.app, name="db", help="the worklist database")
app.add_typer(alerts.app, name="alerts", help="alerts raised per incident: list, test the channels")


def error(message: str) -> int:
    """Each line of the message (a ConfigError has one per problem) as `rcmbot: error: ...`."""
    for line in message.splitlines() or [""]:
        print(f"rcmbot: error: {line}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Run the command; its exit code. The command is invoked directly (not through Typer's
    standalone main, which turns a closed pipe into exit 1 and reformats usage errors)."""
    command = typer.main.get_command(app)
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        with command.make_context("rcmbot", args) as ctx:
            return int(command.invoke(ctx) or 0)
    except typer.Exit as exc:  # --help and the like
        return int(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        return 130
    except typer.TyperException as exc:  # a usage error (Typer's own Click): its usage line, then why
        usage = getattr(getattr(exc, "ctx", None), "get_usage", lambda: "")()
        if usage:
            print(usage, file=sys.stderr)
        return error(exc.format_message()) if exc.exit_code == 2 else exc.exit_code
    except RcmbotError as exc:
        return error(str(exc))
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a state directory that is a file, an export path that is a folder, ...
        return error(f"{exc.strerror}: {exc.filename}" if exc.filename else str(exc))


if __name__ == "__main__":
    sys.exit(main())
