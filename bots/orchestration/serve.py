"""`rcmbot serve`: the unattended mode on one machine. An embedded Prefect server runs no
schedules, so this starts a local Prefect server on loopback (SQLite, with its UI) unless
PREFECT_API_URL points at one, then serves prefect.yaml's deployments so their schedules fire."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bots.core.logs import get_logger
from bots.core.settings import Settings

log = get_logger(__name__)


def _die_with_parent() -> None:
    """In the child: get SIGTERM when rcmbot dies, however it dies (Linux prctl)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def start_local_server(settings: Settings) -> subprocess.Popen[bytes]:
    port = settings.prefect.serve_port
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_UI_ENABLED": "true", "PREFECT_API_URL": url}
    log_path = settings.prefect_home / "server.log"
    with open(log_path, "ab") as server_log:  # never a pipe: an unread pipe fills and blocks the server
        proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=server_log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
        )
    deadline = time.monotonic() + settings.prefect.startup_timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the Prefect server exited during start ({log_path}):\n{tail}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                os.environ["PREFECT_API_URL"] = url
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise RuntimeError(f"the Prefect server did not answer within {settings.prefect.startup_timeout_s:.0f} s")


def serve(settings: Settings, prefect_yaml: Path) -> int:
    signal.signal(signal.SIGTERM, _raise_interrupt)  # a service manager's stop = Ctrl-C
    server = None
    if not os.environ.get("PREFECT_API_URL"):
        server = start_local_server(settings)
        print(f"Prefect server and UI: {os.environ['PREFECT_API_URL'].removesuffix('/api')}", flush=True)
    try:
        from prefect import serve as prefect_serve

        from bots.orchestration.deployments import load_deployments

        deployments = load_deployments(prefect_yaml, settings.project_root)
        print(f"serving {len(deployments)} deployment(s) from {prefect_yaml}; Ctrl-C stops", flush=True)
        # One sweep at a time on one machine: overlapping sweeps would work the same claims.
        prefect_serve(*deployments, print_starting_message=False, limit=1)
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
    return 0
