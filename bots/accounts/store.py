"""AccountStore: the only code that reads and writes console users, sessions, login events and
the access log.

Passwords are argon2id hashes (rehashed at login when the parameters grow). A login costs one
argon2 verification whether or not the user exists, and refuses with one message for every
reason, so neither the answer nor its timing tells who has an account. Failed logins in a row
lock the account for a while; that is also what limits the rate of guesses. The logins of one
name take turns in this process, so parallel guesses are not all checked before the lock; an
unknown name's (and a disabled user's) failures count and lock alike, so the lockout does not
tell who has an account either. Sessions are random tokens of which only the SHA-256 is stored;
they end on logout, after idling, at a maximum age, and when the user is disabled or their
password reset."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import NoReturn

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bots.accounts.errors import (
    CODE_NEEDED,
    AccountLockedError,
    LoginRefusedError,
    PasswordPolicyError,
    UserError,
)
from bots.accounts.models import AccessRecord, CurrentUser, LoginRecord, UserView
from bots.accounts.schema import AccessEntry, ConsoleSession, ConsoleUser, LoginEvent
from bots.core.models import Role
from bots.core.settings import ConsoleSettings

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
USERNAME_MAX = 64
MIN_PASSWORD_LENGTH = 12
TOTP_ISSUER = "rcmbot console"
TOTP_WINDOW = 1  # accepted 30 s steps either side of now: clocks drift, people type slowly
TOUCH_S = 5.0  # a session's last_seen_at is written at most this often: reads stay reads
UNKNOWN_NAMES_MAX = 10_000  # unknown names whose failures are remembered; the least recently failed go first
ACTION = re.compile(r"^[a-z][a-z_]{0,31}$")
WHAT_MAX = 200
# Dates are PHI (service dates, birth dates) and never an internal id: an entry holding one is a bug.
DATE_SHAPED = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4}")


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def totp_uri(username: str, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads (as a QR code or pasted)."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=TOTP_ISSUER)


def check_password_policy(password: str) -> None:
    """Length is what makes a password hard to guess; no composition rules (NIST SP 800-63B)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


def check_username(username: str) -> str:
    if len(username) > USERNAME_MAX or not USERNAME.match(username):
        raise UserError(
            f"not a valid user name: {username[:USERNAME_MAX]!r} (lower-case letters, digits, '.', '_' and '-', "
            f"starting with a letter or digit, at most {USERNAME_MAX} characters)"
        )
    return username


def parse_role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise UserError(f"unknown role {role!r}: one of {', '.join(r.value for r in Role)}") from None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class _Guard:
    """The lock one name's logins take turns on, and how many logins hold or wait for it."""

    lock: threading.Lock
    users: int = 0


@dataclass
class _Failures:
    """An unknown name's failed logins in a row, as console_users keeps a user's."""

    count: int = 0
    locked_until: dt.datetime | None = None


class AccountStore:
    """Console accounts in the worklist database (opening it does no I/O; migrations: bots.worklist.db).

    `clock` is injected so tests move time instead of sleeping; `hasher` so they can hash cheaply."""

    def __init__(
        self,
        engine: Engine,
        settings: ConsoleSettings,
        clock: Callable[[], dt.datetime] = now_utc,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self._clock = clock
        self._hasher = hasher or PasswordHasher()
        self._write = threading.Lock()  # one writer at a time in this process; SQLite would serialise anyway
        self._names = threading.Lock()  # guards the two dicts below; held only to read or change them
        self._guards: dict[str, _Guard] = {}
        self._unknown: dict[str, _Failures] = {}  # least recently failed first
        # a session used within this long is not written again; a fraction of the idle limit, so
        # a short limit (in tests) is not outrun by the write interval
        self._touch = dt.timedelta(seconds=min(TOUCH_S, settings.session_idle_s / 4))

    @cached_property
    def _dummy_hash(self) -> str:
        """What an unknown user's password is checked against, so the check costs the same."""
        return self._hasher.hash(secrets.token_urlsafe(16))

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        with self._write, self._session() as s, s.begin():
            yield s

    # -- users ------------------------------------------------------------------------------
    def add_user(
        self, username: str, role: Role | str, password: str, totp: bool = False
    ) -> tuple[UserView, str | None]:
        """A new user; with `totp`, the new TOTP secret too (shown once: it is not given out again)."""
        check_username(username)
        parsed = parse_role(role)
        check_password_policy(password)
        secret = pyotp.random_base32() if totp else None
        now = self._clock()
        user = ConsoleUser(
            username=username,
            role=parsed.value,
            password_hash=self._hasher.hash(password),
            totp_secret=secret,
            failed_logins=0,
            created_at=now,
            password_changed_at=now,
        )
        try:
            with self._writing() as s:
                s.add(user)
        except IntegrityError:
            raise UserError(f"a user named {username!r} already exists") from None
        return self._view(user, now), secret

    def user(self, username: str) -> UserView:
        """One user; UserError naming the user when there is none."""
        with self._session() as s:
            return self._view(self._user(s, username), self._clock())

    def users(self) -> list[UserView]:
        now = self._clock()
        with self._session() as s:
            return [self._view(u, now) for u in s.scalars(select(ConsoleUser).order_by(ConsoleUser.username))]

    def disable(self, username: str) -> None:
        """The user can no longer sign in; their sessions end now."""
        now = self._clock()
        with self._writing() as s:
            user = self._user(s, username)
            user.disabled_at = user.disabled_at or now
            self._end_sessions(s, user.id, "disabled", now)

    def enable(self, username: str) -> None:
        with self._writing() as s:
            self._user(s, username).disabled_at = None

    def reset_password(self, username: str, password: str) -> None:
        """A new password: the lock is lifted and every session of the user ends."""
        check_password_policy(password)
        password_hash = self._hasher.hash(password)
        now = self._clock()
        with self._writing() as s:
            user = self._user(s, username)
            user.password_hash, user.password_changed_at = password_hash, now
            user.failed_logins, user.locked_until = 0, None
            self._end_sessions(s, user.id, "password reset", now)

    @staticmethod
    def _user(s: Session, username: str) -> ConsoleUser:
        user = s.scalar(select(ConsoleUser).where(ConsoleUser.username == username))
        if user is None:
            raise UserError(f"no console user {username!r}")
        return user

    @staticmethod
    def _view(user: ConsoleUser, now: dt.datetime) -> UserView:
        locked = user.locked_until if user.locked_until is not None and user.locked_until > now else None
        return UserView(
            id=user.id,
            username=user.username,
            role=Role(user.role),
            totp=user.totp_secret is not None,
            disabled_at=user.disabled_at,
            locked_until=locked,
            failed_logins=user.failed_logins,
            created_at=user.created_at,
            password_changed_at=user.password_changed_at,
        )

    # -- login ------------------------------------------------------------------------------
    def login(self, username: str, password: str, totp_code: str | None = None) -> str:
        """A new session token, or LoginRefusedError (AccountLockedError when locked). Every
        attempt is recorded in login_events, with the user name as typed and never a secret."""
        typed, name = username[:USERNAME_MAX], username.strip().lower()
        with self._one_at_a_time(name):
            now = self._clock()
            with self._session() as s:
                user = s.scalar(select(ConsoleUser).where(ConsoleUser.username == name))
            if user is None:
                self._refuse_unknown(name, typed, password, now)
            if user.locked_until is not None and user.locked_until > now:
                self._record(typed, user.id, "locked", now)
                raise AccountLockedError(self.settings.lockout_failures, user.locked_until)
            right = self._verify(user.password_hash, password)
            if user.disabled_at is not None:  # counted like any failure, so it locks like an unknown name
                self._fail(user.id, typed, "disabled", now)
            if not right:
                self._fail(user.id, typed, "bad password", now)
            if user.totp_secret is not None:
                if not totp_code or not totp_code.strip():
                    self._record(typed, user.id, "code needed", now)  # not a failure: the password was right
                    raise LoginRefusedError(CODE_NEEDED, code_needed=True)
                totp = pyotp.TOTP(user.totp_secret)
                if not totp.verify(totp_code.strip(), for_time=now, valid_window=TOTP_WINDOW):
                    self._fail(user.id, typed, "bad code", now)
            return self._open_session(user, password, typed, now)

    @contextmanager
    def _one_at_a_time(self, name: str) -> Iterator[None]:
        """Hold `name`'s turn from reading its failures to counting this one: without it, parallel
        wrong passwords would all be checked before the first of them was counted. One lock per
        name in use (dropped when no login holds or waits for it), so other names never wait."""
        with self._names:
            guard = self._guards.setdefault(name, _Guard(threading.Lock()))
            guard.users += 1
        try:
            with guard.lock:
                yield
        finally:
            with self._names:
                guard.users -= 1
                if not guard.users:
                    del self._guards[name]

    def _refuse_unknown(self, name: str, typed: str, password: str, now: dt.datetime) -> NoReturn:
        """Refuse a name no user has exactly as a user's wrong password: at the same cost, with the
        same message, and locked after as many failures for as long. Its failures are kept in
        memory, for at most UNKNOWN_NAMES_MAX names; one forgotten starts counting again."""
        limit = self.settings.lockout_failures
        with self._names:
            failures = self._unknown.get(name) or _Failures()
        if failures.locked_until is not None and failures.locked_until > now:
            self._record(typed, None, "locked", now)
            raise AccountLockedError(limit, failures.locked_until)
        self._verify(self._dummy_hash, password)  # the cost of a user's check
        with self._names:
            if failures.locked_until is not None:  # an old lock has run out
                failures.count, failures.locked_until = 0, None
            failures.count += 1
            if failures.count >= limit:
                failures.locked_until = now + dt.timedelta(seconds=self.settings.lockout_s)
            self._unknown.pop(name, None)
            self._unknown[name] = failures  # now the most recently failed
            while len(self._unknown) > UNKNOWN_NAMES_MAX:
                del self._unknown[next(iter(self._unknown))]
        until = failures.locked_until
        self._record(typed, None, "unknown user, locked" if until else "unknown user", now)
        if until is not None:
            raise AccountLockedError(limit, until)
        raise LoginRefusedError()

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def _record(self, typed: str, user_id: int | None, reason: str, now: dt.datetime, success: bool = False) -> None:
        with self._writing() as s:
            s.add(LoginEvent(at=now, username=typed, user_id=user_id, success=success, reason=reason))

    def _fail(self, user_id: int, typed: str, reason: str, now: dt.datetime) -> NoReturn:
        """Count a failure in a row, locking the account at the limit, and refuse. The count adds
        one to the stored number in the database, so a failure another process counts at the same
        moment is not lost."""
        limit = self.settings.lockout_failures
        this = ConsoleUser.id == user_id
        with self._writing() as s:
            # an old lock has run out: counting starts again
            s.execute(
                update(ConsoleUser)
                .where(this, ConsoleUser.locked_until <= now)
                .values(failed_logins=0, locked_until=None)
            )
            failures = s.execute(
                update(ConsoleUser)
                .where(this)
                .values(failed_logins=ConsoleUser.failed_logins + 1)
                .returning(ConsoleUser.failed_logins)
            ).scalar_one()
            until = now + dt.timedelta(seconds=self.settings.lockout_s) if failures >= limit else None
            if until is not None:
                s.execute(update(ConsoleUser).where(this).values(locked_until=until))
            reason = f"{reason}, locked" if until else reason
            s.add(LoginEvent(at=now, username=typed, user_id=user_id, success=False, reason=reason))
        if until is not None:
            raise AccountLockedError(limit, until)
        raise LoginRefusedError()

    def _open_session(self, user: ConsoleUser, password: str, typed: str, now: dt.datetime) -> str:
        token = secrets.token_urlsafe(32)
        rehash = self._hasher.hash(password) if self._hasher.check_needs_rehash(user.password_hash) else None
        with self._writing() as s:
            row = s.get(ConsoleUser, user.id, with_for_update=True)
            assert row is not None, "users are never deleted"
            row.failed_logins, row.locked_until = 0, None
            if rehash is not None:
                row.password_hash = rehash
            s.add(ConsoleSession(token_hash=_digest(token), user_id=user.id, created_at=now, last_seen_at=now))
            s.add(LoginEvent(at=now, username=typed, user_id=user.id, success=True, reason="ok"))
        return token

    # -- sessions ---------------------------------------------------------------------------
    def session(self, token: str) -> CurrentUser | None:
        """The user of a live session; None for an unknown, ended, idle, too old or disabled one
        (which is ended now, with the reason)."""
        if not token:
            return None
        now = self._clock()
        query = (
            select(ConsoleSession, ConsoleUser)
            .join(ConsoleUser, ConsoleSession.user_id == ConsoleUser.id)
            .where(ConsoleSession.token_hash == _digest(token))
        )
        with self._session() as s:
            row = s.execute(query).first()
        if row is None or row[0].ended_at is not None:
            return None
        session, user = row
        reason = self._ends(session, user, now)
        if reason is not None or now - session.last_seen_at >= self._touch:
            with self._writing() as s:
                changes = {"ended_at": now, "end_reason": reason} if reason else {"last_seen_at": now}
                s.execute(update(ConsoleSession).where(ConsoleSession.id == session.id).values(**changes))
        if reason is not None:
            return None
        return CurrentUser(id=user.id, username=user.username, role=Role(user.role), session_id=session.id)

    def _ends(self, session: ConsoleSession, user: ConsoleUser, now: dt.datetime) -> str | None:
        """Why a session still open in the table is over by now; None while it is live."""
        if user.disabled_at is not None:
            return "disabled"
        if now - session.created_at > dt.timedelta(seconds=self.settings.session_max_s):
            return "max age"
        if now - session.last_seen_at > dt.timedelta(seconds=self.settings.session_idle_s):
            return "idle"
        return None

    def logout(self, token: str) -> None:
        if not token:
            return
        with self._writing() as s:
            s.execute(
                update(ConsoleSession)
                .where(ConsoleSession.token_hash == _digest(token), ConsoleSession.ended_at.is_(None))
                .values(ended_at=self._clock(), end_reason="logout")
            )

    @staticmethod
    def _end_sessions(s: Session, user_id: int, reason: str, now: dt.datetime) -> None:
        s.execute(
            update(ConsoleSession)
            .where(ConsoleSession.user_id == user_id, ConsoleSession.ended_at.is_(None))
            .values(ended_at=now, end_reason=reason)
        )

    # -- the logs ---------------------------------------------------------------------------
    def log_access(
        self, user: CurrentUser, action: str, what: str, item_id: int | None = None, task_id: int | None = None
    ) -> None:
        """Append to the access log. `action` is a short snake_case verb ("view_task"); `what` names
        internal ids only ("task 12"). A date or an over-long text is refused as a programming
        error: it means something other than ids is about to be written."""
        if not ACTION.match(action):
            raise ValueError(f"not an access-log action: {action!r}")
        if len(what) > WHAT_MAX or not what.isprintable() or DATE_SHAPED.search(what):
            raise ValueError("an access-log entry names internal ids only (no dates, no free text)")
        entry = AccessEntry(
            at=self._clock(),
            username=user.username,
            role=user.role.value,
            action=action,
            what=what,
            item_id=item_id,
            task_id=task_id,
        )
        with self._writing() as s:
            s.add(entry)

    def access_log(
        self, limit: int, before_id: int | None = None, username: str | None = None, action: str | None = None
    ) -> list[AccessRecord]:
        """Newest first, at most `limit` entries older than `before_id` (keyset pagination)."""
        query = select(AccessEntry).order_by(AccessEntry.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(AccessEntry.id < before_id)
        if username:
            query = query.where(AccessEntry.username == username)
        if action:
            query = query.where(AccessEntry.action == action)
        with self._session() as s:
            return [
                AccessRecord(
                    id=e.id,
                    at=e.at,
                    username=e.username,
                    role=e.role,
                    action=e.action,
                    what=e.what,
                    item_id=e.item_id,
                    task_id=e.task_id,
                )
                for e in s.scalars(query)
            ]

    def login_events(self, limit: int) -> list[LoginRecord]:
        """The newest `limit` login attempts, newest first."""
        query = select(LoginEvent).order_by(LoginEvent.id.desc()).limit(limit)
        with self._session() as s:
            return [
                LoginRecord(
                    id=e.id, at=e.at, username=e.username, user_id=e.user_id, success=e.success, reason=e.reason
                )
                for e in s.scalars(query)
            ]
