"""The demo's console users: two supervisors (so maker-checker can be tried), a coder, an
auditor and an admin, each with a fresh random password that exists only in the demo's output."""

from __future__ import annotations

import secrets

from bots.accounts.store import AccountStore
from bots.core.models import Role

DEMO_USERS = (
    ("sofia", Role.SUPERVISOR),
    ("sam", Role.SUPERVISOR),
    ("cody", Role.CODER),
    ("ada", Role.AUDITOR),
    ("adam", Role.ADMIN),
)


def add_demo_users(accounts: AccountStore) -> list[tuple[str, Role, str]]:
    """Make the demo's users; (name, role, password) of each, for the person trying the demo."""
    made = []
    for name, role in DEMO_USERS:
        password = "-".join(secrets.token_hex(3) for _ in range(3))  # 20 characters, easy to type
        accounts.add_user(name, role, password)
        made.append((name, role, password))
    return made
