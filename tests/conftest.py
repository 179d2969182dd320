"""Shared fixtures: a simulated portal on loopback, settings in a temporary state directory,
Chromium found the way rcmbot finds it, Prefect offline in a state directory of its own."""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pyotp
import pytest

ROOT = Path(__file__).resolve().parent.parent

# Prefect reads its environment at import: set it before anything imports Prefect.
os.environ.setdefault("RCMBOT_PREFECT__HOME", str(ROOT / ".rcmbot" / "test-prefect"))
from bots.core.settings import Settings  # noqa: E402
from bots.orchestration.prefect_env import configure_prefect  # noqa: E402

configure_prefect(Settings(project_root=ROOT))

from bots.browser.launch import find_browser, launch_args  # noqa: E402
from bots.sim.dataset import Dataset, build_dataset  # noqa: E402
from bots.sim.portal import PortalConfig  # noqa: E402
from bots.sim.server import PortalServer  # noqa: E402

T = TypeVar("T")
SEED, CLAIMS = 7, 200


def run_async(coro: Awaitable[T]) -> T:
    """Run a coroutine on a fresh thread: pytest-playwright's sync API owns the main thread's loop."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - re-raised below on the test's thread
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    return {"executable_path": str(find_browser(Settings().browser)), "args": launch_args()}


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    return build_dataset(SEED, CLAIMS)


class Portal:
    """A running simulated portal plus the credentials of its bot user."""

    def __init__(self, tmp: Path, **config: Any) -> None:
        self.username, self.password = "test-bot", secrets.token_urlsafe(12)
        self.totp_secret = pyotp.random_base32()
        self.server = PortalServer(PortalConfig(db_path=tmp / "portal.db", seed=SEED, claims=CLAIMS, **config))
        self.server.start()
        self.server.add_user(self.username, self.password, self.totp_secret)

    @property
    def url(self) -> str:
        return self.server.url

    def env(self) -> dict[str, str]:
        return {
            "RCMBOT_BLUESTEM_USERNAME": self.username,
            "RCMBOT_BLUESTEM_PASSWORD": self.password,
            "RCMBOT_BLUESTEM_TOTP_SECRET": self.totp_secret,
        }


@pytest.fixture(scope="session")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    p = Portal(tmp_path_factory.mktemp("portal"))
    yield p
    p.server.stop()


@pytest.fixture
def make_portal(tmp_path: Path) -> Iterator[Any]:
    """A portal of the test's own, for settings such as a short idle timeout."""
    started: list[Portal] = []

    def make(**config: Any) -> Portal:
        started.append(Portal(tmp_path / f"portal{len(started)}", **config))
        return started[-1]

    yield make
    for p in started:
        p.server.stop()


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


def seed_worklist(settings: Settings, rows: list[Any]) -> None:
    """Import data-set rows through the real CSV path."""
    from bots.sim.dataset import write_worklist_csv
    from bots.worklist.csvio import read_worklist_csv
    from bots.worklist.store import WorklistStore

    csv_path = settings.state_path / "worklist.csv"
    write_worklist_csv(rows, csv_path)
    WorklistStore(settings.worklist_url).upsert(read_worklist_csv(csv_path))


def sweep_rows(
    settings: Settings, portal: Portal, rows: list[Any], concurrency: int = 2, step: Any = None
) -> tuple[Any, Any]:
    """Seed `rows`, sweep them without Prefect, return (sweep, summary)."""
    from bots.sweep.runner import Sweep

    seed_worklist(settings, rows)
    sweep = Sweep(settings, base_urls={"bluestem": portal.url})
    summary = run_async(sweep.run(sweep.due(), concurrency, step))
    return sweep, summary
