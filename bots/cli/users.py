"""`rcmbot users add|disable|enable|reset-password|list`: the console's accounts. Users are made
here, never in the console, so the web pages hold no way to create an admin."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from bots.cli.common import invocation, prepare_database, print_table, start
from bots.core.errors import InputError

if TYPE_CHECKING:
    from bots.accounts import AccountStore

app = typer.Typer(no_args_is_help=True)

NameArgument = Annotated[str, typer.Argument(help="the user name (lower-case letters, digits, '.', '_', '-')")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from the first line of standard input")
]


def _store(ctx: typer.Context) -> AccountStore:
    from bots.accounts import AccountStore
    from bots.worklist.db import ensure_current, open_engine

    settings = start(invocation(ctx).settings(), quiet_logs=True)
    prepare_database(settings)
    engine = open_engine(settings.worklist_url)
    ensure_current(engine)
    return AccountStore(engine, settings.console)


def _password(from_stdin: bool) -> str:
    """From standard input (scripts), else asked twice without echo."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise InputError("--password-stdin: standard input held no password")
        return password
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@app.command("add", help="add a console user (asks for the password)")
def add(
    ctx: typer.Context,
    name: NameArgument,
    role: Annotated[str, typer.Option("--role", help="admin, supervisor, coder or auditor")],
    totp: Annotated[bool, typer.Option("--totp", help="require a one-time code (TOTP) at login")] = False,
    password_stdin: PasswordStdin = False,
) -> int:
    from bots.accounts import check_username, parse_role, totp_uri

    check_username(name)  # before the password is asked for
    parse_role(role)
    store = _store(ctx)
    password = _password(password_stdin)
    user, secret = store.add_user(name, role, password, totp=totp)
    print(f"added {user.role.value} {user.username}")
    if secret is not None:
        print("TOTP secret (shown once; add it to an authenticator app now):")
        print(f"  {secret}")
        print(f"  {totp_uri(user.username, secret)}")
    return 0


@app.command("disable", help="stop a user signing in; their sessions end now")
def disable(ctx: typer.Context, name: NameArgument) -> int:
    _store(ctx).disable(name)
    print(f"disabled {name}; their console sessions ended")
    return 0


@app.command("enable", help="let a disabled user sign in again")
def enable(ctx: typer.Context, name: NameArgument) -> int:
    _store(ctx).enable(name)
    print(f"enabled {name}")
    return 0


@app.command("reset-password", help="set a new password: unlocks the user and ends their sessions")
def reset_password(ctx: typer.Context, name: NameArgument, password_stdin: PasswordStdin = False) -> int:
    store = _store(ctx)
    store.user(name)  # an unknown user is named before a password is asked for
    password = _password(password_stdin)
    store.reset_password(name, password)
    print(f"new password set for {name}; unlocked, sessions ended")
    return 0


@app.command("list", help="list console users")
def list_(ctx: typer.Context) -> int:
    users = _store(ctx).users()
    if not users:
        print("no console users yet: rcmbot users add NAME --role admin")
        return 0
    table = Table("user", "role", "TOTP", "disabled", "locked until", box=None, pad_edge=False, show_edge=False)
    for user in users:
        table.add_row(
            user.username,
            user.role.value,
            "yes" if user.totp else "no",
            f"{user.disabled_at:%Y-%m-%d %H:%M} UTC" if user.disabled_at else "no",
            f"{user.locked_until:%H:%M} UTC" if user.locked_until else "-",
        )
    print_table(table, indent=1)
    return 0
