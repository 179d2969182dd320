"""`rcmbot bench --quick`: every mode at concurrency 1 and 4, checked for correctness only.
Timings on a shared 2-core machine are noise; the figures live in docs/performance.md."""

from __future__ import annotations

import json

import pytest

from bots.bench.run import percentile
from tests.test_cli_and_prefect import base_env, rcmbot

KEYS = {"mode", "concurrency", "claims", "claims_per_min", "p50_s", "p95_s", "peak_rss_mb", "evidence_bytes_median"}


def test_percentile_interpolates() -> None:
    assert percentile([], 0.95) == 0.0
    assert percentile([3.0], 0.95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
    assert percentile([float(n) for n in range(1, 101)], 0.95) == pytest.approx(95.05)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_quick_bench_runs_every_mode(tmp_path) -> None:
    done = rcmbot("bench", "--quick", "--json", env=base_env(tmp_path), timeout=540)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, "--json prints exactly one line"
    report = json.loads(lines[0])
    results = report["results"]
    assert {(r["mode"], r["concurrency"]) for r in results} == {
        (m, c) for m in ("rcmbot", "plain", "naive") for c in (1, 4)}
    assert "Chromium" in report["browser"] and report["latency_ms"] == 150
    for r in results:
        assert r.keys() >= KEYS
        assert r["claims"] == results[0]["claims"] > 0 and r["errors"] == 0
        assert r["claims_per_min"] > 0 and 0 < r["p50_s"] <= r["p95_s"]
        assert r["peak_rss_mb"] > 50 and r["evidence_bytes_median"] > 1000
        # All three modes walked the same claims to the same screens.
        assert r["outcomes"] == results[0]["outcomes"], r
    assert sum(results[0]["outcomes"].values()) == results[0]["claims"]
