"""`rcmbot serve`: the unattended mode on one machine. An embedded Prefect server runs no
schedules, so this starts a local Prefect server on loopback (SQLite, with its UI) unless
PREFECT_API_URL points at one, then serves prefect.yaml's deployments so their schedules fire."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import psutil

from bots.core.logs import get_logger
from bots.core.settings import Settings
from bots.orchestration.prefect_env import EMBEDDED_SERVER

log = get_logger(__name__)
STOP_TIMEOUT_S = 20.0


def _die_with_parent() -> None:
    """In the child: get SIGTERM when rcmbot dies, however it dies (Linux prctl)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def start_local_server(settings: Settings, env: Mapping[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """A local Prefect server on loopback, once it answers: (its process, its API URL). `env`:
    the environment to start it in (default: this process's)."""
    port = settings.prefect.serve_port
    url = f"http://127.0.0.1:{port}/api"
    # A full server: every service (the scheduler above all), the UI, block types registered.
    server_env = {k: v for k, v in (os.environ if env is None else env).items() if k not in EMBEDDED_SERVER}
    server_env.update(PREFECT_UI_ENABLED="true", PREFECT_API_URL=url)
    log_path = settings.prefect_home / "server.log"
    with open(log_path, "ab") as server_log:  # never a pipe: an unread pipe fills and blocks the server
        proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=server_env,
            stdout=server_log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
    deadline = time.monotonic() + settings.prefect.startup_timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the Prefect server exited during start ({log_path}):\n{tail}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise RuntimeError(f"the Prefect server did not answer within {settings.prefect.startup_timeout_s:.0f} s")


def _run_deployments(deployments: list[Any], stop: threading.Event) -> None:
    """Serve on this thread's own loop until `stop` is set, then stop the runner properly.

    The Runner lives off the main thread on purpose: Prefect 3.8's runner installs a SIGTERM
    handler there that exits from inside the event loop and spills tracebacks; here signals
    stay with rcmbot, which stops the runner with an awaited astop()."""
    from prefect.runner import Runner

    # One sweep at a time on one machine: overlapping sweeps would work the same claims.
    runner = Runner(limit=1, pause_on_shutdown=True)

    async def main() -> None:
        for deployment in deployments:
            await runner.aadd_deployment(deployment)
        serving = asyncio.create_task(runner.start())
        while not stop.is_set() and not serving.done():
            await asyncio.sleep(0.2)
        if not serving.done():
            await runner.astop()
        # Runs in flight are cancelled by astop; do not wait on them forever.
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(serving, timeout=STOP_TIMEOUT_S)

    asyncio.run(main())


def flow_run_environment(settings: Settings) -> dict[str, str]:
    """The runner starts each flow run as a process of its own, which reads its settings from
    the environment: this invocation's project, state, evidence and database."""
    env = {"RCMBOT_PROJECT_ROOT": str(settings.project_root), "RCMBOT_STATE_DIR": str(settings.state_path)}
    if settings.evidence_dir is not None:
        env["RCMBOT_EVIDENCE_DIR"] = str(settings.evidence_path)
    if settings.database_url is not None:
        env["RCMBOT_DATABASE_URL"] = settings.database_url.get_secret_value()
    return env


def serve(settings: Settings, prefect_yaml: Path) -> int:
    signal.signal(signal.SIGTERM, _raise_interrupt)  # a service manager's stop = Ctrl-C
    os.environ.update(flow_run_environment(settings))
    server = None
    if not os.environ.get("PREFECT_API_URL"):
        server, os.environ["PREFECT_API_URL"] = start_local_server(settings)
        print(f"Prefect server and UI: {os.environ['PREFECT_API_URL'].removesuffix('/api')}", flush=True)
    stop = threading.Event()
    try:
        from bots.orchestration.deployments import load_deployments

        deployments = load_deployments(prefect_yaml, settings.project_root)
        thread = threading.Thread(target=_run_deployments, args=(deployments, stop), name="prefect-runner")
        thread.start()
        print(f"serving {len(deployments)} deployment(s) from {prefect_yaml}; Ctrl-C stops", flush=True)
        try:
            while thread.is_alive():
                thread.join(0.5)
        except KeyboardInterrupt:
            print("stopping: pausing schedules and ending runs in flight", flush=True)
            stop.set()
            thread.join(timeout=STOP_TIMEOUT_S + 5)
    finally:
        # End flow runs while the server can still record how they ended. The server itself
        # gets SIGTERM when this process exits (see _die_with_parent): it must outlive Prefect's
        # background threads here, which poll it until exit and print every failed attempt.
        _end_processes([p for p in psutil.Process().children() if server is None or p.pid != server.pid])
    return 0


def _end_processes(procs: list[psutil.Process]) -> None:
    for proc in procs:
        proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=STOP_TIMEOUT_S)
    for proc in alive:
        proc.kill()
