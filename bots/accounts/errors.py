"""Errors of the accounts room.

RcmbotError
├── InputError
│   ├── UserError            bad user name or role, unknown or duplicate user
│   └── PasswordPolicyError  a password the policy refuses
└── LoginRefusedError        one message for every reason, so a login never tells who exists
    └── AccountLockedError   too many failures in a row: locked for a while
"""

from __future__ import annotations

import datetime as dt

from bots.core.errors import InputError, RcmbotError

WRONG = "user name or password is incorrect"
CODE_NEEDED = "a one-time code is needed"


class UserError(InputError):
    """A user name or role is not valid, or names no user (or one that already exists)."""


class PasswordPolicyError(InputError):
    """The password is too weak to accept; the message says what is missing."""


class LoginRefusedError(RcmbotError):
    """A login failed. The message is the same for an unknown user, a wrong password, a disabled
    account and a wrong code; `code_needed` says the password was right but a one-time code is
    missing (the login page then asks for it)."""

    def __init__(self, message: str = WRONG, *, code_needed: bool = False) -> None:
        super().__init__(message)
        self.code_needed = code_needed


class AccountLockedError(LoginRefusedError):
    """The account is locked after too many failed logins in a row, until `until`."""

    def __init__(self, failures: int, until: dt.datetime) -> None:
        super().__init__(
            f"locked after {failures} failed logins; try again after {until:%H:%M} UTC "
            "or ask an admin to reset the password"
        )
        self.until = until
