"""What every command shares: the global options turned into Settings, logging and Prefect set
up once, the worklist database made ready, and output helpers."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from bots.core.settings import Settings

# Tables and progress go to a terminal as Rich renders them; piped output is never wrapped.
# Text from portals and the worklist is printed as it is: no Rich markup, emoji codes or highlighting.
console = Console(
    soft_wrap=True, markup=False, emoji=False, highlight=False, width=None if sys.stdout.isatty() else 200
)


@dataclass
class Invocation:
    """The global options of one `rcmbot` invocation."""

    state_dir: Path | None = None

    def settings(self, **overrides: Any) -> Settings:
        """Settings for this invocation: --state-dir makes database and evidence self-contained."""
        if self.state_dir is not None:
            overrides = {"state_dir": self.state_dir, "evidence_dir": self.state_dir / "evidence", **overrides}
        return Settings(**overrides)

    @property
    def state_flag(self) -> str:
        """The option to repeat in commands printed for the user to run next."""
        return f" --state-dir {self.state_dir}" if self.state_dir is not None else ""


def invocation(ctx: typer.Context) -> Invocation:
    obj = ctx.find_root().obj
    assert isinstance(obj, Invocation), "the root callback sets the invocation"
    return obj


def start(settings: Settings, quiet_logs: bool = False) -> Settings:
    """The allocator, Prefect's environment (before Prefect is imported) and logging, once per command."""
    from bots.core.logs import configure_logging
    from bots.core.memory import limit_malloc_arenas
    from bots.orchestration.prefect_env import configure_prefect

    limit_malloc_arenas()
    configure_prefect(settings)
    log = settings.log
    if quiet_logs and "RCMBOT_LOG__LEVEL" not in os.environ:
        log = log.model_copy(update={"level": "WARNING"})
    configure_logging(log)
    return settings


def prepare_database(settings: Settings) -> None:
    """An embedded SQLite worklist database is this command's own: bring it up to date. Any
    other database is upgraded by `rcmbot db upgrade` alone (the stores refuse an old one)."""
    from bots.worklist.db import upgrade

    if settings.database_url is None:
        upgrade(settings.worklist_url)


def print_table(table: Table, indent: int = 2) -> None:
    """A Rich table without borders, indented, each line without trailing blanks (pipe-friendly)."""
    with console.capture() as captured:
        console.print(table)
    for line in captured.get().splitlines():
        print(" " * indent + line.rstrip())


def print_json(data: Any) -> None:
    """One JSON line on standard output, never reformatted by Rich."""
    print(json.dumps(data), flush=True)


# Where the worklist and evidence are, when the environment of this one command said so.
DATA_ENV = ("RCMBOT_PROJECT_ROOT", "RCMBOT_STATE_DIR", "RCMBOT_EVIDENCE_DIR")


def data_env() -> str:
    """The variables to repeat before a command printed for the user to run next, so it looks at
    the same worklist and evidence (RCMBOT_DATABASE_URL is a secret: it is never printed)."""
    return "".join(f"{name}={shlex.quote(os.environ[name])} " for name in DATA_ENV if name in os.environ)


def rcmbot_program() -> str:
    """How the user runs rcmbot from here: on PATH, or this virtual environment's script."""
    return "rcmbot" if shutil.which("rcmbot") else os.path.relpath(Path(sys.executable).parent / "rcmbot")
