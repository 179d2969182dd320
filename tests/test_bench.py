"""`rcmbot bench --quick`: a smoke test of every mode (a handful of claims that between them reach
every screen, one page at a time), checked for correctness only. Timings on a shared 2-core
machine are noise; the figures live in docs/performance.md, from the full `rcmbot bench`."""

from __future__ import annotations

import json
from types import SimpleNamespace

import psutil
import pytest

from bots.bench import (
    MODES,
    QUICK_CLAIMS,
    QUICK_CONCURRENCY,
    QUICK_LATENCY_MS,
    CpuSampler,
    bench_worklist,
    percentile,
)
from bots.sim.dataset import build_dataset
from tests.conftest import SEED, base_env, rcmbot

KEYS = {
    "mode",
    "concurrency",
    "claims",
    "claims_per_min",
    "p50_s",
    "p95_s",
    "peak_rss_mb",
    "evidence_bytes_median",
    "cpu_s",
    "cpu_s_per_claim",
    "cpu_ratio_vs_plain",
}


def test_percentile_interpolates() -> None:
    assert percentile([], 0.95) == 0.0
    assert percentile([3.0], 0.95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
    assert percentile([float(n) for n in range(1, 101)], 0.95) == pytest.approx(95.05)


class Exiting:
    """A process as psutil shows it on its way out: its command line empty, then unreadable once
    it is a zombie (its CPU times and name still are)."""

    def __init__(self, pid: int, cmdline: list[str] | None, cpu: float, name: str = "chromium") -> None:
        self.pid, self._cmdline, self._cpu, self._name = pid, cmdline, cpu, name

    def create_time(self) -> float:
        return 1.0

    def name(self) -> str:
        return self._name

    def cmdline(self) -> list[str]:
        if self._cmdline is None:
            raise psutil.ZombieProcess(self.pid)
        return self._cmdline

    def cpu_times(self) -> SimpleNamespace:
        return SimpleNamespace(user=self._cpu, system=0.0, children_user=0.0, children_system=0.0)


def test_a_process_on_its_way_out_keeps_its_kind_and_its_cpu_in_the_breakdown() -> None:
    sweep = ["python", "-m", "bots.bench.point"]
    cpu = CpuSampler()
    cpu.sample([Exiting(1, sweep, 1.0, "python"), Exiting(2, ["chromium", "--type=renderer"], 1.0)])
    cpu.mark("start")
    cpu.sample([Exiting(1, sweep, 1.5, "python"), Exiting(2, [], 2.0), Exiting(3, None, 0.5)])
    cpu.sample([Exiting(1, sweep, 1.5, "python"), Exiting(2, None, 4.0), Exiting(3, None, 0.5)])
    cpu.mark("end")
    window = cpu.by_kind(window=True)
    assert window["chromium renderers"] == 3.0 and window["python (sweep or script)"] == 0.5
    assert window["chromium browser, gpu, network"] == 0.5  # first seen as a zombie: known by its name


def test_quick_worklist_reaches_every_screen_and_a_full_one_is_the_data_set() -> None:
    dataset, rows = bench_worklist(SEED, QUICK_CLAIMS)
    assert len(rows) == QUICK_CLAIMS and dataset >= 10  # the portal's data set is never smaller than 10
    data = build_dataset(SEED, dataset)
    assert {r.kind for r in rows} >= {"not_found", "ambiguous"}
    assert any(r.payer_claim_number and r.kind not in ("not_found", "ambiguous") for r in rows)  # by claim number
    members = [r for r in rows if not r.payer_claim_number and r.kind not in ("not_found", "ambiguous")]
    pages = [sum(c.member_id == r.member_id for c in data.claims) for r in members]
    assert any(n > 10 for n in pages), "a member search with more than one page of results"
    for claims in (10, 200):  # the full bench checks every item of a data set of its size
        assert bench_worklist(SEED, claims) == (claims, build_dataset(SEED, claims).worklist)


@pytest.mark.slow
def test_quick_bench_runs_every_mode(tmp_path) -> None:
    done = rcmbot(
        "bench", "--quick", "--latency-ms", str(QUICK_LATENCY_MS), "--json", env=base_env(tmp_path), timeout=240
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, "--json prints exactly one line"
    report = json.loads(lines[0])
    results = report["results"]
    assert {(r["mode"], r["concurrency"]) for r in results} == {(m, c) for m in MODES for c in QUICK_CONCURRENCY}
    assert set(MODES) == {"rcmbot", "plain", "naive"}
    assert "Chromium" in report["browser"] and report["latency_ms"] == QUICK_LATENCY_MS
    for r in results:
        assert r.keys() >= KEYS
        assert r["claims"] == results[0]["claims"] == QUICK_CLAIMS and r["errors"] == 0
        assert r["claims_per_min"] > 0 and 0 < r["p50_s"] <= r["p95_s"]
        assert r["peak_rss_mb"] > 50 and r["evidence_bytes_median"] > 1000
        # All three modes walked the same claims to the same screens.
        assert r["outcomes"] == results[0]["outcomes"], r
    # CPU while checking, per claim, by kind of process; the total's ratio to plain's.
    by_mode = {r["mode"]: r for r in results}
    for r in results:
        parts = {k: v for k, v in r["cpu_s_per_claim"].items() if k != "total"}
        assert parts and r["cpu_s_per_claim"]["total"] == pytest.approx(sum(parts.values()), abs=0.01)
        assert "python (sweep or script)" in parts and "chromium renderers" in parts
        total = r["cpu_s_per_claim"]["total"]
        assert r["cpu_ratio_vs_plain"] == pytest.approx(total / by_mode["plain"]["cpu_s_per_claim"]["total"], abs=0.01)
    assert "prefect server (embedded)" in by_mode["rcmbot"]["cpu_s_per_claim"]
    assert "prefect server (embedded)" not in by_mode["plain"]["cpu_s_per_claim"]
    assert sum(results[0]["outcomes"].values()) == results[0]["claims"]
    assert all(results[0]["outcomes"].values()), "a detail page, no match and several matches"
