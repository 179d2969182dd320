"""End to end through the real command line: the demo's acceptance checks, prefect.yaml's
deployments, and a schedule firing under `rcmbot serve`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from typing import Any

import psutil
import pytest
import yaml

from bots.cli import app
from bots.core.errors import InputError
from bots.core.settings import Settings
from bots.orchestration.deployments import load_deployments
from bots.worklist.store import WorklistStore
from tests.conftest import RCMBOT, ROOT, base_env, off_the_main_thread, rcmbot_in_process, seed_worklist

# Today's commands and their options: a contract (README, scripts, schedules depend on them).
CLI_CONTRACT: dict[tuple[str, ...], set[str]] = {
    (): {"--state-dir"},
    ("demo",): {"--json", "--claims", "--concurrency"},
    ("chaos",): {"--claims", "--kills", "--fault-rate", "--json"},
    ("sweep",): {"--limit", "--concurrency", "--portal-url", "--json"},
    ("serve",): {"--prefect-yaml", "--port"},
    ("portal", "serve"): {"portal", "--port", "--layout"},
    ("portal", "validate"): {"portal", "--json"},
    ("portal", "resume"): {"portal", "--json"},
    ("selectors", "check"): {"portal", "--portal-url", "--json"},
    ("bench",): {"--quick", "--claims", "--concurrency", "--mode", "--latency-ms", "--profile", "--json"},
    ("worklist", "import"): {"file"},
    ("worklist", "export"): {"--out"},
    ("worklist", "show"): {"--id", "--due", "--limit"},
    ("evidence", "list"): {"--item", "--limit"},
    ("evidence", "verify"): {"--since-checkpoint", "--public-key", "--json"},
    ("evidence", "checkpoint"): set(),
    ("evidence", "public-key"): {"--out"},
    ("evidence", "rotate-key"): set(),
    ("evidence", "export"): {"--out", "--claim", "--item", "--from", "--to"},
    ("evidence", "verify-package"): {"package", "--public-key", "--json"},
    ("evidence", "open"): {"ident"},
    ("db", "upgrade"): set(),
    ("console",): {"--host", "--port"},
    ("users", "add"): {"name", "--role", "--totp", "--password-stdin"},
    ("users", "disable"): {"name"},
    ("users", "enable"): {"name"},
    ("users", "reset-password"): {"name", "--password-stdin"},
    ("users", "list"): set(),
    ("seed-scale",): {"--tasks", "--evidence", "--json"},
    ("bench", "console"): {"--requests", "--json"},
    ("backup",): {"dest"},
    ("restore",): {"source"},
    ("bench", "evidence"): {"--files", "--records", "--plain", "--rounds", "--json"},
    ("alerts", "list"): {"--open", "--limit", "--json"},
    ("alerts", "test"): {"--json"},
}


cli = rcmbot_in_process


def test_every_command_and_option_of_the_cli_stays() -> None:
    import typer

    root = typer.main.get_command(app)

    def command(path: tuple[str, ...]) -> Any:
        cmd = root
        for name in path:
            cmd = cmd.commands[name]  # type: ignore[attr-defined]
        return cmd

    groups = {path[:-1] for path in CLI_CONTRACT if path}
    for path, options in CLI_CONTRACT.items():
        cmd = command(path)
        names = {p.opts[0] if p.opts[0].startswith("--") else p.name for p in cmd.params} - {"--help"}
        assert names == options, path
        code, out, _ = cli(*path, "--help")
        assert code == 0 and "Usage: rcmbot" in out, path
        for option in options:
            assert option in out or option.upper() in out or option in out.lower(), (path, option)
    assert set(command(()).commands) == {
        "console",
        "users",
        "seed-scale",
        "demo",
        "sweep",
        "serve",
        "portal",
        "selectors",
        "bench",
        "worklist",
        "evidence",
        "db",
        "backup",
        "restore",
        "alerts",
        "chaos",
    }
    for group in groups - {()}:
        assert set(command(group).commands) == {p[-1] for p in CLI_CONTRACT if p[:-1] == group}, group
    from bots.cli.bench import Mode
    from bots.cli.portal import Layout, SimPortal

    assert [p.value for p in SimPortal] == ["bluestem", "cedar", "juniper", "harbor", "sagebrush"]
    assert [m.value for m in Mode] == ["rcmbot", "plain", "naive"]
    assert [v.value for v in Layout] == ["normal", "drift"]


def test_usage_and_input_errors_exit_2_with_a_message() -> None:
    code, _, err = cli("no-such-command")
    assert code == 2 and "rcmbot: error: No such command 'no-such-command'." in err
    code, _, err = cli("worklist", "show", "--limit", "many")
    assert code == 2 and "--limit" in err
    code, _, err = cli("sweep", "--portal-url", "bluestem")
    assert (code, err.strip()) == (
        2,
        "rcmbot: error: --portal-url 'bluestem': expected PORTAL=URL, e.g. bluestem=http://127.0.0.1:8710",
    )
    code, _, err = cli("sweep", "--portal-url", "nosuch=http://127.0.0.1:9")
    assert code == 2 and "--portal-url nosuch: no such portal" in err
    code, _, err = cli("worklist", "show", "--limit", "-1")
    assert code == 2 and "--limit" in err
    code, _, err = cli("--state-dir", str(ROOT / "pyproject.toml"), "demo")
    assert (code, err.strip()) == (2, f"rcmbot: error: --state-dir {ROOT / 'pyproject.toml'}: not a directory")


def test_prefect_yaml_deployments_are_valid() -> None:
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    deployments = off_the_main_thread(load_deployments, ROOT / "prefect.yaml", ROOT)
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


def test_bad_selector_map_stops_a_sweep_before_it_starts(tmp_path, dataset, portal, monkeypatch) -> None:
    for name, value in portal.env().items():
        monkeypatch.setenv(name, value)
    state = tmp_path / "state"
    seed_worklist(Settings(project_root=ROOT, state_dir=state, evidence_dir=state / "evidence"), dataset.worklist[:2])
    bad_map = tmp_path / "bad.yaml"
    bad_map.write_text((ROOT / "selectors/bluestem.yaml").read_text().replace("  mfa.submit:\n", "  mfa.sbumit:\n"))
    registry = tmp_path / "portals.yaml"
    registry.write_text((ROOT / "config/portals.yaml").read_text().replace("selectors/bluestem.yaml", str(bad_map)))
    monkeypatch.setenv("RCMBOT_PORTALS_FILE", str(registry))
    code, _, err = cli("--state-dir", str(state), "sweep")
    assert code == 2
    assert f"rcmbot: error: {bad_map}:" in err and "elements.mfa.submit" in err
    assert "Traceback" not in err and "Flow run" not in err


def test_a_database_older_than_the_code_names_db_upgrade(tmp_path, monkeypatch) -> None:
    from bots.worklist.db import head_revision

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    monkeypatch.setenv("RCMBOT_DATABASE_URL", url)  # not embedded: never migrated behind the user's back
    state = ["--state-dir", str(tmp_path / "state")]
    code, _, err = cli(*state, "worklist", "show")
    assert code == 2 and "has no tables yet: run `rcmbot db upgrade`" in err
    code, out, _ = cli(*state, "db", "upgrade")
    assert code == 0 and f"upgraded from empty to {head_revision()}" in out
    assert cli(*state, "db", "upgrade")[1].endswith(f"already at {head_revision()}\n")
    assert cli(*state, "worklist", "show")[0] == 0
    with WorklistStore(url).engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'ffff'")
    code, _, err = cli(*state, "worklist", "show")
    assert code == 2 and "at revision ffff, newer than this rcmbot knows" in err


def test_a_database_that_cannot_be_opened_is_named_without_its_password(tmp_path, monkeypatch) -> None:
    (tmp_path / "garbage.db").write_text("not a database")
    for url, problem in (
        (f"sqlite:///{tmp_path / 'garbage.db'}", "file is not a database"),
        ("bogus://rcm:hunter2@127.0.0.1/db", "not a database URL SQLAlchemy can open"),
        ("postgresql://rcm:hunter2@127.0.0.1:1/db", "needs the driver psycopg2"),
    ):
        monkeypatch.setenv("RCMBOT_DATABASE_URL", url)
        code, _, err = cli("--state-dir", str(tmp_path / "state"), "worklist", "show")
        assert code == 2 and err.startswith("rcmbot: error: ") and problem in err, err
        assert "hunter2" not in err and "Traceback" not in err


def test_the_demo_empties_only_a_state_directory_it_made(tmp_path) -> None:
    from bots.orchestration.demo import MARKER, fresh_state_dir

    made = tmp_path / "made"
    fresh_state_dir(made)
    (made / "evidence").mkdir()
    fresh_state_dir(made)  # its own: emptied
    assert sorted(p.name for p in made.iterdir()) == [MARKER]
    legacy = tmp_path / "legacy"  # made by a demo before the marker existed
    (legacy / "evidence").mkdir(parents=True)
    (legacy / "worklist.db").write_text("")
    fresh_state_dir(legacy)
    assert sorted(p.name for p in legacy.iterdir()) == [MARKER]
    (legacy / MARKER).unlink()
    (legacy / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="did not make"):
        fresh_state_dir(legacy)
    assert (legacy / "notes.txt").read_text() == "mine"


def test_output_piped_into_a_reader_that_stops_early_is_not_an_error(tmp_path) -> None:
    state = tmp_path / "state"
    seed_worklist(Settings(project_root=ROOT, state_dir=state), [])
    for i in range(3):  # a few hundred lines, more than `head -1` reads
        rows = "".join(f"BSTM1,PA{i}{n:05d},M{n:07d},2026-09-01,10.00\n" for n in range(200))
        (tmp_path / "wl.csv").write_text("payer_id,account_number,member_id,dos_from,billed\n" + rows)
        assert cli("--state-dir", str(state), "worklist", "import", str(tmp_path / "wl.csv"))[0] == 0
    command = " ".join([*RCMBOT, "--state-dir", str(state), "worklist", "export", "|", "head", "-1"])
    out = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=ROOT, capture_output=True, text=True)
    assert (out.returncode, out.stderr) == (0, "") and out.stdout.startswith("id,payer_id,")


@pytest.fixture
def restore_environ() -> Any:
    """The demo hands its portals' fresh credentials to the registry through the environment."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.slow
def test_demo_acceptance(tmp_path, restore_environ) -> None:
    demo = tmp_path / "demo"
    code, out, err = cli("--state-dir", str(demo), "demo", "--json", "--claims", "20")
    assert code == 0, err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    keys = ["claims", "checked", "by_category", "by_portal", "evidence_files", "errors", "seconds", "review_tasks"]
    assert list(summary) == keys
    # a review task for each claim a person must decide on: coding denials, unmapped, ambiguous
    store = WorklistStore(f"sqlite:///{demo / 'worklist.db'}")
    needs_person = [i for i in store.items() if i.outcome in ("unmapped", "ambiguous") or i.carc_codes]
    assert 0 < summary["review_tasks"] <= len(needs_person)
    assert summary["by_portal"] == {"bluestem": 10, "harbor": 4, "juniper": 6}  # two payer portals + clearinghouse
    assert summary["claims"] == summary["checked"] == 20 and summary["errors"] == 0
    assert {"not_found", "ambiguous", "unmapped", "F1", "F2"} <= set(summary["by_category"])
    assert "Traceback" not in err

    from bots.evidence import open_evidence_store
    from bots.evidence.crypto import Keyring

    evidence = open_evidence_store(demo / "evidence", Keyring.load_or_create(demo / "keys" / "evidence-keys.json"))
    html_of = {r.item_id: evidence.read(r).decode() for r in evidence.records() if r.media_type == "text/html"}
    assert all(r.stored.key for r in evidence.records())  # the demo encrypts its evidence
    recorded_urls = " ".join(r.page_url for r in evidence.records())
    assert not [i.member_id for i in store.items() if i.member_id in recorded_urls]
    # and no snapshot shows a member ID or a patient's name (masked everywhere, links included)
    snapshots = "\n".join(evidence.read(r).decode() for r in evidence.records() if r.media_type == "text/html")
    shown = [i.id for i in store.items() for value in (i.member_id, i.patient_name) if value and value in snapshots]
    assert not shown
    for item in store.items():
        assert item.outcome in ("status", "not_found", "ambiguous", "unmapped")
        if item.outcome in ("status", "unmapped"):
            assert item.payer_claim_number in html_of[item.id]
            # A payer portal's own words; the clearinghouse's 277 category description.
            shown = (
                item.status_text.split(";")[0].split(" ", 1)[1]
                if item.payer_id in ("MDWST", "PRAIR")
                else item.status_text
            )
            assert shown in html_of[item.id]
        else:
            assert item.id in html_of

    state = ["--state-dir", str(demo)]
    assert cli(*state, "evidence", "verify")[0] == 0
    victim = next(r for r in evidence.records() if r.media_type == "image/png")
    assert victim.path is not None and victim.sha256 not in victim.path  # names do not reveal content
    path = demo / "evidence" / victim.path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    code, out, _ = cli(*state, "evidence", "verify")
    assert code == 1 and f"altered: {path}" in out

    code, out, _ = cli(*state, "worklist", "show", "--limit", "5")
    assert code == 0 and "next action" in out and "... 15 more (--limit)" in out

    # The demo empties only a state directory it made: a user's files are never deleted.
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    code, _, err = cli("--state-dir", str(mine), "demo", "--json", "--claims", "10")
    assert code == 2 and "did not make" in err and (mine / "notes.txt").read_text() == "keep me"


def flow_run_process(proc: psutil.Process) -> bool:
    """A flow run the runner started (False for a process that has just ended)."""
    try:
        return "prefect.engine" in " ".join(proc.cmdline())
    except psutil.NoSuchProcess:
        return False


@pytest.mark.slow
@pytest.mark.timeout(480)
@pytest.mark.xdist_group("prefect-server")  # the session's server, started once on one worker
def test_schedule_fires_under_serve(tmp_path, make_portal, dataset, prefect_server) -> None:
    portal = make_portal()
    # The session's Prefect server (its scheduler looks every 2 s); the state directory only as
    # an option, so the flow runs that serve starts must be handed it.
    env = {k: v for k, v in base_env(tmp_path).items() if not k.startswith(("PREFECT_", "RCMBOT_STATE"))}
    env.update(
        portal.env(),
        RCMBOT_PREFECT__HOME=str(tmp_path / "prefect"),
        PREFECT_API_URL=prefect_server,
        PREFECT_RUNNER_POLL_FREQUENCY="2",
        RCMBOT_CONSOLE__PORT="0",  # serve starts the console too: on any free port here
    )
    state = tmp_path / "elsewhere"
    settings = Settings(project_root=ROOT, state_dir=state, evidence_dir=state / "evidence")
    seed_worklist(settings, dataset.worklist[:3])
    prefect_yaml = tmp_path / "prefect.yaml"
    prefect_yaml.write_text(
        yaml.safe_dump(
            {
                "deployments": [
                    {
                        "name": "sweep-every-15-seconds",
                        "entrypoint": "flows/claim_status_sweep.py:claim_status_sweep",
                        "parameters": {"concurrency": 1, "portal_urls": {"bluestem": portal.url}},
                        "schedules": [{"interval": 15, "timezone": "America/Chicago"}],
                    }
                ]
            }
        )
    )
    log = tmp_path / "serve.log"
    with open(log, "w") as out:  # a file, not a pipe nobody reads
        proc = subprocess.Popen(
            [*RCMBOT, "--state-dir", str(state), "serve", "--prefect-yaml", str(prefect_yaml)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
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
        while any(flow_run_process(child) for child in psutil.Process(proc.pid).children()):
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    output = log.read_text()
    assert proc.returncode == 0 and "Traceback" not in output, output[-3000:]
    assert re.search(r"rcmbot console at http://127\.0\.0\.1:\d+", output), output[-3000:]


def test_the_summary_says_why_claims_were_not_checked_and_next_commands_find_the_same_data(
    settings, monkeypatch, capsys
) -> None:
    from bots.cli.sweep import print_summary
    from bots.sweep.runner import SweepSummary

    reason = "bluestem: in its maintenance window (sun 01:00-03:00 America/Chicago)"
    summary = SweepSummary(
        run_id="run-1",
        claims=60,
        by_category={"deferred": 60},
        evidence_files=0,
        errors=0,
        seconds=1.0,
        not_checked={"deferred": {reason: 60}},
    )
    monkeypatch.setenv("RCMBOT_STATE_DIR", "/tmp/an ob/state")  # given for the sweep alone
    print_summary(summary.as_dict(), settings, "")
    out = capsys.readouterr().out
    assert "Checked 0 of 60 claims" in out
    assert f"Not checked, deferred to the next sweep:\n     60  {reason}\n" in out
    commands = out.split("Where to look next:\n")[1].splitlines()
    assert len(commands) == 4 and all(c.startswith("  RCMBOT_STATE_DIR='/tmp/an ob/state' ") for c in commands)
