"""The worklist database: engines, and the one place its schema is migrated.

Opening a WorklistStore never migrates. `upgrade` brings a database to the newest Alembic
revision (`rcmbot db upgrade`, and automatically at the start of the commands that own an
embedded SQLite database); `ensure_current` refuses, by name, a database older than the code.
On PostgreSQL, concurrent upgrades from several workers are serialised by an advisory lock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from bots.core.errors import RcmbotError

__all__ = [
    "DatabaseUnavailableError",
    "SchemaOutdatedError",
    "ensure_current",
    "head_revision",
    "open_engine",
    "revision",
    "upgrade",
]

# Rooms that own tables in this database, in migration order: each keeps its Alembic revisions
# in <room>/migrations/versions, one linear history across them (named by path, not imported:
# the worklist room must not depend on the rooms built on it).
TABLE_ROOMS = ("worklist", "review", "accounts", "evidence", "alerts")

# pg_advisory_xact_lock key: "rcmbot" in ASCII, so it cannot collide with another program's by chance
_MIGRATION_LOCK = 0x72636D626F74


class SchemaOutdatedError(RcmbotError):
    """The database's schema is older (or newer) than this code expects."""


class DatabaseUnavailableError(RcmbotError):
    """The worklist database cannot be opened: a bad URL, a missing driver, not a database."""


def _where(url: str | URL) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a database URL)"


@contextmanager
def _opening(url: str | URL) -> Iterator[None]:
    """Problems reaching the database as DatabaseUnavailableError naming it (password hidden)."""
    try:
        yield
    except (ArgumentError, NoSuchModuleError) as exc:
        raise DatabaseUnavailableError(
            f"RCMBOT_DATABASE_URL {_where(url)}: not a database URL SQLAlchemy can open: {exc}"
        ) from exc
    except ModuleNotFoundError as exc:
        raise DatabaseUnavailableError(
            f"the worklist database at {_where(url)} needs the driver {exc.name}, which is not installed"
        ) from exc
    except DBAPIError as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__
        raise DatabaseUnavailableError(f"cannot use the worklist database at {_where(url)}: {reason}") from exc


def open_engine(url: str) -> Engine:
    """An engine for `url` (no connection yet); SQLite in WAL mode with foreign keys on and a busy timeout."""
    with _opening(url):
        if make_url(url).get_backend_name() != "sqlite":
            return create_engine(url, pool_pre_ping=True, hide_parameters=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _pragmas(conn: object, _record: object) -> None:
        cur = conn.cursor()  # type: ignore[attr-defined]
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return engine


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(files("bots.worklist") / "migrations"))
    cfg.set_main_option("path_separator", "os")
    locations = (files("bots") / room / "migrations" / "versions" for room in TABLE_ROOMS)
    cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in locations))
    return cfg


def head_revision() -> str:
    """The newest revision this code knows."""
    return str(ScriptDirectory.from_config(_config()).get_current_head())


def revision(engine: Engine) -> str | None:
    """The database's revision; None for an empty database."""
    with _opening(engine.url), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(url: str) -> tuple[str | None, str]:
    """Bring the database at `url` to the newest revision; (revision before, revision after)."""
    engine = open_engine(url)
    database = engine.url.database
    if engine.url.get_backend_name() == "sqlite" and database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    try:
        cfg = _config()
        with _opening(url), engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # one migrator at a time across workers
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            before = MigrationContext.configure(conn).get_current_revision()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        return before, head_revision()
    finally:
        engine.dispose()


def ensure_current(engine: Engine) -> None:
    """Raise SchemaOutdatedError, naming `rcmbot db upgrade`, unless the schema is the newest."""
    have, want = revision(engine), head_revision()
    if have == want:
        return
    where = _where(engine.url)
    if have is None:
        raise SchemaOutdatedError(f"the worklist database at {where} has no tables yet: run `rcmbot db upgrade`")
    known = {s.revision for s in ScriptDirectory.from_config(_config()).walk_revisions()}
    if have not in known:
        raise SchemaOutdatedError(
            f"the worklist database at {where} is at revision {have}, newer than this "
            f"rcmbot knows ({want}): upgrade rcmbot"
        )
    raise SchemaOutdatedError(
        f"the worklist database at {where} is at revision {have}, older than this "
        f"rcmbot ({want}): run `rcmbot db upgrade`"
    )
