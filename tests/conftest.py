"""Shared fixtures, kept fast as the suite grows (../shared/STYLE.md): one event loop and one
Chromium for the session (a fresh context per portal per sweep, as production), simulated
portals started once per session and reset between tests, one local Prefect server for the
tests that need a real one, settings in a temporary state directory, Prefect offline in a
state directory of its own."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pyotp
import pytest
import structlog

ROOT = Path(__file__).resolve().parent.parent

# Prefect reads its environment at import: set it before anything imports Prefect.
# One embedded Prefect home per pytest-xdist worker: two processes on one SQLite file lock each other.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
os.environ.setdefault("RCMBOT_PREFECT__HOME", str(ROOT / ".rcmbot" / f"test-prefect-{WORKER}"))
from bots.core.settings import Settings, SimSettings  # noqa: E402
from bots.orchestration.prefect_env import configure_prefect  # noqa: E402

configure_prefect(Settings(project_root=ROOT))

from playwright.async_api import Browser, Playwright, async_playwright  # noqa: E402

from bots.browser.launch import find_browser, launch, launch_args  # noqa: E402
from bots.core.registry import PortalRegistry  # noqa: E402
from bots.sim.dataset import Dataset, build_dataset  # noqa: E402
from bots.sim.fleet import SIMULATED, Fleet  # noqa: E402
from bots.sim.portal import PortalConfig  # noqa: E402
from bots.sim.server import PortalServer  # noqa: E402

T = TypeVar("T")
SEED, CLAIMS = 7, 200
ASYNC_TIMEOUT_S = 280.0  # under pytest-timeout's 300 s, so a hung coroutine fails its own test


# -- the command line and the processes it starts ---------------------------------------------
RCMBOT = [sys.executable, "-m", "bots.cli"]


def rcmbot(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`rcmbot ARGS` in a process of its own."""
    return subprocess.run([*RCMBOT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def off_the_main_thread(call: Callable[..., T], *args: Any) -> T:
    """`call(*args)` on a thread of its own: code that runs an event loop of its own (asyncio.run,
    Prefect's sync-compatible calls) must not meet the loop pytest-playwright's sync API leaves
    marked running on the main thread after a browser test in the same worker."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="off-main") as pool:
        return pool.submit(call, *args).result()


def rcmbot_in_process(*args: str) -> tuple[int, str, str]:
    """`rcmbot ARGS` in this process: (exit code, stdout, stderr). On a thread of its own: commands
    call asyncio.run, and pytest-playwright's sync API leaves the main thread's loop marked running."""
    from bots.cli import main

    out, err = io.StringIO(), io.StringIO()

    def run() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return main(list(args))

    code = off_the_main_thread(run)
    return code, out.getvalue(), err.getvalue()


def base_env(tmp_path: Path) -> dict[str, str]:
    """This process's environment for a child: state in tmp_path, no portal credentials, Prefect embedded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCMBOT_BLUESTEM_")}
    env.update(RCMBOT_STATE_DIR=str(tmp_path / "state"))
    env.pop("PREFECT_API_URL", None)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- one event loop, one Playwright, one Chromium for the session -------------------------------
@functools.cache
def browser_executable() -> Path:
    """The Chromium rcmbot finds (bots.browser.launch.find_browser), looked up once."""
    return find_browser(Settings(project_root=ROOT).browser)


class AsyncSession:
    """An event loop on a background thread for the whole session (pytest-playwright's sync API
    owns the main thread's loop), with one Playwright and one Chromium on it, launched on first
    use with production's flags and launched again if a test closed it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="tests-event-loop", daemon=True)
        self.thread.start()
        self._pw: Playwright | None = None
        self._browser: Browser | None = None
        self._lock: asyncio.Lock | None = None

    def run(self, coro: Awaitable[T], timeout: float) -> T:
        # An empty context, as a fresh thread has: nothing the test thread set leaks in.
        future: concurrent.futures.Future[T] = contextvars.Context().run(
            asyncio.run_coroutine_threadsafe, coro, self.loop
        )  # type: ignore[arg-type]
        try:
            return future.result(timeout)
        except BaseException:  # a timeout, or pytest-timeout interrupting the test: stop the coroutine too
            future.cancel()
            raise

    async def browser(self) -> Browser:
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            if self._browser is None or not self._browser.is_connected():
                executable = await asyncio.to_thread(browser_executable)  # find_browser uses the sync API
                self._pw = self._pw or await async_playwright().start()
                self._browser = await launch(self._pw, Settings(project_root=ROOT).browser, executable)
            return self._browser

    def close(self) -> None:
        async def shutdown() -> None:
            if self._browser is not None:
                with contextlib.suppress(Exception):
                    await self._browser.close()
            if self._pw is not None:
                await self._pw.stop()
            current = asyncio.current_task()
            leftovers = [t for t in asyncio.all_tasks() if t is not current]
            for task in leftovers:
                task.cancel()
            await asyncio.gather(*leftovers, return_exceptions=True)

        try:
            self.run(shutdown(), 60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)


_session: AsyncSession | None = None
_session_lock = threading.Lock()


def _async_session() -> AsyncSession:
    global _session
    with _session_lock:
        if _session is None:
            _session = AsyncSession()
        return _session


def run_async(coro: Awaitable[T], timeout: float = ASYNC_TIMEOUT_S) -> T:
    """Run a coroutine to its end on the session's event loop; its result, or its exception."""
    return _async_session().run(coro, timeout)


async def shared_browser() -> Browser:
    """The session's Chromium (inside a coroutine given to run_async). Use a fresh context and
    close it; never close the browser: a test that does launches its own (own_browser=True)."""
    return await _async_session().browser()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first: pytest-xdist hands out tests in this order, and a minutes-long test
    started last would leave the other workers idle while it runs."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session", autouse=True)
def _event_loop_of_the_session() -> Iterator[None]:
    yield
    if _session is not None:
        _session.close()


@pytest.fixture(scope="session")
def async_browser() -> Browser:
    """The session's Chromium, for coroutines given to run_async (see shared_browser)."""
    return run_async(shared_browser())


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    """pytest-playwright's browser (for tests that drive a portal as a person would)."""
    return {"executable_path": str(browser_executable()), "args": launch_args()}


@pytest.fixture(autouse=True)
def _logging_config_restored() -> Iterator[None]:
    """A test that configures logging (an in-process command does) leaves the next one as it found it."""
    config = structlog.get_config()
    saved = {**config, "processors": list(config["processors"])}
    yield
    if structlog.get_config() != saved:
        structlog.configure(**saved)


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    return build_dataset(SEED, CLAIMS)


# -- simulated portals: started once per session, reset between tests ---------------------------
class Portal:
    """A running simulated Bluestem-style portal plus the credentials of its bot user."""

    def __init__(self, tmp: Path, **config: Any) -> None:
        self.username, self.password = "test-bot", secrets.token_urlsafe(12)
        self.totp_secret = pyotp.random_base32()
        self.server = PortalServer(PortalConfig(db_path=tmp / "portal.db", seed=SEED, claims=CLAIMS, **config))
        self.server.start()
        self.server.add_user(self.username, self.password, self.totp_secret)

    @property
    def url(self) -> str:
        return self.server.url

    def reset(self, terms_accepted: bool = False, **config: Any) -> Portal:
        """A fresh state with `config` changed (PortalServer.reset); the claims and the user stay."""
        self.server.reset(terms_accepted, **config)
        return self

    def env(self) -> dict[str, str]:
        """Its credentials under the registry's names for its kind (RCMBOT_BLUESTEM_..., RCMBOT_CEDAR_...)."""
        prefix = f"RCMBOT_{self.server.cfg.kind.upper()}"
        return {
            f"{prefix}_USERNAME": self.username,
            f"{prefix}_PASSWORD": self.password,
            f"{prefix}_TOTP_SECRET": self.totp_secret,
        }


class SimPortals:
    """The session's simulated portals, each started (and its database seeded) once, on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.portals: dict[tuple[str, str], Portal] = {}
        self.fleets: dict[str, Fleet] = {}

    def portal(self, kind: str = "bluestem", layout: str = "normal") -> Portal:
        if (kind, layout) not in self.portals:
            self.portals[kind, layout] = Portal(self.root / f"{kind}-{layout}", kind=kind, layout=layout)
        return self.portals[kind, layout]

    def fleet(self, layout: str = "normal") -> Fleet:
        """Every simulated portal of the registry in one layout, each with a bot user of its own."""
        if layout not in self.fleets:
            registry = PortalRegistry.load(ROOT / "config/portals.yaml")
            fleet = Fleet(
                SimSettings(seed=SEED), registry, list(SIMULATED), self.root / f"fleet-{layout}", CLAIMS, layout
            )  # type: ignore[arg-type]
            self.fleets[layout] = fleet.__enter__()
        return self.fleets[layout]

    def stop(self) -> None:
        for p in self.portals.values():
            p.server.stop()
        for fleet in self.fleets.values():
            fleet.stop()


@pytest.fixture(scope="session")
def sims(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimPortals]:
    running = SimPortals(tmp_path_factory.mktemp("sims"))
    yield running
    running.stop()


@pytest.fixture
def portal(sims: SimPortals) -> Portal:
    """The session's Bluestem portal, reset for this test: no sessions, no terms accepted today,
    no faults, settings as started."""
    return sims.portal().reset()


@pytest.fixture
def cedar(sims, monkeypatch) -> Portal:
    """The session's Cedar Valley portal (a skin of the Bluestem app), ready for the guide's entry."""
    return guide_portal(sims, monkeypatch, "cedar")


@pytest.fixture
def sagebrush(sims, monkeypatch) -> Portal:
    """The session's Sagebrush portal, ready for the guide's entry."""
    return guide_portal(sims, monkeypatch, "sagebrush")


def guide_portal(sims: SimPortals, monkeypatch: pytest.MonkeyPatch, kind: str) -> Portal:
    """The session's portal of a kind the guide onboards, reset, its bot user's credentials under
    the names the guide's registry entry gives."""
    portal = sims.portal(kind).reset()
    for name, value in portal.env().items():
        monkeypatch.setenv(name, value)
    return portal


@pytest.fixture
def make_portal(sims: SimPortals) -> Callable[..., Portal]:
    """make_portal(layout="normal", terms_accepted=False, **config): the session's Bluestem portal
    of that layout, reset for this test with its own settings (session_idle_s, latency_ms, ...)."""

    def make(layout: str = "normal", terms_accepted: bool = False, **config: Any) -> Portal:
        return sims.portal("bluestem", layout).reset(terms_accepted, **config)

    return make


@pytest.fixture
def fleet(sims: SimPortals) -> Fleet:
    """The session's fleet of every simulated portal (normal layout), reset for this test."""
    running = sims.fleet("normal")
    running.reset()
    return running


@pytest.fixture
def settings(tmp_path: Path, portal: Portal, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings in a fresh state directory, with credentials for the session portal."""
    for name, value in portal.env().items():
        monkeypatch.setenv(name, value)
    return Settings(
        project_root=ROOT,
        state_dir=tmp_path / "state",
        evidence_dir=tmp_path / "evidence",
        sweep={"backoff_initial_s": 0.05, "backoff_max_s": 0.2, "concurrency": 2},
    )


@pytest.fixture
def fleet_settings(settings: Settings, fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for the session's fleet of simulated portals (conftest's `fleet`, reset for the test)."""
    for name, value in fleet.env.items():
        monkeypatch.setenv(name, value)
    settings.sweep.mailbox_wait_s = 10
    settings.sweep.mailbox_poll_s = 0.2
    return settings


# -- sweeps -------------------------------------------------------------------------------------
def seed_worklist(settings: Settings, rows: list[Any]) -> None:
    """Import data-set rows through the real CSV path."""
    from bots.sim.dataset import write_worklist_csv
    from bots.worklist.csvio import read_worklist_csv
    from bots.worklist.db import upgrade
    from bots.worklist.store import WorklistStore

    upgrade(settings.worklist_url)
    csv_path = settings.state_path / "worklist.csv"
    write_worklist_csv(rows, csv_path)
    WorklistStore(settings.worklist_url).upsert(read_worklist_csv(csv_path))


def run_sweep(
    sweep: Any, items: list[Any], concurrency: int | None = None, step: Any = None, own_browser: bool = False
) -> Any:
    """Sweep.run on the session's loop with the session's Chromium (a context of its own per
    portal), or with a Chromium the sweep launches itself (own_browser: for tests that close it)."""

    async def go() -> Any:
        browser = None if own_browser else await shared_browser()
        return await sweep.run(items, concurrency, step, browser=browser)

    return run_async(go())


def check_selectors_shared(settings: Settings, key: str, base_url: str) -> Any:
    """`check_selectors` with the session's Chromium (a context of its own)."""
    from bots.sweep.selectorcheck import check_selectors

    async def go() -> Any:
        return await check_selectors(settings, key, base_url, browser=await shared_browser())

    return run_async(go())


def sweep_rows(
    settings: Settings,
    portal: Portal,
    rows: list[Any],
    concurrency: int = 2,
    step: Any = None,
    own_browser: bool = False,
) -> tuple[Any, Any]:
    """Seed `rows`, sweep them without Prefect, return (sweep, summary)."""
    from bots.sweep.runner import Sweep, SweepDeps

    seed_worklist(settings, rows)
    sweep = Sweep(SweepDeps.load(settings), base_urls={"bluestem": portal.url})
    return sweep, run_sweep(sweep, sweep.due(), concurrency, step, own_browser)


# -- one local Prefect server for the session ---------------------------------------------------
class PrefectServerBoot:
    """bots.orchestration.serve.start_local_server (every service, the scheduler looking every 2 s)
    with a home and database of its own, started on a background thread; this process's
    environment is left as it is."""

    def __init__(self) -> None:
        from bots.orchestration.serve import start_local_server

        # Environment and settings read here, on the main thread, before any test changes them.
        self.home = Path(tempfile.mkdtemp(prefix="rcmbot-test-prefect-server-"))
        env = {
            **os.environ,
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2",
            "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{self.home / 'prefect.db'}",
        }
        env.pop("PREFECT_API_URL", None)
        settings = Settings(
            project_root=ROOT, state_dir=self.home, prefect={"home": self.home, "serve_port": free_port()}
        )
        self.started: concurrent.futures.Future[tuple[subprocess.Popen[bytes], str]] = concurrent.futures.Future()
        self._done = threading.Event()

        def run() -> None:
            try:
                self.started.set_result(start_local_server(settings, env))
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for the URL
                self.started.set_exception(exc)
            # The server dies with the thread that started it (PR_SET_PDEATHSIG): keep this one.
            self._done.wait()

        threading.Thread(target=run, name="prefect-server", daemon=True).start()

    def url(self) -> str:
        return self.started.result()[1]

    def stop(self) -> None:
        if self.started.exception() is None:  # waits for a start under way
            server = self.started.result()[0]
            server.terminate()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
        self._done.set()
        shutil.rmtree(self.home, ignore_errors=True)


_prefect_boot: PrefectServerBoot | None = None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Boot the session's Prefect server as soon as a collected test needs it: its ~10 s start
    then overlaps the tests that run first."""
    global _prefect_boot
    # A pytest-xdist worker collects every test but runs only some: it starts one when first asked.
    if (
        WORKER == "main"
        and _prefect_boot is None
        and not session.config.option.collectonly
        and any("prefect_server" in getattr(i, "fixturenames", ()) for i in session.items)
    ):
        _prefect_boot = PrefectServerBoot()


def pytest_sessionfinish() -> None:
    if _prefect_boot is not None:
        _prefect_boot.stop()


@pytest.fixture(scope="session")
def prefect_server() -> str:
    """The API URL of the session's local Prefect server, for the tests that need a real one:
    give it to a child as PREFECT_API_URL, or in process use prefect.settings.temporary_settings."""
    global _prefect_boot
    _prefect_boot = _prefect_boot or PrefectServerBoot()
    return _prefect_boot.url()


@pytest.fixture
def on_prefect_server(prefect_server: str) -> Iterator[str]:
    """Prefect in this process talks to the session's Prefect server for the test (not embedded)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: prefect_server}):
        yield prefect_server


# -- a webhook receiver on loopback (alerts) ------------------------------------------------------
WAIT_S = 10.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Hooks:
    """A webhook receiver: what was POSTed, in order. /fail answers 500, anything else 204."""

    url: str
    received: list[Received] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def reset(self) -> None:
        with self.changed:
            self.received.clear()

    def wait(self, count: int) -> list[Received]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.received) >= count, WAIT_S), self.received
            return list(self.received)


@pytest.fixture(scope="session")
def hooks_server() -> Iterator[Hooks]:
    hooks: Hooks | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            assert hooks is not None
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
            with hooks.changed:
                hooks.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                hooks.changed.notify_all()
            self.send_response(500 if self.path.startswith("/fail") else 204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hooks = Hooks(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    yield hooks
    server.shutdown()
    server.server_close()
    thread.join(WAIT_S)


@pytest.fixture
def hooks(hooks_server: Hooks) -> Hooks:
    hooks_server.reset()
    return hooks_server
