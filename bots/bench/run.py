"""`rcmbot bench`: the same sweep three ways, side by side in one invocation.

The simulated Bluestem portal runs in its own process with a per-page latency; each (mode,
concurrency) point runs in a fresh child process whose whole tree (Python, Chromium, the
embedded Prefect server) is sampled for memory. Modes are interleaved per concurrency so
that machine noise hits them alike; what matters is their ratio, never absolute times."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pyotp

from bots.bench.marks import SAMPLE_S, acknowledgement, marks
from bots.browser.capture import screenshot_options
from bots.browser.launch import browser_version, find_browser, launch_args
from bots.core.errors import RcmbotError
from bots.core.registry import PortalRegistry
from bots.core.settings import Settings
from bots.sim.dataset import WorklistRow, build_dataset, write_worklist_csv

MODES = ("rcmbot", "plain", "naive")
CONCURRENCY = (1, 2, 4, 8)
EXITED = "exited between samples"  # CPU of processes that ended since last sampled
# `bench --quick`: a smoke test of every mode in seconds, not a measurement. A handful of claims
# that between them reach every screen (a search by claim number and one by member over several
# pages of results, a detail page, no match, two matches), one page at a time, no added latency.
QUICK_CLAIMS, QUICK_CONCURRENCY, QUICK_LATENCY_MS = 4, (1,), 0
# The portal's data set has at least this many claims (SimSettings.claims); fewer claims per
# point are a spread over a data set of SAMPLED_FROM, the smallest that has every outcome.
SMALLEST_DATASET, SAMPLED_FROM = 10, 20


@dataclass(frozen=True)
class Plan:
    claims: int = 200
    concurrency: tuple[int, ...] = CONCURRENCY
    modes: tuple[str, ...] = MODES
    latency_ms: int = 150


@dataclass
class Point:
    mode: str
    concurrency: int
    claims: int
    claims_per_min: float
    p50_s: float
    p95_s: float
    peak_rss_mb: float
    evidence_bytes_median: int
    errors: int
    outcomes: dict[str, int]
    cpu_s: dict[str, float]  # CPU seconds by kind of process in the point's tree, whole run
    # CPU seconds per claim while the claims were checked (start-up and teardown left out):
    # "total", and by kind of process
    cpu_s_per_claim: dict[str, float] = field(default_factory=dict)
    cpu_ratio_vs_plain: float | None = None  # total CPU per claim, over plain's at this concurrency


def bench_worklist(seed: int, claims: int) -> tuple[int, list[WorklistRow]]:
    """The portal's data set size and the worklist rows each point checks: all `claims` rows of a
    data set of `claims`, or, below the smallest data set, a spread over every outcome."""
    if claims >= SMALLEST_DATASET:
        return claims, build_dataset(seed, claims).worklist
    rows = build_dataset(seed, SAMPLED_FROM).worklist
    found = {"not_found", "ambiguous"}
    firsts = [
        next(r for r in rows if r.kind not in found and r.payer_claim_number),  # by claim number
        next(r for r in rows if r.kind == "not_found"),
        next(r for r in rows if r.kind == "ambiguous"),
        # by member: the first such item's member has more than a page of claims (every 8th has)
        next(r for r in rows if r.kind not in found and not r.payer_claim_number),
    ]
    spread = firsts + [r for r in rows if r not in firsts]
    return SAMPLED_FROM, spread[:claims]


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def tree_memory(proc: psutil.Process) -> int:
    """Resident memory of a process and all its descendants, in bytes. Each process counts its
    proportional share of shared pages (PSS): summing plain RSS would count Chromium's shared
    libraries and zygote pages once per process, several times over."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # exited between listing and reading
            info = p.memory_full_info()
            total += getattr(info, "pss", info.rss)
    return total


def process_kind(cmdline: list[str]) -> str:
    """What a process of a point's tree is, for the CPU breakdown, by its command line."""
    cmd = " ".join(cmdline)
    if "chromium" in cmd or "chrome" in cmd:
        return "chromium renderers" if "--type=renderer" in cmd else "chromium browser, gpu, network"
    if "driver/node" in cmd:
        return "playwright driver (node)"
    if "uvicorn" in cmd and "prefect" in cmd:
        return "prefect server (embedded)"
    return "python (sweep or script)"


@dataclass
class Measured:
    """What sampling a point's process tree found."""

    peak_bytes: int  # peak memory of the tree
    cpu_s: dict[str, float]  # CPU seconds by kind of process, whole run
    window_cpu_s: dict[str, float]  # the same, between the point's start and end marks


class CpuSampler:
    """CPU seconds of a process tree: by kind of process (each live process's own CPU, sampled),
    for the whole run and between the point's two marks (the clock's start and stop, sampled the
    moment each appears and then acknowledged, so start-up and teardown are left out). The
    totals are exact at each mark: a process that has exited is counted in its parent's times
    for reaped children, so what the samples miss of it shows as "exited between samples"."""

    def __init__(self) -> None:
        self.kind: dict[tuple[int, float], str] = {}
        self.now: dict[tuple[int, float], float] = {}  # (pid, created) -> own CPU at the last sample
        self.total = 0.0  # the tree's CPU, exited descendants included, at the last sample
        self.at_start: tuple[dict[tuple[int, float], float], float] | None = None
        self.at_end: tuple[dict[tuple[int, float], float], float] | None = None

    def sample(self, procs: list[psutil.Process]) -> None:
        total = 0.0
        for p in procs:
            with contextlib.suppress(psutil.Error):
                times, key = p.cpu_times(), (p.pid, p.create_time())
                self.now[key] = times.user + times.system
                total += self.now[key] + times.children_user + times.children_system
                self._classify(p, key)
        self.total = total

    def _classify(self, p: psutil.Process, key: tuple[int, float]) -> None:
        """Again at each sample: a child sampled before its exec looks like its parent. Not from
        a process on its way out, whose command line is empty and then unreadable (a zombie):
        its CPU would go to the sweep's Python (a renderer of a replaced page, reaped a moment
        later). One first seen that way is known by its name."""
        try:
            cmdline = p.cmdline()
        except psutil.ZombieProcess:
            cmdline = []
        if cmdline or key not in self.kind:
            self.kind[key] = process_kind(cmdline or [p.name()])

    def mark(self, which: str) -> None:
        snapshot = (dict(self.now), self.total)
        if which == "start":
            self.at_start = snapshot
        else:
            self.at_end = snapshot

    def by_kind(self, window: bool) -> dict[str, float]:
        """CPU seconds by kind of process (and what exited between samples), whole run or window."""
        if window and (self.at_start is None or self.at_end is None):
            raise RcmbotError("the benchmark point's clock marks were not both seen")
        start, start_total = self.at_start if window and self.at_start else ({}, 0.0)
        end, end_total = self.at_end if window and self.at_end else (self.now, self.total)
        out: dict[str, float] = {}
        for key, seconds in end.items():
            out[self.kind[key]] = out.get(self.kind[key], 0.0) + seconds - start.get(key, 0.0)
        out[EXITED] = max(0.0, end_total - start_total - sum(out.values()))
        return {kind: round(seconds, 3) for kind, seconds in out.items()}


def run_measured(cmd: list[str], env: dict[str, str], log: Path, clock_marks: tuple[Path, Path]) -> Measured:
    """Run a child process to its end, sampling its tree: peak memory, and the CPU seconds each
    kind of process used, in all and between the clock's marks (each acknowledged once sampled)."""
    peak, cpu = 0, CpuSampler()
    with open(log, "ab") as out:
        child = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        proc = psutil.Process(child.pid)
        while child.poll() is None:
            with contextlib.suppress(psutil.Error):
                cpu.sample([proc, *proc.children(recursive=True)])
                for which, mark in zip(("start", "end"), clock_marks, strict=True):
                    if mark.exists() and not acknowledgement(mark).exists():
                        cpu.mark(which)
                        acknowledgement(mark).touch()
                peak = max(peak, tree_memory(proc))
            with contextlib.suppress(subprocess.TimeoutExpired):  # its end is seen at once
                child.wait(timeout=SAMPLE_S)
    if child.returncode:
        raise RcmbotError(f"benchmark point failed (exit {child.returncode}): {' '.join(cmd[2:])}; see {log}")
    return Measured(peak, cpu.by_kind(window=False), cpu.by_kind(window=True))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PortalProcess:
    """The simulated Bluestem portal in a process of its own, not counted in any point."""

    def __init__(self, state_dir: Path, claims: int, latency_ms: int, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = env | {
            "RCMBOT_SIM__CLAIMS": str(claims),
            "RCMBOT_SIM__LATENCY_MS": str(latency_ms),
            "RCMBOT_LOG__LEVEL": "WARNING",
        }
        self._log = open(state_dir / "portal.log", "ab")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bots.cli",
                "--state-dir",
                str(state_dir / "portal"),
                "portal",
                "serve",
                "--port",
                str(self.port),
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def wait_ready(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RcmbotError(f"the simulated portal exited; see {self._log.name}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RcmbotError("the simulated portal did not start")

    def stop(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        self._log.close()


@dataclass
class Setup:
    """What every point of one invocation shares: the worklist, the portal, the browser."""

    dir: Path
    csv: Path
    items: list[dict[str, Any]]
    env: dict[str, str]
    portal_url: str
    executable: Path

    def spec(self, settings: Settings, mode: str, concurrency: int, profile: bool = False) -> dict[str, Any]:
        return {
            "mode": mode,
            "concurrency": concurrency,
            "portal_url": self.portal_url,
            "worklist_csv": str(self.csv),
            "items": self.items,
            "executable": str(self.executable),
            "args": launch_args(),
            "screenshot": screenshot_options(settings.browser),
            "profile": profile,
        }

    def run_point(self, spec: dict[str, Any]) -> tuple[Point, dict[str, Any]]:
        """One point in a fresh child process; its figures and its raw result."""
        point_dir = self.dir / f"{spec['mode']}-c{spec['concurrency']}"
        point_dir.mkdir()
        spec_path, result_path = point_dir / "spec.json", point_dir / "result.json"
        spec_path.write_text(json.dumps(spec))
        env = self.env | {"RCMBOT_STATE_DIR": str(point_dir), "RCMBOT_EVIDENCE_DIR": str(point_dir / "evidence")}
        measured = run_measured(
            [sys.executable, "-m", "bots.bench.point", str(spec_path), str(result_path)],
            env,
            point_dir / "point.log",
            marks(result_path),
        )
        r = json.loads(result_path.read_text())
        claims = len(spec["items"])
        per_claim = {kind: round(seconds / claims, 4) for kind, seconds in measured.window_cpu_s.items()}
        return Point(
            mode=spec["mode"],
            concurrency=spec["concurrency"],
            claims=claims,
            claims_per_min=round(claims / r["seconds"] * 60, 1),
            p50_s=round(statistics.median(r["durations"]), 3) if r["durations"] else 0.0,
            p95_s=round(percentile(r["durations"], 0.95), 3),
            peak_rss_mb=round(measured.peak_bytes / 2**20, 1),
            evidence_bytes_median=int(r["evidence_median"]),
            errors=r["errors"],
            outcomes=r["outcomes"],
            cpu_s=measured.cpu_s,
            cpu_s_per_claim={"total": round(sum(measured.window_cpu_s.values()) / claims, 4)} | per_claim,
        ), r


@contextmanager
def bench_setup(settings: Settings, claims: int, latency_ms: int) -> Iterator[Setup]:
    """A fresh bench directory, worklist and portal user, and the portal in its own process."""
    bench_dir = settings.state_path / "bench"
    shutil.rmtree(bench_dir, ignore_errors=True)
    bench_dir.mkdir(parents=True)
    dataset, rows = bench_worklist(settings.sim.seed, claims)
    csv_path = bench_dir / "worklist.csv"
    write_worklist_csv(rows, csv_path)
    items = [
        {
            "claim_number": r.payer_claim_number,
            "member_id": r.member_id,
            "account_number": r.account_number,
            "dos_from": r.dos_from.isoformat(),
            "dos_to": r.dos_to.isoformat(),
            "billed_cents": r.billed_cents,
        }
        for r in rows
    ]
    # A fresh portal user; its secrets live only in these processes' environments.
    refs = PortalRegistry.load(settings.path(settings.portals_file)).portals["bluestem"].credentials
    env = (
        dict(os.environ)
        | {"PREFECT_HOME": str(bench_dir / "prefect")}
        | refs.env_for(
            {"username": "rcm-bench-bot", "password": secrets.token_urlsafe(16), "totp_secret": pyotp.random_base32()}
        )
    )
    executable = find_browser(settings.browser)
    portal = PortalProcess(bench_dir, dataset, latency_ms, env)
    try:
        portal.wait_ready()
        yield Setup(bench_dir, csv_path, items, env, portal.url, executable)
    finally:
        portal.stop()


def _about(settings: Settings, latency_ms: int) -> dict[str, Any]:
    return {
        "browser": browser_version(find_browser(settings.browser)),
        "latency_ms": latency_ms,
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": sys.version.split()[0],
        },
    }


def run_bench(settings: Settings, plan: Plan, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Every (concurrency, mode) point of the plan; the figures and what they ran on."""
    points: list[Point] = []
    with bench_setup(settings, plan.claims, plan.latency_ms) as setup:
        for concurrency in plan.concurrency:
            for mode in plan.modes:
                say(f"  {mode:<7} concurrency {concurrency}: {plan.claims} claims ...")
                points.append(setup.run_point(setup.spec(settings, mode, concurrency))[0])
    plain = {p.concurrency: p.cpu_s_per_claim["total"] for p in points if p.mode == "plain"}
    for p in points:
        if plain.get(p.concurrency):
            p.cpu_ratio_vs_plain = round(p.cpu_s_per_claim["total"] / plain[p.concurrency], 2)
    return {"results": [asdict(p) for p in points]} | _about(settings, plan.latency_ms)


def run_profile(settings: Settings, claims: int, concurrency: int, latency_ms: int) -> dict[str, Any]:
    """One rcmbot sweep under the profiler: its figures and where a claim's time goes."""
    with bench_setup(settings, claims, latency_ms) as setup:
        point, raw = setup.run_point(setup.spec(settings, "rcmbot", concurrency, profile=True))
    return {"results": [asdict(point)], "profile": raw["profile"]} | _about(settings, latency_ms)


def profile_table(report: dict[str, Any]) -> str:
    prof = report["profile"]
    lines = [f"{'part of a claim':<42} {'s/claim':>8} {'share':>7}"]
    for name, part in prof["parts"].items():
        lines.append(f"{name:<42} {part['seconds_per_claim']:>8.3f} {part['share']:>7.1%}")
    lines.append(f"{'one claim, end to end':<42} {prof['claim_seconds']:>8.3f}")
    lines.append(
        f"orchestration overhead (Prefect + database + evidence store): "
        f"{prof['orchestration_overhead_share']:.1%} of claim wall time"
    )
    point = report["results"][0]
    lines.append(f"\n{'CPU by process (whole run)':<42} {'s/claim':>8}")
    for kind, seconds in sorted(point["cpu_s"].items(), key=lambda kv: -kv[1]):
        lines.append(f"{kind:<42} {seconds / point['claims']:>8.3f}")
    return "\n".join(lines)


def table(report: dict[str, Any]) -> str:
    """The results as a short text table, with rcmbot's throughput relative to plain."""
    rows = report["results"]
    plain = {r["concurrency"]: r["claims_per_min"] for r in rows if r["mode"] == "plain"}
    lines = [
        f"{'mode':<7} {'conc':>4} {'claims':>6} {'claims/min':>10} {'p50 s':>7} {'p95 s':>7} "
        f"{'peak MB':>8} {'evidence KB':>11} {'vs plain':>8} {'CPU s/claim':>11} {'vs plain':>8}"
    ]
    for r in rows:
        ratio = f"{r['claims_per_min'] / plain[r['concurrency']]:.2f}x" if plain.get(r["concurrency"]) else ""
        cpu_ratio = f"{r['cpu_ratio_vs_plain']:.2f}x" if r["cpu_ratio_vs_plain"] else ""
        lines.append(
            f"{r['mode']:<7} {r['concurrency']:>4} {r['claims']:>6} {r['claims_per_min']:>10.1f} "
            f"{r['p50_s']:>7.2f} {r['p95_s']:>7.2f} {r['peak_rss_mb']:>8.0f} "
            f"{r['evidence_bytes_median'] / 1024:>11.1f} {ratio:>8} "
            f"{r['cpu_s_per_claim']['total']:>11.3f} {cpu_ratio:>8}"
        )
    lines.append(
        f"browser {report['browser']}; portal latency {report['latency_ms']} ms per page; "
        f"{report['machine']['cpus']} CPUs"
    )
    lines.append(f"\n{'CPU s/claim while checking, by process':<40}" + "".join(f"{_label(r):>14}" for r in rows))
    kinds = sorted({k for r in rows for k in r["cpu_s_per_claim"] if k != "total"})
    for kind in kinds:
        lines.append(f"{kind:<40}" + "".join(f"{r['cpu_s_per_claim'].get(kind, 0.0):>14.3f}" for r in rows))
    return "\n".join(lines)


def _label(row: dict[str, Any]) -> str:
    return f"{row['mode']} c{row['concurrency']}"
