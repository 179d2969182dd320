"""`rcmbot users ...` in process: the Typer group run with the root's invocation object (the state
directory), as `rcmbot --state-dir DIR users ...` runs it."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest
from typer.testing import CliRunner, Result

from bots.accounts import AccountStore, PasswordPolicyError, UserError
from bots.cli.common import Invocation
from bots.cli.users import app
from bots.core.errors import InputError, RcmbotError
from bots.core.settings import ConsoleSettings
from bots.worklist.db import open_engine

PASSWORD = "a long enough password"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def users(state: Path, *args: str, input: str | None = None) -> Result:  # noqa: A002 - CliRunner's name
    return CliRunner().invoke(app, list(args), input=input, obj=Invocation(state))


def accounts(state: Path) -> AccountStore:
    return AccountStore(open_engine(f"sqlite:///{state / 'worklist.db'}"), ConsoleSettings())


def test_add_a_user_with_the_password_from_stdin_and_list(state: Path) -> None:
    result = users(state, "add", "ana", "--role", "supervisor", "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert result.output == "added supervisor ana\n"
    assert accounts(state).session(accounts(state).login("ana", PASSWORD)) is not None
    listed = users(state, "list")
    assert listed.exit_code == 0
    assert listed.output.split("\n")[1].split() == ["ana", "supervisor", "no", "no", "-"]


def test_add_asks_for_the_password_twice_without_echo(state: Path) -> None:
    result = users(state, "add", "bea", "--role", "coder", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output and result.output.count("Password") == 1
    assert "added coder bea" in result.output
    accounts(state).login("bea", PASSWORD)


def test_add_with_totp_prints_the_secret_once(state: Path) -> None:
    result = users(state, "add", "cy", "--role", "auditor", "--totp", "--password-stdin", input=PASSWORD)
    assert result.exit_code == 0, result.output
    secret = result.output.splitlines()[2].strip()
    assert f"otpauth://totp/rcmbot%20console:cy?secret={secret}" in result.output
    store = accounts(state)
    store.login("cy", PASSWORD, pyotp.TOTP(secret).now())
    assert users(state, "list").output.split("\n")[1].split()[2] == "yes"


def test_disable_enable_and_reset_password(state: Path) -> None:
    users(state, "add", "ana", "--role", "admin", "--password-stdin", input=PASSWORD)
    token = accounts(state).login("ana", PASSWORD)
    assert users(state, "disable", "ana").output == "disabled ana; their console sessions ended\n"
    assert accounts(state).session(token) is None
    assert "UTC" in users(state, "list").output
    assert users(state, "enable", "ana").exit_code == 0
    result = users(state, "reset-password", "ana", "--password-stdin", input="a brand new password\n")
    assert result.output == "new password set for ana; unlocked, sessions ended\n"
    accounts(state).login("ana", "a brand new password")


def test_list_without_users_says_how_to_add_one(state: Path) -> None:
    assert users(state, "list").output == "no console users yet: rcmbot users add NAME --role admin\n"


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (["add", "ana", "--role", "boss", "--password-stdin"], UserError, "unknown role 'boss'"),
        (["add", "Ana Smith", "--role", "coder", "--password-stdin"], UserError, "not a valid user name"),
        (["add", "ana", "--role", "coder", "--password-stdin"], PasswordPolicyError, "at least 12 characters"),
        (["disable", "nobody"], UserError, "no console user 'nobody'"),
        (["reset-password", "nobody", "--password-stdin"], UserError, "no console user 'nobody'"),
    ],
)
def test_bad_input_is_an_rcmbot_error(state: Path, args: list[str], error: type[Exception], message: str) -> None:
    """An RcmbotError: `rcmbot` prints `rcmbot: error: ...` and exits 2 (bots.cli.app.main)."""
    result = users(state, *args, input="short\n")
    assert isinstance(result.exception, error) and isinstance(result.exception, RcmbotError)
    assert message in str(result.exception)


def test_an_empty_stdin_is_refused(state: Path) -> None:
    result = users(state, "add", "ana", "--role", "coder", "--password-stdin", input="")
    assert isinstance(result.exception, InputError)
