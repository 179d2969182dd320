"""The registry decides where each item goes and how hard a portal may be worked: routing,
the not-permitted rule, maintenance windows, terms pages reserved for a person, limits."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from structlog.testing import capture_logs

from bots.core.errors import ConfigError
from bots.core.models import FailureKind
from bots.core.ratelimit import RateLimiter
from bots.core.registry import Blocked, MaintenanceWindow, PortalRegistry
from bots.core.settings import Settings
from bots.sim.dataset import build_dataset
from bots.sweep.runner import Sweep, SweepDeps
from bots.worklist.store import WorklistStore
from tests.conftest import RCMBOT, ROOT, base_env, run_async, run_sweep, seed_worklist, sweep_rows

UTC = dt.UTC


def registry_variant(tmp_path: Path, **bluestem: Any) -> Path:
    """config/portals.yaml with the Bluestem entry changed, and without the clearinghouse as
    Bluestem's fallback (tests/test_portals.py covers that)."""
    data = yaml.safe_load((ROOT / "config/portals.yaml").read_text())
    data["portals"]["bluestem"].update(bluestem)
    data["portals"]["harbor"]["payer_ids"].remove("BSTM1")
    path = tmp_path / "portals.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_routes_to_the_payers_portal_else_says_why_not(tmp_path) -> None:
    noon = dt.datetime(2026, 11, 23, 18, 0, tzinfo=UTC)  # a Monday, 12:00 in Chicago
    registry = PortalRegistry.load(ROOT / "config/portals.yaml")
    assert registry.route("BSTM1", noon).portal == "bluestem"
    assert registry.route("MDWST", noon).portal == "harbor"  # no portal of its own: the clearinghouse
    broken = {"bluestem": Blocked("bluestem: broken", FailureKind.SELECTORS_BROKEN)}
    fallback = registry.route("BSTM1", noon, unusable=broken)
    assert (fallback.portal, fallback.reason) == ("harbor", None)
    unknown = registry.route("ZZZ99", noon)
    assert (unknown.portal, unknown.deferred) == (None, False) and "ZZZ99" in (unknown.reason or "")

    banned = PortalRegistry.load(registry_variant(tmp_path, automation_permitted=False)).route("BSTM1", noon)
    assert (banned.portal, banned.deferred) == (None, False)
    assert banned.reason == "bluestem: its terms of use do not permit automation"

    window = {"days": ["mon"], "start": "11:30", "end": "12:30"}
    down = PortalRegistry.load(registry_variant(tmp_path, maintenance=[window])).route("BSTM1", noon)
    assert (down.portal, down.deferred, down.failure) == (None, True, FailureKind.MAINTENANCE)
    assert down.reason == "bluestem: in its maintenance window (mon 11:30-12:30 America/Chicago)"


def test_maintenance_windows_use_the_portal_time_zone_and_cross_midnight() -> None:
    overnight = MaintenanceWindow(days=["sun"], start=dt.time(23, 0), end=dt.time(2, 0))
    chicago = (
        PortalRegistry.load(ROOT / "config/portals.yaml")
        .portals["bluestem"]
        .model_copy(update={"maintenance": [overnight]})
    )
    # Sunday 23:30 and Monday 01:30 in Chicago are inside; Monday 02:30 and Saturday 23:30 are not.
    assert chicago.maintenance_at(dt.datetime(2026, 11, 23, 5, 30, tzinfo=UTC))  # Sun 23:30 CST
    assert chicago.maintenance_at(dt.datetime(2026, 11, 23, 7, 30, tzinfo=UTC))  # Mon 01:30 CST
    assert not chicago.maintenance_at(dt.datetime(2026, 11, 23, 8, 30, tzinfo=UTC))  # Mon 02:30
    assert not chicago.maintenance_at(dt.datetime(2026, 11, 22, 5, 30, tzinfo=UTC))  # Sat 23:30


def test_registry_errors_name_file_line_and_key(tmp_path) -> None:
    path = registry_variant(tmp_path, max_concurrency=0)
    with pytest.raises(ConfigError) as err:
        PortalRegistry.load(path)
    assert str(path) in str(err.value) and "portals.bluestem.max_concurrency" in str(err.value)
    assert f":{_line(path, 'max_concurrency')}" in str(err.value)


def _line(path: Path, key: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if line.strip().startswith(key))


def test_a_portal_not_permitted_is_never_automated(settings, portal, dataset, tmp_path) -> None:
    settings.portals_file = registry_variant(tmp_path, automation_permitted=False)
    with capture_logs() as logs:
        sweep, summary = sweep_rows(settings, portal, dataset.worklist[:3])
    assert summary.by_category == {"manual": 3} and summary.by_portal == {}
    reason = "bluestem: its terms of use do not permit automation"
    assert summary.checked == 0 and summary.not_checked == {"manual": {reason: 3}}
    assert not any(e["event"] == "logged in" for e in logs), "the portal must not be touched"
    for item in sweep.store.items():
        last = sweep.store.history(item.id)[-1]
        assert (item.outcome, last.error) == ("manual", "bluestem: its terms of use do not permit automation")
        assert item.next_action.startswith("Check the status by hand")


def test_terms_for_a_person_stop_the_portal_and_defer_its_items(
    settings, make_portal, dataset, tmp_path, monkeypatch
) -> None:
    fresh = make_portal()  # nobody has accepted today's terms on this portal yet
    for name, value in fresh.env().items():
        monkeypatch.setenv(name, value)
    settings.portals_file = registry_variant(tmp_path, terms_acknowledged_by="person")
    with capture_logs() as logs:
        sweep, summary = sweep_rows(settings, fresh, dataset.worklist[:4], concurrency=2)
    assert summary.by_category == {"deferred": 4} and summary.errors == 0 and summary.checked == 0
    assert "accept its terms of use" in summary.needs_person["bluestem"]
    assert summary.not_checked == {"deferred": {summary.needs_person["bluestem"]: 4}}
    stops = [e for e in logs if e["event"] == "portal stops for this run"]
    assert [e["failure"] for e in stops] == ["needs_person"], "one login attempt; the others wait without one"
    assert summary.by_failure == {"needs_person": 4}
    assert all(
        item.outcome is None and item.next_action.startswith("Checked at the next sweep")
        for item in sweep.store.items()
    )


def test_max_concurrency_caps_the_pages_working_a_portal(settings, portal, dataset, tmp_path) -> None:
    settings.portals_file = registry_variant(tmp_path, max_concurrency=1)
    active, peak = 0, 0

    async def counting(sweep: Sweep, bot: Any, batch: Any) -> Any:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            return await sweep.check_and_record(bot, batch)
        finally:
            active -= 1

    _, summary = sweep_rows(settings, portal, dataset.worklist[:4], concurrency=4, step=counting)
    assert summary.checked == 4 and summary.errors == 0 and peak == 1


def test_rate_limit_spaces_page_loads_evenly() -> None:
    async def five_permits() -> list[float]:
        limiter, times = RateLimiter(per_minute=600), []  # one every 0.1 s

        async def take() -> None:
            await limiter.wait()
            times.append(time.monotonic())

        await asyncio.gather(*(take() for _ in range(5)))
        return sorted(times)

    times = run_async(five_permits())
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 0.09, gaps


@pytest.mark.slow
@pytest.mark.timeout(480)
@pytest.mark.xdist_group("prefect-server")  # the session's server, started once on one worker
def test_two_sweeps_on_one_prefect_server_share_a_portals_limit(tmp_path, make_portal, dataset, prefect_server) -> None:
    portal = make_portal(latency_ms=500)  # slow pages (waiting, not computing), so that the two sweeps overlap
    # Each sweep asks for 2 pages; together they may hold 3. Each page holds its slot until its
    # sweep is done, so one sweep gets 2 and the other 1 until the first finishes.
    registry = registry_variant(tmp_path, max_concurrency=3)
    # Two workers reporting to the session's Prefect server, each with a Prefect home of its own.
    env = base_env(tmp_path) | portal.env() | {"RCMBOT_PORTALS_FILE": str(registry), "PREFECT_API_URL": prefect_server}
    runs, claims = [], 12  # each: at 2 pages of 500 ms, several seconds of checking to overlap in
    for n in (1, 2):
        state = tmp_path / f"worker{n}"
        seed_worklist(Settings(project_root=ROOT, state_dir=state), dataset.worklist[n * 20 : n * 20 + claims])
        out = open(tmp_path / f"worker{n}.out", "w")  # noqa: SIM115 - a file, not a pipe nobody reads
        runs.append(
            (
                state,
                out,
                subprocess.Popen(
                    [
                        *RCMBOT,
                        "--state-dir",
                        str(state),
                        "sweep",
                        "--concurrency",
                        "2",
                        "--portal-url",
                        f"bluestem={portal.url}",
                        "--json",
                    ],
                    cwd=ROOT,
                    env=env | {"PREFECT_HOME": str(tmp_path / f"prefect{n}")},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                ),
            )
        )
    windows = []
    try:
        for state, out, proc in runs:
            assert proc.wait(timeout=400) == 0, (tmp_path / f"{state.name}.out").read_text()[-3000:]
            out.close()
            summary = json.loads((tmp_path / f"{state.name}.out").read_text().strip().splitlines()[-1])
            assert summary["checked"] == claims and summary["errors"] == 0
            store = WorklistStore(Settings(project_root=ROOT, state_dir=state).worklist_url)
            times = [h.checked_at for item in store.items() for h in store.history(item.id)]
            windows.append((min(times), max(times)))
    finally:
        for _, out, proc in runs:  # a worker left behind by a failed assertion
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            out.close()
    (a_start, a_end), (b_start, b_end) = windows
    assert a_start < b_end and b_start < a_end, f"the two sweeps must have run at the same time: {windows}"
    assert portal.server.stats()["max_in_flight"] <= 3, "two sweeps x 2 pages, one limit of 3"


@pytest.mark.xdist_group("prefect-server")
def test_credentials_can_live_in_prefect_secret_blocks(tmp_path, monkeypatch, on_prefect_server) -> None:
    from prefect.blocks.system import Secret

    # _sync: other tests of the session leave an event loop behind, which would make save() a coroutine
    Secret(value="from-a-block").save("rcmbot-test-bluestem-password", overwrite=True, _sync=True)
    monkeypatch.setenv("RCMBOT_BLUESTEM_USERNAME", "bot")
    monkeypatch.setenv("RCMBOT_BLUESTEM_TOTP_SECRET", "JBSWY3DPEHPK3PXP")
    credentials = {
        "username_env": "RCMBOT_BLUESTEM_USERNAME",
        "password_block": "rcmbot-test-bluestem-password",
        "totp_secret_env": "RCMBOT_BLUESTEM_TOTP_SECRET",
    }
    entry = PortalRegistry.load(registry_variant(tmp_path, credentials=credentials)).portals["bluestem"]
    assert entry.resolve_credentials("bluestem").password.get_secret_value() == "from-a-block"

    credentials["password_block"] = "no-such-block"
    entry = PortalRegistry.load(registry_variant(tmp_path, credentials=credentials)).portals["bluestem"]
    with pytest.raises(ConfigError) as err:
        entry.resolve_credentials("bluestem")
    assert "missing: Prefect Secret block no-such-block" in str(err.value)

    credentials["password_env"] = "RCMBOT_BLUESTEM_PASSWORD"  # both places for one secret
    with pytest.raises(ConfigError) as err:
        PortalRegistry.load(registry_variant(tmp_path, credentials=credentials))
    assert "password_env or password_block, not both" in str(err.value)


def test_a_portal_without_its_credentials_waits_while_the_others_are_swept(
    settings, sims, dataset, tmp_path, monkeypatch
) -> None:
    bluestem, juniper = sims.portal("bluestem").reset(), sims.portal("juniper").reset()
    for name, value in {**bluestem.env(), **juniper.env()}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RCMBOT_BLUESTEM_PASSWORD")  # not set on this worker
    settings.portals_file = registry_variant(tmp_path)
    seed_worklist(settings, dataset.worklist[:2] + build_dataset(7, 200, "JNPR1").worklist[:3])
    sweep = Sweep(SweepDeps.load(settings), base_urls={"bluestem": bluestem.url, "juniper": juniper.url})
    summary = run_sweep(sweep, sweep.due(), 2)
    assert summary.by_portal == {"juniper": 3} and summary.errors == 0
    reason = "bluestem: credentials missing: environment variable RCMBOT_BLUESTEM_PASSWORD; set them, then sweep again"
    assert summary.not_checked == {"deferred": {reason: 2}} and summary.needs_person == {"bluestem": reason}
    waiting = [i for i in sweep.store.items() if i.payer_id == "BSTM1"]
    assert [i.next_action for i in waiting] == ["Checked at the next sweep (see the reason)"] * 2
