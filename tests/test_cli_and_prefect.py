"""End to end through the real command line: the demo's acceptance checks, prefect.yaml's
deployments, and a schedule firing under `rcmbot serve`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from bots.core.settings import Settings
from bots.orchestration.deployments import load_deployments
from bots.worklist.store import WorklistStore
from tests.conftest import ROOT, seed_worklist

RCMBOT = [sys.executable, "-m", "bots.cli"]


def rcmbot(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RCMBOT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCMBOT_BLUESTEM_")}
    env.update(RCMBOT_STATE_DIR=str(tmp_path / "state"), PREFECT_API_URL="")
    env.pop("PREFECT_API_URL")
    return env


def test_every_cli_command_has_help() -> None:
    for cmd in (
        ["--help"],
        ["demo", "--help"],
        ["sweep", "--help"],
        ["serve", "--help"],
        ["portal", "serve", "--help"],
        ["selectors", "check", "--help"],
        ["bench", "--help"],
        ["worklist", "import", "--help"],
        ["worklist", "export", "--help"],
        ["worklist", "show", "--help"],
        ["evidence", "list", "--help"],
        ["evidence", "verify", "--help"],
    ):
        out = subprocess.run([*RCMBOT, *cmd], cwd=ROOT, capture_output=True, text=True)
        assert out.returncode == 0 and "usage: rcmbot" in out.stdout, cmd


def test_prefect_yaml_deployments_are_valid() -> None:
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    deployments = load_deployments(ROOT / "prefect.yaml", ROOT)
    assert len(deployments) == len(spec["deployments"]) >= 1
    for dep, raw in zip(deployments, spec["deployments"], strict=True):
        assert dep.name == raw["name"] and dep.parameters == raw["parameters"]
        assert dep.schedules and all(s.schedule.timezone for s in dep.schedules)


def test_bad_prefect_yaml_names_the_deployment(tmp_path) -> None:
    from bots.core.errors import ConfigError

    bad = tmp_path / "prefect.yaml"
    bad.write_text(
        "deployments:\n  - name: x\n    entrypoint: flows/claim_status_sweep.py:claim_status_sweep\n"
        "    parameters: {concurrency: many}\n"
    )
    with pytest.raises(ConfigError, match="deployments.0.parameters"):
        load_deployments(bad, ROOT)


def test_bad_selector_map_stops_a_sweep_before_it_starts(tmp_path, dataset, portal) -> None:
    env = {**base_env(tmp_path), **portal.env()}
    settings = Settings(project_root=ROOT, state_dir=tmp_path / "state")
    seed_worklist(settings, dataset.worklist[:2])
    bad_map = tmp_path / "bad.yaml"
    bad_map.write_text((ROOT / "selectors/bluestem.yaml").read_text().replace("  mfa.submit:\n", "  mfa.sbumit:\n"))
    registry = tmp_path / "portals.yaml"
    registry.write_text((ROOT / "config/portals.yaml").read_text().replace("selectors/bluestem.yaml", str(bad_map)))
    out = rcmbot("sweep", env={**env, "RCMBOT_PORTALS_FILE": str(registry)}, timeout=120)
    assert out.returncode == 2
    assert f"rcmbot: error: {bad_map}:" in out.stderr and "elements.mfa.submit" in out.stderr
    assert "Traceback" not in out.stderr and "Flow run" not in out.stderr


@pytest.mark.slow
def test_demo_acceptance(tmp_path) -> None:
    env = base_env(tmp_path)
    out = rcmbot("demo", "--json", "--claims", "60", env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert list(summary) == ["claims", "checked", "by_category", "by_portal", "evidence_files", "errors", "seconds"]
    assert summary["by_portal"] == {"bluestem": 30, "harbor": 12, "juniper": 18}  # two payer portals + clearinghouse
    assert summary["claims"] == summary["checked"] == 60 and summary["errors"] == 0
    assert {"not_found", "ambiguous", "unmapped", "F1", "F2"} <= set(summary["by_category"])
    assert "Traceback" not in out.stderr

    demo = tmp_path / "state" / "demo"
    store = WorklistStore(f"sqlite:///{demo / 'worklist.db'}")
    from bots.evidence import open_evidence_store

    evidence = open_evidence_store(demo / "evidence")
    html_of = {
        r.item_id: (demo / "evidence" / r.path).read_text() for r in evidence.records() if r.media_type == "text/html"
    }
    for item in store.items():
        assert item.outcome in ("status", "not_found", "ambiguous", "unmapped")
        if item.outcome in ("status", "unmapped"):
            assert item.payer_claim_number in html_of[item.id]
            # A payer portal's own words; the clearinghouse's 277 category description.
            shown = item.status_text.split(";")[0].split(" ", 1)[1] if item.payer_id in ("MDWST", "PRAIR") \
                else item.status_text
            assert shown in html_of[item.id]
        else:
            assert item.id in html_of

    state = ["--state-dir", str(demo)]
    assert rcmbot(*state, "evidence", "verify", env=env).returncode == 0
    victim = next(r for r in evidence.records() if r.media_type == "image/png")
    path = demo / "evidence" / victim.path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    bad = rcmbot(*state, "evidence", "verify", env=env)
    assert bad.returncode == 1 and f"altered: {path}" in bad.stdout

    shown = rcmbot(*state, "worklist", "show", "--limit", "5", env=env)
    assert shown.returncode == 0 and "next action" in shown.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_schedule_fires_under_serve(tmp_path, make_portal, dataset, monkeypatch) -> None:
    portal = make_portal()
    for name, value in portal.env().items():
        monkeypatch.setenv(name, value)
    # The server gets a Prefect home of its own, and a scheduler that looks every 2 s.
    env = {k: v for k, v in base_env(tmp_path).items() if not k.startswith("PREFECT_")}
    env.update(portal.env(), RCMBOT_PREFECT__HOME=str(tmp_path / "prefect"),
               PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2", PREFECT_RUNNER_POLL_FREQUENCY="2")
    settings = Settings(project_root=ROOT, state_dir=tmp_path / "state")
    seed_worklist(settings, dataset.worklist[:3])
    prefect_yaml = tmp_path / "prefect.yaml"
    prefect_yaml.write_text(yaml.safe_dump({"deployments": [{
        "name": "sweep-every-15-seconds", "entrypoint": "flows/claim_status_sweep.py:claim_status_sweep",
        "parameters": {"concurrency": 1, "portal_urls": {"bluestem": portal.url}},
        "schedules": [{"interval": 15, "timezone": "America/Chicago"}]}]}))
    log = tmp_path / "serve.log"
    with open(log, "w") as out:  # a file, not a pipe nobody reads
        proc = subprocess.Popen([*RCMBOT, "serve", "--prefect-yaml", str(prefect_yaml), "--port", str(free_port())],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    store = WorklistStore(settings.worklist_url)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if all(store.history(i.id) for i in store.items()):
                break
            time.sleep(2)
        assert proc.poll() is None, log.read_text()
        runs = {h.flow_run_id for item in store.items() for h in store.history(item.id)}
        assert runs and None not in runs, "a scheduled flow run must check the worklist"
        # Stop while idle: a run cancelled mid-sweep makes Prefect's engine print its own
        # TerminationSignal traceback (README, known limits).
        while any("prefect.engine" in " ".join(c.cmdline()) for c in psutil.Process(proc.pid).children()):
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    output = log.read_text()
    assert proc.returncode == 0 and "Traceback" not in output, output[-3000:]
