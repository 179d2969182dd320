"""The `rcmbot` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import threading
from pathlib import Path
from typing import Any

from bots.core.errors import InputError, RcmbotError
from bots.core.settings import Settings

# `bench --quick`: a correctness run in about two minutes, not a measurement
QUICK_CLAIMS, QUICK_CONCURRENCY = 10, (1, 4)
DEMO_KEYS = ("claims", "checked", "by_category", "by_portal", "evidence_files", "errors", "seconds")


def _settings(args: argparse.Namespace) -> Settings:
    """Settings for this invocation; --state-dir makes database and evidence self-contained."""
    if getattr(args, "state_dir", None):
        os.environ["RCMBOT_STATE_DIR"] = str(args.state_dir)
        os.environ["RCMBOT_EVIDENCE_DIR"] = str(Path(args.state_dir) / "evidence")
    return Settings()


def _start(args: argparse.Namespace, quiet_logs: bool = False) -> Settings:
    from bots.core.logs import configure_logging
    from bots.orchestration.prefect_env import configure_prefect

    settings = _settings(args)
    configure_prefect(settings)
    log = settings.log
    if quiet_logs and "RCMBOT_LOG__LEVEL" not in os.environ:
        log = log.model_copy(update={"level": "WARNING"})
    configure_logging(log)
    return settings


# -- sweeps -----------------------------------------------------------------------------------
class Progress:
    """Shows how many items this run has recorded, read from the worklist database."""

    def __init__(self, settings: Settings, run_id: str, total: int) -> None:
        from bots.worklist.store import WorklistStore

        self.store, self.run_id, self.total = WorklistStore(settings.worklist_url), run_id, total
        self.tty = sys.stdout.isatty()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._last = -1

    def _show(self, done: int) -> None:
        if self.tty:
            filled = int(30 * done / max(self.total, 1))
            print(f"\r  [{'#' * filled}{'.' * (30 - filled)}] {done}/{self.total} claims", end="", flush=True)
        elif done and done != self._last and (done == self.total or done % 25 == 0):
            print(f"  {done}/{self.total} claims checked", flush=True)
        self._last = done

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self._show(self.store.checked_in_run(self.run_id))

    def __enter__(self) -> Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._show(self.store.checked_in_run(self.run_id))
        if self.tty:
            print()


def _progress(settings: Settings, args: argparse.Namespace) -> Any:
    return None if args.json else (lambda run_id, total: Progress(settings, run_id, total))


def _print_summary(summary: dict[str, Any], settings: Settings, state_flag: str) -> None:
    from bots.core.models import Outcome, category_name

    labels = {Outcome.NOT_FOUND: "not found", Outcome.AMBIGUOUS: "ambiguous (several match)",
              Outcome.UNMAPPED: "unmapped status text", Outcome.ERROR: "errors",
              Outcome.DEFERRED: "deferred to the next sweep", Outcome.MANUAL: "manual follow-up"}
    print(f"\nChecked {summary['checked']} of {summary['claims']} claims in {summary['seconds']:.0f} s "
          f"(run {summary['run_id']}).")
    print(f"\n  {'outcome':<36} {'claims':>6}")
    for key, n in sorted(summary["by_category"].items(), key=lambda kv: (kv[0] in labels, kv[0])):
        label = labels.get(key, f"{key} {category_name(key)}")  # type: ignore[call-overload]
        print(f"  {label:<36} {n:>6}")
    print(f"\nEvidence: {summary['evidence_files']} files under {settings.evidence_path}")
    if summary.get("by_portal"):
        print("Checked per portal: " + ", ".join(f"{k} {v}" for k, v in summary["by_portal"].items()))
    for portal, reason in summary.get("needs_person", {}).items():
        print(f"A PERSON IS NEEDED for {portal}: {reason}")
    if summary.get("drift"):
        print(f"Selector drift (fix the map): {summary['drift']}")
    prog = "rcmbot" if shutil.which("rcmbot") else os.path.relpath(Path(sys.executable).parent / "rcmbot")
    print("\nWhere to look next:")
    for cmd in ("worklist show --limit 20", "worklist export --out worklist-results.csv",
                "evidence list --limit 5", "evidence verify"):
        print(f"  {prog}{state_flag} {cmd}")


def cmd_demo(args: argparse.Namespace) -> int:
    from bots.core.registry import PortalRegistry
    from bots.orchestration.sweepflow import run_sweep_flow
    from bots.sim.dataset import demo_worklist, write_worklist_csv
    from bots.sim.fleet import SIMULATED, Fleet
    from bots.worklist.csvio import read_worklist_csv
    from bots.worklist.store import WorklistStore

    base = _settings(argparse.Namespace())
    demo_dir = base.state_path / "demo"
    shutil.rmtree(demo_dir, ignore_errors=True)
    args.state_dir = demo_dir
    settings = _start(args, quiet_logs=True)
    sim = settings.sim
    claims = args.claims or sim.claims
    registry = PortalRegistry.load(settings.path(settings.portals_file))
    say = (lambda *a: None) if args.json else print
    # Fresh random credentials for each portal's demo user; they live only in this process.
    with Fleet(sim, registry, list(SIMULATED), demo_dir / "portal", claims) as fleet:
        os.environ.update(fleet.env)
        for key, url in fleet.urls.items():
            say(f"{registry.portals[key].name} at {url}")
        csv_path = demo_dir / "worklist.csv"
        write_worklist_csv(demo_worklist(sim.seed, claims), csv_path)
        inserted, _ = WorklistStore(settings.worklist_url).upsert(read_worklist_csv(csv_path))
        say(f"Seeded a {inserted}-claim AR worklist from {csv_path}")
        say(f"Sweeping with {args.concurrency or settings.sweep.concurrency} browser pages "
            "(Prefect runs embedded; the first start on a fresh machine takes a while)...")
        summary = run_sweep_flow(settings, limit=None, concurrency=args.concurrency,
                                 portal_urls=fleet.urls, progress=_progress(settings, args))
    if args.json:
        print(json.dumps({k: summary[k] for k in DEMO_KEYS}))
    else:
        _print_summary(summary, settings, f" --state-dir {os.path.relpath(demo_dir)}")
    return 0 if summary["errors"] == 0 else 1


def cmd_sweep(args: argparse.Namespace) -> int:
    from bots.orchestration.sweepflow import run_sweep_flow

    settings = _start(args)
    urls = dict(u.split("=", 1) for u in args.portal_url or [])
    summary = run_sweep_flow(settings, limit=args.limit, concurrency=args.concurrency,
                             portal_urls=urls or None, progress=_progress(settings, args))
    if args.json:
        print(json.dumps(summary))
    else:
        _print_summary(summary, settings, "")
    return 0 if summary["errors"] == 0 else 1


def cmd_serve(args: argparse.Namespace) -> int:
    from bots.orchestration.serve import serve

    settings = _start(args)
    if args.port:
        settings.prefect.serve_port = args.port
    return serve(settings, settings.path(args.prefect_yaml))


def cmd_portal_serve(args: argparse.Namespace) -> int:
    from urllib.parse import urlsplit

    from bots.core.registry import PortalRegistry
    from bots.sim.portal import PortalConfig
    from bots.sim.server import serve_foreground
    from bots.sim.store import PortalStore

    settings = _start(args)
    entry = PortalRegistry.load(settings.path(settings.portals_file)).portals[args.portal]
    creds = entry.resolve_credentials(args.portal)
    port = args.port or urlsplit(entry.base_url).port or 8710
    cfg = PortalConfig.from_settings(settings.sim, settings.state_path / "portal" / f"{args.portal}.db",
                                     kind=args.portal, layout=args.layout, timezone=entry.timezone)
    PortalStore(cfg.db_path).upsert_user(
        creds.username.get_secret_value(), creds.password.get_secret_value(),
        creds.totp_secret.get_secret_value() if creds.totp_secret else None,
        creds.mailbox_token.get_secret_value() if creds.mailbox_token else None)
    print(f"{entry.name}, {args.layout} layout, on http://127.0.0.1:{port}; its bot user from the "
          f"registry's credentials", flush=True)
    serve_foreground(cfg, port)
    return 0


def cmd_selectors_check(args: argparse.Namespace) -> int:
    from bots.sweep.selectorcheck import STATUSES, check_selectors

    settings = _start(args, quiet_logs=True)
    report = asyncio.run(check_selectors(settings, args.portal, args.portal_url))
    if args.json:
        print(json.dumps({"portal": report.portal, "checked_at": report.checked_at, "counts": report.counts,
                          "elements": report.elements, "canaries": report.canaries}))
    else:
        width = max(map(len, report.elements))
        for status in STATUSES:
            for key, element in report.elements.items():
                if element["status"] == status:
                    print(f"  {status:<12} {key:<{width}}  {element['detail']}")
        print(f"\n{report.portal}: " + ", ".join(f"{n} {s}" for s, n in report.counts.items())
              + f" ({len(report.canaries)} canaries, {report.seconds:.0f} s)")
        for canary in report.canaries:
            if canary["error"]:
                print(f"  canary {canary['canary']}: {canary['error']}")
    return 1 if report.broken else 0


def cmd_bench(args: argparse.Namespace) -> int:
    from bots.bench.run import CONCURRENCY, MODES, Plan, profile_table, run_bench, run_profile, table

    if args.claims is not None and args.claims < 10:
        raise InputError(f"--claims {args.claims}: the simulated portal's data set needs at least 10 claims")
    settings = _start(args, quiet_logs=True)
    if args.profile:
        claims, concurrency = args.claims or 1000, (args.concurrency or [4])[0]
        if not args.json:
            print(f"Profiling one rcmbot sweep: {claims} claims, concurrency {concurrency}, "
                  f"portal latency {args.latency_ms} ms per page ...", flush=True)
        report = run_profile(settings, claims, concurrency, args.latency_ms)
        print(json.dumps(report) if args.json else "\n" + table(report) + "\n\n" + profile_table(report))
        return 0 if report["results"][0]["errors"] == 0 else 1
    concurrency = tuple(args.concurrency or (QUICK_CONCURRENCY if args.quick else CONCURRENCY))
    claims = args.claims or (QUICK_CLAIMS if args.quick else 200)
    plan = Plan(claims=claims, concurrency=concurrency, modes=tuple(args.mode or MODES), latency_ms=args.latency_ms)
    say = (lambda _msg: None) if args.json else (lambda msg: print(msg, flush=True))
    say(f"Benchmark: {claims} claims per point, concurrency {', '.join(map(str, concurrency))}, "
        f"portal latency {args.latency_ms} ms per page")
    report = run_bench(settings, plan, say)
    print(json.dumps(report) if args.json else "\n" + table(report))
    return 0 if all(r["errors"] == 0 for r in report["results"]) else 1


# -- worklist ------------------------------------------------------------------------------------
def cmd_worklist_import(args: argparse.Namespace) -> int:
    from bots.worklist.csvio import read_worklist_csv
    from bots.worklist.store import WorklistStore

    settings = _start(args)
    rows = read_worklist_csv(Path(args.file))
    inserted, updated = WorklistStore(settings.worklist_url).upsert(rows)
    print(f"imported {args.file}: {inserted} new item(s), {updated} updated")
    return 0


def cmd_worklist_export(args: argparse.Namespace) -> int:
    from bots.worklist.csvio import write_worklist_csv
    from bots.worklist.store import WorklistStore

    settings = _start(args)
    items = WorklistStore(settings.worklist_url).items()
    if args.out:
        with open(args.out, "w", newline="", encoding="utf-8") as f:
            n = write_worklist_csv(items, f)
        print(f"exported {n} item(s) to {args.out}")
    else:
        write_worklist_csv(items, sys.stdout)  # type: ignore[arg-type]
    return 0


def cmd_worklist_show(args: argparse.Namespace) -> int:
    from bots.core.money import format_cents
    from bots.worklist.store import WorklistStore

    settings = _start(args)
    store = WorklistStore(settings.worklist_url)
    if args.id:
        item = store.item(args.id)
        if item is None:
            raise RcmbotError(f"no worklist item {args.id}")
        print(f"item {item.id}  payer {item.payer_id}  account {item.account_number}  "
              f"claim {item.payer_claim_number or '-'}  billed {format_cents(item.billed_cents)}")
        print(f"  status {item.status_category or item.outcome or '-'}  {item.status_text or ''}  "
              f"paid {format_cents(item.paid_cents) or '-'}  CARC {item.carc_codes or '-'}  "
              f"RARC {item.rarc_codes or '-'}")
        print(f"  next: {item.next_action or '-'} at {item.next_follow_up_at:%Y-%m-%d %H:%M} UTC"
              f"{'  (closed)' if item.closed_at else ''}")
        for line in store.lines(item.id):
            print(f"  line {line.line_no}: {line.procedure_code} {line.modifiers or ''} x{line.units} "
                  f"billed {format_cents(line.billed_cents)} paid {format_cents(line.paid_cents)}")
        print("  history:")
        for h in store.history(item.id):
            print(f"    {h.checked_at:%Y-%m-%d %H:%M:%S} UTC  {h.run_id}  {h.outcome:<9} "
                  f"{h.status_category or '':<4} {h.status_text or h.error or ''}")
        return 0
    items = store.due_items() if args.due else store.items()
    print(f"{'id':>5}  {'payer':<6} {'account':<10} {'claim #':<14} {'outcome':<9} {'cat':<4} "
          f"{'paid':>9}  next action")
    for it in items[: args.limit]:
        print(f"{it.id:>5}  {it.payer_id:<6} {it.account_number:<10} {it.payer_claim_number or '-':<14} "
              f"{it.outcome or '-':<9} {it.status_category or '':<4} {format_cents(it.paid_cents):>9}  "
              f"{it.next_action or '-'}")
    if len(items) > args.limit:
        print(f"... {len(items) - args.limit} more (--limit)")
    return 0


# -- evidence -----------------------------------------------------------------------------------
def cmd_evidence_list(args: argparse.Namespace) -> int:
    from bots.evidence import open_evidence_store

    settings = _start(args)
    records = [r for r in open_evidence_store(settings.evidence_path).records()
               if args.item is None or r.item_id == args.item]
    for r in records[-args.limit:] if args.limit else records:
        print(f"{r.captured_at:%Y-%m-%dT%H:%M:%SZ}  item {r.item_id:>5}  {r.media_type:<10}  "
              f"{r.size:>7} B  {r.sha256[:16]}  {r.path}")
    print(f"{len(records)} evidence record(s) in {settings.evidence_path}")
    return 0


def cmd_evidence_verify(args: argparse.Namespace) -> int:
    from bots.evidence import open_evidence_store

    settings = _start(args)
    store = open_evidence_store(settings.evidence_path)
    problems = store.verify()
    for problem in problems:
        print(problem)
    n = len({r.path for r in store.records()})
    print(f"{'FAILED' if problems else 'OK'}: {n} evidence file(s) checked, {len(problems)} problem(s)")
    return 1 if problems else 0


# -- parser -------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rcmbot", description="Revenue-cycle bots: claim-status "
                                     "sweeps over payer portals, AR worklists and evidence.")
    parser.add_argument("--state-dir", type=Path, help="use a self-contained state directory "
                        "(worklist database and evidence inside it), e.g. .rcmbot/demo")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="simulated portal + 200-claim worklist + sweep, from scratch")
    p.add_argument("--json", action="store_true", help="print one JSON line instead of the report")
    p.add_argument("--claims", type=int, help="worklist size (default: RCMBOT_SIM__CLAIMS, 200)")
    p.add_argument("--concurrency", type=int, help="browser pages working at once (default: RCMBOT_SWEEP__CONCURRENCY)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sweep", help="check every due worklist item now (embedded Prefect)")
    p.add_argument("--limit", type=int, help="check at most this many items")
    p.add_argument("--concurrency", type=int, help="browser pages working at once")
    p.add_argument("--portal-url", action="append", metavar="PORTAL=URL",
                   help="override a registry base URL for this run")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("serve", help="unattended mode: local Prefect server + prefect.yaml schedules")
    p.add_argument("--prefect-yaml", type=Path, default=Path("prefect.yaml"))
    p.add_argument("--port", type=int, help="Prefect server port (default: RCMBOT_PREFECT__SERVE_PORT)")
    p.set_defaults(func=cmd_serve)

    portal = sub.add_parser("portal", help="simulated portals").add_subparsers(
        dest="portal_command", required=True, metavar="COMMAND")
    p = portal.add_parser("serve", help="serve a simulated portal on 127.0.0.1, its bot user taken "
                          "from the registry's credentials (e.g. $RCMBOT_BLUESTEM_USERNAME)")
    p.add_argument("portal", nargs="?", default="bluestem", choices=["bluestem", "cedar", "juniper", "harbor"],
                   help="which simulated portal; its registry entry has the same key (cedar: see docs/onboarding.md)")
    p.add_argument("--port", type=int, help="default: the port of the registry's base_url")
    p.add_argument("--layout", choices=["normal", "drift"], default="normal",
                   help="drift: labels and names the selector map tries first are changed")
    p.set_defaults(func=cmd_portal_serve)

    selectors = sub.add_parser("selectors", help="selector maps").add_subparsers(
        dest="selectors_command", required=True, metavar="COMMAND")
    p = selectors.add_parser("check", help="drive a live portal through every screen with its canary claims; "
                             "report each element ok, drift, broken or not reached (exit 1 on broken)")
    p.add_argument("portal", help="a portal key of the registry")
    p.add_argument("--portal-url", help="override the registry's base URL")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    p.set_defaults(func=cmd_selectors_check)

    p = sub.add_parser("bench", help="throughput benchmark: rcmbot vs plain Playwright vs a new browser per claim")
    p.add_argument("--quick", action="store_true", help=f"{QUICK_CLAIMS} claims per point at concurrency "
                   f"{' and '.join(map(str, QUICK_CONCURRENCY))} (a check, not a measurement)")
    p.add_argument("--claims", type=int, help="claims per point (default 200)")
    p.add_argument("--concurrency", type=int, action="append", help="a concurrency to measure (repeatable; "
                   "default 1, 2, 4, 8)")
    p.add_argument("--mode", action="append", choices=["rcmbot", "plain", "naive"],
                   help="a mode to run (repeatable; default all three)")
    p.add_argument("--latency-ms", type=int, default=150, help="simulated portal latency per page")
    p.add_argument("--profile", action="store_true", help="instead: one rcmbot sweep (default 1000 claims, "
                   "concurrency 4) under a profiler, with where each claim's time goes")
    p.add_argument("--json", action="store_true", help='print one JSON line {"results": [...], ...}')
    p.set_defaults(func=cmd_bench)

    worklist = sub.add_parser("worklist", help="the AR follow-up worklist").add_subparsers(
        dest="worklist_command", required=True, metavar="COMMAND")
    p = worklist.add_parser("import", help="import a worklist CSV (all rows or none)")
    p.add_argument("file")
    p.set_defaults(func=cmd_worklist_import)
    p = worklist.add_parser("export", help="export the worklist with its latest results as CSV")
    p.add_argument("--out", help="file to write (default: standard output)")
    p.set_defaults(func=cmd_worklist_export)
    p = worklist.add_parser("show", help="list items, or one item with its lines and history")
    p.add_argument("--id", type=int, help="show one item in full")
    p.add_argument("--due", action="store_true", help="only items due for follow-up now")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_worklist_show)

    evidence = sub.add_parser("evidence", help="captured evidence").add_subparsers(
        dest="evidence_command", required=True, metavar="COMMAND")
    p = evidence.add_parser("list", help="list evidence records")
    p.add_argument("--item", type=int, help="only this worklist item's evidence")
    p.add_argument("--limit", type=int, help="only the newest N")
    p.set_defaults(func=cmd_evidence_list)
    p = evidence.add_parser("verify", help="recompute every hash; non-zero exit on any problem")
    p.set_defaults(func=cmd_evidence_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except RcmbotError as exc:
        print(f"rcmbot: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
