"""Console accounts (bots.accounts): passwords, sessions, lockout, TOTP and the two append-only
logs, on a fresh SQLite database migrated as in production; time moves by an injected clock."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from bots.accounts import (
    AccountLockedError,
    AccountStore,
    CurrentUser,
    LoginRefusedError,
    PasswordPolicyError,
    UserError,
)
from bots.accounts.schema import ConsoleUser
from bots.core.models import Role
from bots.core.settings import ConsoleSettings
from bots.worklist.db import open_engine, upgrade

PASSWORD = "correct horse battery"
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)  # fast tests; production's default is strong


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'worklist.db'}"
    upgrade(url)
    engine = open_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings() -> ConsoleSettings:
    return ConsoleSettings(lockout_failures=3, lockout_s=600, session_idle_s=60, session_max_s=3600)


@pytest.fixture
def store(engine: Engine, settings: ConsoleSettings, clock: Clock) -> AccountStore:
    return AccountStore(engine, settings, clock, hasher=CHEAP)


def test_a_user_logs_in_and_out(store: AccountStore) -> None:
    user, secret = store.add_user("ana", Role.SUPERVISOR, PASSWORD)
    assert secret is None and user.role is Role.SUPERVISOR and not user.totp
    token = store.login("ana", PASSWORD)
    current = store.session(token)
    assert current is not None
    assert (current.id, current.username, current.role) == (user.id, "ana", Role.SUPERVISOR)
    store.logout(token)
    assert store.session(token) is None
    assert store.session("not-a-token") is None and store.session("") is None


def test_only_the_tokens_hash_is_stored(store: AccountStore, engine: Engine) -> None:
    store.add_user("ana", "coder", PASSWORD)
    token = store.login("ana", PASSWORD)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT token_hash FROM console_sessions")).scalar_one()
    assert token not in stored and len(stored) == 64


def test_wrong_passwords_and_unknown_users_get_one_message_and_are_recorded(store: AccountStore) -> None:
    store.add_user("ana", "coder", PASSWORD)
    with pytest.raises(LoginRefusedError) as wrong:
        store.login("ana", "not the password")
    with pytest.raises(LoginRefusedError) as unknown:
        store.login("nobody", PASSWORD)
    assert str(wrong.value) == str(unknown.value) == "user name or password is incorrect"
    assert type(wrong.value) is type(unknown.value) is LoginRefusedError
    store.login("ana", PASSWORD)
    events = store.login_events(10)
    assert [(e.username, e.success, e.reason) for e in events] == [
        ("ana", True, "ok"),
        ("nobody", False, "unknown user"),
        ("ana", False, "bad password"),
    ]
    assert events[2].user_id == events[0].user_id and events[1].user_id is None


def test_login_events_hold_no_password_or_code(store: AccountStore, engine: Engine, clock: Clock) -> None:
    _, secret = store.add_user("ana", "coder", PASSWORD, totp=True)
    assert secret
    code = pyotp.TOTP(secret).at(clock.now)
    wrong_code = f"{(int(code) + 1) % 1_000_000:06d}"
    attempts = [("ana", "wrong password 1", None), ("ana", PASSWORD, wrong_code), ("ana", PASSWORD, code)]
    for name, password, totp_code in attempts + [("x" * 100, "typo in the name", None)]:
        with contextlib.suppress(LoginRefusedError):
            store.login(name, password, totp_code)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM login_events")).all()
    assert len(rows) == 4 and rows[-1].username == "x" * 64  # as typed, cut to the column
    dumped = repr(rows)
    for secret_text in ("wrong password 1", PASSWORD, wrong_code, code, "typo in the name", secret):
        assert secret_text not in dumped


def test_lockout_after_n_failures_and_its_expiry(store: AccountStore, clock: Clock) -> None:
    store.add_user("ana", "coder", PASSWORD)
    for _ in range(2):
        with pytest.raises(LoginRefusedError) as refused:
            store.login("ana", "wrong")
        assert not isinstance(refused.value, AccountLockedError)
    with pytest.raises(AccountLockedError) as locked:
        store.login("ana", "wrong")
    assert str(locked.value) == (
        "locked after 3 failed logins; try again after 09:10 UTC or ask an admin to reset the password"
    )
    with pytest.raises(AccountLockedError):  # even the right password, while locked
        store.login("ana", PASSWORD)
    assert store.users()[0].locked_until == locked.value.until
    clock.advance(600)
    with pytest.raises(LoginRefusedError) as after:  # the lock ran out: counting starts again
        store.login("ana", "wrong")
    assert not isinstance(after.value, AccountLockedError)
    assert store.session(store.login("ana", PASSWORD)) is not None
    assert store.users()[0].failed_logins == 0
    assert [e.reason for e in store.login_events(10)][:4] == ["ok", "bad password", "locked", "bad password, locked"]


class SlowHasher(PasswordHasher):
    """CHEAP's parameters, a verification slow enough for parallel logins to overlap, and a count
    of the verifications of each hash."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.checked: dict[str, int] = {}
        self._counting = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self._counting:
            self.checked[str(hash)] = self.checked.get(str(hash), 0) + 1
        time.sleep(0.02)
        return super().verify(hash, password)


def guess_in_parallel(store: AccountStore, name: str, guesses: int) -> list[LoginRefusedError]:
    """`guesses` wrong passwords for `name`, all let go at once; what each was told."""
    start, refusals = threading.Barrier(guesses), []

    def guess(n: int) -> None:
        start.wait()
        try:
            store.login(name, f"wrong guess number {n}")
        except LoginRefusedError as exc:
            refusals.append(exc)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(guesses)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return refusals


@pytest.mark.parametrize("name", ["ana", "nobody"])
def test_parallel_wrong_passwords_are_checked_no_more_than_the_limit(
    engine: Engine, settings: ConsoleSettings, clock: Clock, name: str
) -> None:
    hasher = SlowHasher()
    store = AccountStore(engine, settings, clock, hasher=hasher)
    store.add_user("ana", "coder", PASSWORD)
    refusals = guess_in_parallel(store, name, 20)
    assert sum(hasher.checked.values()) == settings.lockout_failures == 3
    assert len(refusals) == 20
    assert sum(isinstance(r, AccountLockedError) for r in refusals) == 20 - 2  # the third failure locks
    reasons = [e.reason for e in store.login_events(20)]
    failed = "bad password" if name == "ana" else "unknown user"
    assert sorted(reasons) == sorted([failed, failed, f"{failed}, locked"] + ["locked"] * 17)
    if name == "ana":
        assert store.users()[0].failed_logins == 3


def test_unknown_existing_and_disabled_users_are_told_the_same_through_the_lock(
    store: AccountStore, clock: Clock
) -> None:
    store.add_user("ana", "coder", PASSWORD)
    store.add_user("bea", "coder", PASSWORD)
    store.disable("bea")

    def answers(name: str, password: str) -> list[tuple[type, str]]:
        told = []
        for _ in range(5):
            with pytest.raises(LoginRefusedError) as refused:
                store.login(name, password)
            told.append((type(refused.value), str(refused.value)))
        clock.advance(600)  # the lock runs out: counting starts again
        with pytest.raises(LoginRefusedError) as after:
            store.login(name, password)
        told.append((type(after.value), str(after.value)))
        clock.advance(-600)
        return told

    ana = answers("ana", "not the password")
    assert ana == answers("Nobody ", "not the password") == answers("bea", PASSWORD)
    wrong = (LoginRefusedError, "user name or password is incorrect")
    locked = (AccountLockedError, ana[2][1])
    assert ana == [wrong, wrong, locked, locked, locked, wrong]
    reasons = [e.reason for e in store.login_events(30)][::-1]
    assert reasons[:6] == ["bad password", "bad password", "bad password, locked", "locked", "locked", "bad password"]
    assert reasons[6:12] == ["unknown user", "unknown user", "unknown user, locked", "locked", "locked", "unknown user"]
    assert reasons[12:] == ["disabled", "disabled", "disabled, locked", "locked", "locked", "disabled"]


def test_a_database_error_never_shows_the_values(store: AccountStore, engine: Engine) -> None:
    store.add_user("ana", "coder", PASSWORD)
    canary = "$argon2id$not-a-real-hash-but-a-canary"
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(IntegrityError) as duplicate, Session(engine) as s, s.begin():
        s.add(
            ConsoleUser(
                username="ana",
                role="coder",
                password_hash=canary,
                failed_logins=0,
                created_at=now,
                password_changed_at=now,
            )
        )
    assert "UNIQUE constraint failed" in str(duplicate.value)
    assert canary not in str(duplicate.value) and canary not in repr(duplicate.value)


def test_a_success_clears_the_failures_in_a_row(store: AccountStore) -> None:
    store.add_user("ana", "coder", PASSWORD)
    for _ in range(2):
        with pytest.raises(LoginRefusedError):
            store.login("ana", "wrong")
    store.login("ana", PASSWORD)
    for _ in range(2):
        with pytest.raises(LoginRefusedError) as refused:
            store.login("ana", "wrong")
        assert not isinstance(refused.value, AccountLockedError)


def test_totp_is_required_and_checked(store: AccountStore, clock: Clock) -> None:
    user, secret = store.add_user("ana", "auditor", PASSWORD, totp=True)
    assert user.totp and secret
    with pytest.raises(LoginRefusedError) as needed:
        store.login("ana", PASSWORD)
    assert needed.value.code_needed and str(needed.value) == "a one-time code is needed"
    with pytest.raises(LoginRefusedError) as needed_wrong:  # the wrong password never says a code is needed
        store.login("ana", "wrong")
    assert not needed_wrong.value.code_needed
    totp = pyotp.TOTP(secret)
    with pytest.raises(LoginRefusedError) as bad:
        store.login("ana", PASSWORD, totp.at(clock.now - dt.timedelta(minutes=5)))
    assert str(bad.value) == "user name or password is incorrect" and not bad.value.code_needed
    assert store.session(store.login("ana", PASSWORD, f" {totp.at(clock.now)} ")) is not None
    reasons = [e.reason for e in store.login_events(10)]
    assert reasons == ["ok", "bad code", "bad password", "code needed"]


def test_wrong_codes_count_towards_the_lockout(store: AccountStore, clock: Clock) -> None:
    _, secret = store.add_user("ana", "auditor", PASSWORD, totp=True)
    assert secret
    for _ in range(2):
        with pytest.raises(LoginRefusedError):
            store.login("ana", PASSWORD, f"{(int(pyotp.TOTP(secret).at(clock.now)) + 1) % 1_000_000:06d}")
    with pytest.raises(AccountLockedError):
        store.login("ana", "wrong")


def test_a_disabled_user_is_refused_and_their_sessions_end(store: AccountStore) -> None:
    store.add_user("ana", "coder", PASSWORD)
    token = store.login("ana", PASSWORD)
    store.disable("ana")
    assert store.session(token) is None
    with pytest.raises(LoginRefusedError) as refused:
        store.login("ana", PASSWORD)
    assert str(refused.value) == "user name or password is incorrect"
    assert store.login_events(1)[0].reason == "disabled"
    assert store.users()[0].disabled_at is not None
    store.enable("ana")
    assert store.session(token) is None  # an ended session stays ended
    assert store.session(store.login("ana", PASSWORD)) is not None


def test_idle_and_absolute_session_timeouts(store: AccountStore, clock: Clock, engine: Engine) -> None:
    store.add_user("ana", "coder", PASSWORD)
    idle = store.login("ana", PASSWORD)
    clock.advance(61)
    assert store.session(idle) is None
    busy = store.login("ana", PASSWORD)
    for _ in range(70):  # used every 55 s: never idle, but never older than an hour
        clock.advance(55)
        if store.session(busy) is None:
            break
    assert 3600 - 55 < (clock.now - store.login_events(1)[0].at).total_seconds() <= 3600 + 55
    with engine.connect() as conn:
        reasons = conn.execute(text("SELECT end_reason FROM console_sessions ORDER BY id")).scalars().all()
    assert reasons == ["idle", "max age"]


def test_a_session_is_not_written_on_every_request(store: AccountStore, clock: Clock, engine: Engine) -> None:
    store.add_user("ana", "coder", PASSWORD)
    token = store.login("ana", PASSWORD)
    start = clock.now

    def last_seen() -> dt.datetime:
        with engine.connect() as conn:
            value = conn.execute(text("SELECT last_seen_at FROM console_sessions")).scalar_one()
        return dt.datetime.fromisoformat(str(value)).replace(tzinfo=dt.UTC)

    clock.advance(1)
    assert store.session(token) is not None and last_seen() == start
    clock.advance(5)
    assert store.session(token) is not None and last_seen() == clock.now


def test_a_password_reset_ends_sessions_and_unlocks(store: AccountStore) -> None:
    store.add_user("ana", "coder", PASSWORD)
    token = store.login("ana", PASSWORD)
    for _ in range(3):
        with pytest.raises(LoginRefusedError):
            store.login("ana", "wrong")
    store.reset_password("ana", "another long password")
    assert store.session(token) is None
    assert store.users()[0].locked_until is None
    with pytest.raises(LoginRefusedError):
        store.login("ana", PASSWORD)
    assert store.session(store.login("ana", "another long password")) is not None


def test_an_old_hash_is_upgraded_at_login(engine: Engine, settings: ConsoleSettings, clock: Clock) -> None:
    AccountStore(engine, settings, clock, hasher=CHEAP).add_user("ana", "coder", PASSWORD)
    strong = AccountStore(engine, settings, clock)
    strong.login("ana", PASSWORD)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM console_users")).scalar_one()
    assert not PasswordHasher().check_needs_rehash(stored)
    assert strong.session(strong.login("ana", PASSWORD)) is not None


@pytest.mark.parametrize("name", ["Ana", "-ana", "ana smith", "ana@example.org", "", "a" * 65, "ána", "ana/..", "_ana"])
def test_usernames_are_validated(store: AccountStore, name: str) -> None:
    with pytest.raises(UserError, match="not a valid user name"):
        store.add_user(name, "coder", PASSWORD)


def test_good_usernames_roles_and_duplicates(store: AccountStore) -> None:
    for name in ("ana", "a.b-c_d", "7up", "a" * 64):
        store.add_user(name, "coder", PASSWORD)
    with pytest.raises(UserError, match="already exists"):
        store.add_user("ana", "coder", PASSWORD)
    with pytest.raises(UserError, match="unknown role 'boss': one of admin, supervisor, coder, auditor"):
        store.add_user("bea", "boss", PASSWORD)
    with pytest.raises(UserError, match="no console user 'nobody'"):
        store.disable("nobody")
    assert [u.username for u in store.users()] == ["7up", "a.b-c_d", "a" * 64, "ana"]


def test_a_short_password_is_refused(store: AccountStore) -> None:
    with pytest.raises(PasswordPolicyError, match="at least 12 characters"):
        store.add_user("ana", "coder", "eleven char")
    store.add_user("ana", "coder", "twelve chars")
    with pytest.raises(PasswordPolicyError):
        store.reset_password("ana", "short")
    assert store.users()[0].username == "ana"


def test_the_access_log_is_append_only_in_the_database(store: AccountStore, engine: Engine) -> None:
    user, _ = store.add_user("ana", "auditor", PASSWORD)
    store.login("ana", PASSWORD)
    me = CurrentUser(id=user.id, username="ana", role=Role.AUDITOR, session_id=1)
    store.log_access(me, "view_task", "task 12", task_id=12)
    for table in ("access_log", "login_events"):
        for statement in (f"UPDATE {table} SET username = 'eve'", f"DELETE FROM {table}"):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(text(statement))
    assert [(e.username, e.action, e.what, e.task_id) for e in store.access_log(10)] == [
        ("ana", "view_task", "task 12", 12)
    ]


def test_the_access_log_pages_by_id_and_filters(store: AccountStore) -> None:
    ana = CurrentUser(id=1, username="ana", role=Role.SUPERVISOR, session_id=1)
    bea = CurrentUser(id=2, username="bea", role=Role.CODER, session_id=2)
    for n in range(1, 8):
        store.log_access(ana if n % 2 else bea, "view_item" if n < 5 else "view_task", f"item {n}", item_id=n)
    first = store.access_log(3)
    assert [e.item_id for e in first] == [7, 6, 5]
    assert [e.item_id for e in store.access_log(3, before_id=first[-1].id)] == [4, 3, 2]
    assert [e.item_id for e in store.access_log(10, username="bea")] == [6, 4, 2]
    assert [e.item_id for e in store.access_log(10, username="ana", action="view_item")] == [3, 1]
    assert first[0].role == "supervisor"


@pytest.mark.parametrize("what", ["dos 2026-01-02", "born 1/2/1990", "x" * 201, "task 1\nforged entry"])
def test_the_access_log_refuses_what_is_not_an_internal_id(store: AccountStore, what: str) -> None:
    ana = CurrentUser(id=1, username="ana", role=Role.SUPERVISOR, session_id=1)
    with pytest.raises(ValueError):
        store.log_access(ana, "search", what)
    with pytest.raises(ValueError):
        store.log_access(ana, "View Task", "task 1")
    assert store.access_log(10) == []
