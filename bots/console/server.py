"""Serving the console: in the foreground (`rcmbot console`) or from a background thread
(`rcmbot serve`, the demo, the tests), always with the stores opened on one engine."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial

import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine

from bots.accounts import AccountStore
from bots.alerts import Alerts
from bots.console.app import create_app
from bots.console.verification import Verifier
from bots.core.errors import RcmbotError
from bots.core.settings import Settings
from bots.evidence.index import EvidenceIndex
from bots.evidence.setup import evidence_store
from bots.review import ReviewStore, ledger_decisions
from bots.worklist import WorklistStore

START_TIMEOUT_S = 30.0


class ConsoleStartError(RcmbotError):
    """The console could not listen where it was told (a port in use, an address not here)."""


def console_app(settings: Settings, engine: Engine, apply_trigger: Callable[[], None] | None = None) -> FastAPI:
    """The console on the worklist database at `engine` (migrated: bots.worklist.db.upgrade).
    `apply_trigger`: called after approvals, to apply them now (embedded); None: the schedule does."""
    evidence = EvidenceIndex(engine, evidence_store(settings))
    state = {
        "review": ReviewStore(engine, settings.review),
        "worklist": WorklistStore(engine),
        "evidence": evidence,
        "verifier": Verifier(settings, evidence.store),  # the auditor's pages: one Merkle tree per checkpoint
        "apply_trigger": apply_trigger,
        "ledger": partial(ledger_decisions, evidence),  # decisions into the evidence log, via the shared index
        "alerts": Alerts(settings, engine),
    }
    return create_app(settings, accounts=AccountStore(engine, settings.console), state=state)


class RunningConsole:
    """A console app served by uvicorn from a daemon thread. No signal handlers are installed
    (uvicorn installs none off the main thread): whoever started it stops it."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
        self._thread = threading.Thread(target=self._server.run, name="rcmbot-console", daemon=True)

    @property
    def url(self) -> str:
        port = self._server.servers[0].sockets[0].getsockname()[1]
        return f"http://{self.host}:{port}"

    def start(self) -> RunningConsole:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ConsoleStartError(
                    f"the console could not listen on {self.host}:{self._server.config.port} "
                    "(another program on that port? choose one with --port)"
                )
            time.sleep(0.02)
        return self

    def wait(self) -> None:
        """Until the server stops (Ctrl-C in the main thread interrupts the wait, not the server)."""
        while self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)


def start_console(
    settings: Settings,
    engine: Engine,
    host: str | None = None,
    port: int | None = None,
    apply_trigger: Callable[[], None] | None = None,
) -> RunningConsole:
    """The console serving in the background at settings.console.host/port (port 0: a free one)."""
    app = console_app(settings, engine, apply_trigger)
    return RunningConsole(app, host or settings.console.host, settings.console.port if port is None else port).start()
