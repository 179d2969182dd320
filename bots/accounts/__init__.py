"""Accounts room: console users (argon2id passwords, optional TOTP, lockout), their sessions,
and two append-only logs: every login attempt, and who viewed what in the console (by internal
ids only). No web code: the console and the `rcmbot users` commands call AccountStore."""

from bots.accounts.demo import DEMO_USERS, add_demo_users
from bots.accounts.errors import (
    AccountLockedError,
    LoginRefusedError,
    PasswordPolicyError,
    UserError,
)
from bots.accounts.models import AccessRecord, CurrentUser, LoginRecord, UserView
from bots.accounts.schema import ConsoleUser
from bots.accounts.store import (
    MIN_PASSWORD_LENGTH,
    AccountStore,
    check_password_policy,
    check_username,
    parse_role,
    totp_uri,
)

__all__ = [
    "AccessRecord",
    "AccountLockedError",
    "AccountStore",
    "ConsoleUser",
    "CurrentUser",
    "DEMO_USERS",
    "LoginRecord",
    "LoginRefusedError",
    "MIN_PASSWORD_LENGTH",
    "PasswordPolicyError",
    "UserError",
    "UserView",
    "add_demo_users",
    "check_password_policy",
    "check_username",
    "parse_role",
    "totp_uri",
]
