"""The installable package: a wheel built from this checkout and installed, not editable, into a
fresh virtual environment gives a working `rcmbot`, run from a project folder outside the
repository (its config/, selectors/, flows/ and prefect.yaml, as Prefect and dbt projects have).

One wheel and one virtual environment serve the module. The environment borrows the project
venv's dependencies through a `.pth` path line instead of installing them again: a path line
only adds a directory to sys.path and does not run the `.pth` files inside it, so the
checkout's editable-install finder stays inactive and `bots` comes from the wheel alone."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
import yaml

from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.xdist_group("wheel")  # one wheel and venv, on one pytest-xdist worker

PROJECT = ("config", "selectors", "flows", "prefect.yaml")
# portal -> (its name, shown on every page; static files its pages load)
PORTALS = {
    "bluestem": ("Bluestem Health Plan", ["/static/portal.css"]),
    "juniper": ("Juniper Health", ["/static/juniper.css", "/static/juniper.js"]),
    "harbor": ("Harbor Clearinghouse", ["/static/harbor.css"]),
    "cedar": ("Cedar Valley Health", []),
    "sagebrush": ("Sagebrush Benefit Partners", ["/static/sagebrush.css"]),
}
GUIDE_BLOCK = re.compile(r"```yaml\n# file: (\S+)[^\n]*\n(.*?)```", re.S)
START_DEADLINE_S = 30.0


@dataclass(frozen=True)
class Installed:
    tmp: Path
    src: Path  # the copy of the checkout the wheel was built from
    wheel: Path
    venv: Path
    python: Path
    rcmbot: Path
    project: Path  # a project folder outside the repository
    env: dict[str, str]

    def run(self, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in args], cwd=cwd, env=self.env, capture_output=True, text=True, timeout=120
        )


def venv_path(venv: Path, name: str) -> Path:
    return Path(sysconfig.get_path(name, scheme="venv", vars={"base": str(venv), "platbase": str(venv)}))


def checked(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def project_folder(where: Path) -> Path:
    """The repository's project files, plus the portals docs/onboarding.md onboards (Cedar, Sagebrush)."""
    for name in PROJECT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, where / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, where / name)
    registry = yaml.safe_load((where / "config/portals.yaml").read_text())
    for name, text in GUIDE_BLOCK.findall((ROOT / "docs/onboarding.md").read_text()):
        if name == "config/portals.yaml":
            registry["portals"] |= yaml.safe_load(text)
        else:
            (where / name).write_text(text)
    (where / "config/portals.yaml").write_text(yaml.safe_dump(registry, sort_keys=False))
    return where


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("wheel")
    # Built from a copy: building in place leaves build/ and rcmbot.egg-info/ in the checkout, and
    # a stale build/lib would carry modules deleted since into the wheel.
    src = tmp / "src"
    shutil.copytree(ROOT / "bots", src / "bots", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    checked(
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                str(src),
                "--no-deps",
                "--no-build-isolation",
                "--disable-pip-version-check",
                "-q",
                "-w",
                str(tmp / "dist"),
            ],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=120,
        )
    )
    [wheel] = (tmp / "dist").glob("rcmbot-*.whl")

    venv = tmp / "venv"
    checked(
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(venv)], capture_output=True, text=True, timeout=120
        )
    )
    python = venv_path(venv, "scripts") / "python"
    # This pip installs into the new environment (seeding one of its own costs seconds), and does
    # so before the dependencies become visible there, so it sees no other rcmbot.
    checked(
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(python),
                "install",
                "--no-deps",
                "--no-index",
                "--disable-pip-version-check",
                "-q",
                str(wheel),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    )
    (venv_path(venv, "purelib") / "rcmbot-project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RCMBOT_", "PREFECT_")) and k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    }
    env["PATH"] = os.pathsep.join([str(python.parent), env.get("PATH", "")])
    env["RCMBOT_STATE_DIR"] = str(tmp / "state")
    (tmp / "project").mkdir()
    return Installed(tmp, src, wheel, venv, python, python.parent / "rcmbot", project_folder(tmp / "project"), env)


@pytest.fixture
def outside(installed: Installed, tmp_path: Path) -> Path:
    """An empty working directory outside the repository."""
    assert not tmp_path.is_relative_to(ROOT)
    return tmp_path


def test_the_wheel_holds_the_whole_package_and_nothing_else(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--", "bots"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    data = {
        p for p in tracked if p and not p.endswith(".py") and "__pycache__" not in p and (installed.src / p).is_file()
    }
    modules = {p.relative_to(installed.src).as_posix() for p in (installed.src / "bots").rglob("*.py")}
    assert data and not (data | modules) - names, f"missing from the wheel: {sorted((data | modules) - names)}"
    assert {n.split("/")[0] for n in names} == {"bots", installed.wheel.name.split("-py3")[0] + ".dist-info"}
    assert not [n for n in names if n.endswith(".pyc")]


def test_bots_is_imported_from_the_wheel_not_the_checkout(installed: Installed, outside: Path) -> None:
    found = checked(installed.run(installed.python, "-c", "import bots; print(bots.__file__)", cwd=outside))
    where = Path(found.stdout.strip())
    assert where.is_relative_to(installed.venv) and not where.is_relative_to(ROOT)


def test_rcmbot_help(installed: Installed, outside: Path) -> None:
    result = checked(installed.run(installed.rcmbot, "--help", cwd=outside))
    assert "usage: rcmbot" in result.stdout.lower()


def credentials(entry: dict[str, Any]) -> dict[str, str]:
    """Values for the environment variables the registry entry names."""
    values = {"totp_secret_env": pyotp.random_base32()}
    return {var: values.get(ref, secrets.token_urlsafe(12)) for ref, var in entry["credentials"].items()}


def wait_until_answering(key: str, url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while True:
        try:
            httpx.get(f"{url}/healthz", timeout=2)
            return
        except httpx.TransportError:
            pass
        try:
            proc.wait(timeout=0.1)  # the pause between attempts, and how a crash shows
        except subprocess.TimeoutExpired:
            assert time.monotonic() < deadline, f"no answer in {START_DEADLINE_S} s:\n{log.read_text()}"
            continue
        pytest.fail(f"`rcmbot portal serve {key}` exited {proc.returncode}:\n{log.read_text()}")


@pytest.fixture(scope="module")
def served(installed: Installed) -> Iterator[dict[str, str]]:
    """`rcmbot portal serve <key>` from the project folder for every portal, started together
    (each seeds its own database); key -> URL once all answer. Each must stop gracefully."""
    registry = yaml.safe_load((installed.project / "config/portals.yaml").read_text())
    procs: dict[str, tuple[subprocess.Popen[bytes], str, Path]] = {}
    try:
        for key in PORTALS:
            port, log = free_port(), installed.tmp / f"serve-{key}.log"
            with log.open("w") as out:
                procs[key] = (
                    subprocess.Popen(
                        [installed.rcmbot, "portal", "serve", key, "--port", str(port)],
                        cwd=installed.project,
                        env=installed.env | credentials(registry["portals"][key]),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    ),
                    f"http://127.0.0.1:{port}",
                    log,
                )
        for key, (proc, url, log) in procs.items():
            wait_until_answering(key, url, proc, log)
        yield {key: url for key, (_, url, _) in procs.items()}
        for proc, _, _ in procs.values():
            proc.terminate()
        for proc, _, log in procs.values():
            # uvicorn shuts down gracefully, then re-raises the signal it caught: killed by SIGTERM
            assert proc.wait(timeout=15) == -signal.SIGTERM, log.read_text()
            assert "Application shutdown complete" in log.read_text()
    finally:
        for proc, _, _ in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.parametrize("key", list(PORTALS))
def test_an_installed_rcmbot_serves_each_portal_from_a_project_folder(served: dict[str, str], key: str) -> None:
    url = served[key]
    name, assets = PORTALS[key]
    page = httpx.get(f"{url}/", follow_redirects=True, timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), page.text
    assert name in page.text and "<form" in page.text, page.text  # the portal's sign-in form
    for asset in assets:
        assert httpx.get(f"{url}{asset}", timeout=10).status_code == 200, asset


def test_an_installed_rcmbot_migrates_an_empty_database(installed: Installed) -> None:
    state = installed.tmp / "db-state"
    checked(installed.run(installed.rcmbot, "--state-dir", state, "db", "upgrade", cwd=installed.project))
    with sqlite3.connect(state / "worklist.db") as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"worklist_items", "status_history", "service_lines", "alembic_version"} <= tables
