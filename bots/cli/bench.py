"""`rcmbot bench [options]`: rcmbot's sweep beside plain Playwright scripts. A command group, so
further benchmarks (console, evidence, scale) become subcommands beside today's options."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from bots.cli.common import invocation, print_json, start
from bots.core.errors import InputError

LATENCY_MS = 150  # a payer portal's page is rarely faster

app = typer.Typer(
    invoke_without_command=True, help="throughput benchmark: rcmbot vs plain Playwright vs a new browser per claim"
)


class Mode(StrEnum):
    rcmbot = "rcmbot"
    plain = "plain"
    naive = "naive"


@app.callback()
def bench(
    ctx: typer.Context,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick", help="a few claims per mode at concurrency 1: a smoke test in seconds, not a measurement"
        ),
    ] = False,
    claims: Annotated[int | None, typer.Option("--claims", help="claims per point (default 200)")] = None,
    concurrency: Annotated[
        list[int] | None,
        typer.Option("--concurrency", help="a concurrency to measure (repeatable; default 1, 2, 4, 8)"),
    ] = None,
    mode: Annotated[
        list[Mode] | None, typer.Option("--mode", help="a mode to run (repeatable; default all three)")
    ] = None,
    latency_ms: Annotated[
        int | None, typer.Option("--latency-ms", help="simulated portal latency per page (default 150; 0 with --quick)")
    ] = None,
    profile: Annotated[
        bool,
        typer.Option(
            "--profile",
            help="instead: one rcmbot sweep (default 1000 claims, concurrency 4) under a profiler, "
            "with where each claim's time goes",
        ),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help='print one JSON line {"results": [...], ...}')] = False,
) -> int | None:
    if ctx.invoked_subcommand is not None:
        return None
    from bots.bench.run import (
        CONCURRENCY,
        MODES,
        QUICK_CLAIMS,
        QUICK_CONCURRENCY,
        QUICK_LATENCY_MS,
        Plan,
        profile_table,
        run_bench,
        run_profile,
        table,
    )

    latency_ms = latency_ms if latency_ms is not None else QUICK_LATENCY_MS if quick else LATENCY_MS
    if claims is not None and claims < 10:
        raise InputError(f"--claims {claims}: the simulated portal's data set needs at least 10 claims")
    settings = start(invocation(ctx).settings(), quiet_logs=True)
    say = (lambda _msg: None) if json_output else (lambda msg: print(msg, flush=True))
    if profile:
        n, c = claims or 1000, (concurrency or [4])[0]
        say(f"Profiling one rcmbot sweep: {n} claims, concurrency {c}, portal latency {latency_ms} ms per page ...")
        report = run_profile(settings, n, c, latency_ms)
        print_json(report) if json_output else print("\n" + table(report) + "\n\n" + profile_table(report))
        return 0 if report["results"][0]["errors"] == 0 else 1
    levels = tuple(concurrency or (QUICK_CONCURRENCY if quick else CONCURRENCY))
    n = claims or (QUICK_CLAIMS if quick else 200)
    plan = Plan(
        claims=n, concurrency=levels, modes=tuple(m.value for m in mode) if mode else MODES, latency_ms=latency_ms
    )
    say(
        f"Benchmark: {n} claims per point, concurrency {', '.join(map(str, levels))}, "
        f"portal latency {latency_ms} ms per page"
    )
    report = run_bench(settings, plan, say)
    print_json(report) if json_output else print("\n" + table(report))
    return 0 if all(r["errors"] == 0 for r in report["results"]) else 1


@app.command("console", help="the console's server time (p50/p95) at scale: queue, task page, worklist search")
def console(
    ctx: typer.Context,
    requests: Annotated[int, typer.Option("--requests", min=10, help="requests per page (default 200)")] = 200,
    json_output: Annotated[bool, typer.Option("--json", help='print one JSON line {"pages": [...], ...}')] = False,
) -> int:
    from bots.bench.console import bench_console

    settings = start(invocation(ctx).settings(), quiet_logs=True)
    say = (lambda _msg: None) if json_output else (lambda msg: print(msg, flush=True))
    say(f"Console server time, {requests} requests per page, state {settings.state_path}:")
    report = bench_console(settings, requests, say)
    if json_output:
        print_json(report)
    else:
        print(
            f"Target: p95 under {report['target_p95_ms']:.0f} ms on {report['tasks']:,} review tasks: "
            + ("met" if all(p["met"] for p in report["pages"]) else "NOT met")
        )
    return 0 if all(p["met"] for p in report["pages"]) else 1


@app.command(
    "evidence",
    help="evidence verification beside sha256sum over the same files, and --since-checkpoint on a large log",
)
def evidence(
    ctx: typer.Context,
    files: Annotated[int, typer.Option("--files", min=100, help="evidence files of realistic sizes")] = 20_000,
    records: Annotated[
        int, typer.Option("--records", min=1000, help="records in the log --since-checkpoint is timed on")
    ] = 1_000_000,
    plain: Annotated[bool, typer.Option("--plain", help="unencrypted store (default: encrypted, as the demo)")] = False,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="alternating rounds; the best of each counts")] = 3,
    json_output: Annotated[bool, typer.Option("--json", help="print one JSON line")] = False,
) -> int:
    from bots.bench.evidence import bench_evidence

    settings = start(invocation(ctx).settings(), quiet_logs=True)
    say = (lambda _msg: None) if json_output else (lambda msg: print(msg, flush=True))
    report = bench_evidence(settings, files, records, not plain, rounds, say)
    if json_output:
        print_json(report)
    return 0 if report["ratio_met"] and report["since_met"] else 1
