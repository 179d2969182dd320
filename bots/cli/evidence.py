"""`rcmbot evidence list|verify|checkpoint|public-key|rotate-key|export|verify-package|open`."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO, TypeVar

import typer

from bots.cli.common import invocation, prepare_database, print_json, start
from bots.core.errors import InputError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from bots.core.settings import Settings
    from bots.evidence.records import EvidenceRecord

T = TypeVar("T")
MAX_ITEM_ID = 2**31 - 1  # worklist item ids are the database's INTEGER

app = typer.Typer(no_args_is_help=True)


@app.command("list", help="list evidence records")
def list_(
    ctx: typer.Context,
    item: Annotated[int | None, typer.Option("--item", help="only this worklist item's evidence")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="only the newest N")] = None,
) -> int:
    from bots.evidence.setup import evidence_store

    settings = start(invocation(ctx).settings())
    records = [r for r in evidence_store(settings).records() if item is None or r.item_id == item]
    for r in records[-limit:] if limit else records:
        print(
            f"{r.captured_at:%Y-%m-%dT%H:%M:%SZ}  seq {r.seq:>7}  item {r.item_id:>5}  {r.kind:<9} "
            f"{r.media_type:<16}  {r.size:>7} B  {r.sha256[:16]}  {r.path or '(removed: retention)'}"
        )
    print(f"{len(records)} evidence record(s) in {settings.evidence_path}")
    return 0


@app.command(
    "verify",
    help="every file against its record, every record against the tree, the tree against every signed "
    "checkpoint; non-zero exit on any problem",
)
def verify(
    ctx: typer.Context,
    since_checkpoint: Annotated[
        bool, typer.Option("--since-checkpoint", help="only what was added since the last verified checkpoint")
    ] = False,
    public_key_file: Annotated[
        Path | None, typer.Option("--public-key", help="check signatures against this public key (PEM)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON line")] = False,
) -> int:
    from bots.evidence.checkpoint import load_public_key
    from bots.evidence.setup import evidence_store, public_key
    from bots.evidence.verify import Verified, verify

    settings = start(invocation(ctx).settings(), quiet_logs=True)
    started = time.monotonic()
    key = load_public_key(public_key_file.read_bytes()) if public_key_file else public_key(settings)
    state = settings.state_path / "evidence-verified.json"
    previous = Verified.load(state)
    report = verify(evidence_store(settings), key, previous=previous, since=since_checkpoint and previous is not None)
    if report.verified is not None:
        report.verified.save(state)
    seconds = time.monotonic() - started
    if as_json:
        keys = ("records", "files", "bytes", "checkpoints", "problems", "notes")
        print(json.dumps({"ok": report.ok, **{k: getattr(report, k) for k in keys}, "seconds": round(seconds, 2)}))
        return 0 if report.ok else 1
    for line in report.problems + report.notes:
        print(line)
    scope = "since the last verified checkpoint" if since_checkpoint and previous else "in all"
    print(
        f"{'OK' if report.ok else 'FAILED'}: {report.records} record(s) {scope}, {report.files} file(s) "
        f"({report.bytes / 1e6:.1f} MB), {report.checkpoints} checkpoint(s), {len(report.problems)} problem(s), "
        f"{seconds:.1f} s"
    )
    return 0 if report.ok else 1


@app.command("checkpoint", help="sign a checkpoint of the evidence log now (runs do it when they end)")
def checkpoint(ctx: typer.Context) -> int:
    from bots.evidence.setup import evidence_store, signer

    settings = start(invocation(ctx).settings(), quiet_logs=True)
    made = evidence_store(settings).checkpoint(signer(settings), force=True)
    assert made is not None
    print(
        f"checkpoint: {made.size} record(s), root {made.root.hex()}, "
        f"{made.time:%Y-%m-%dT%H:%M:%SZ}, key {made.key_fingerprint}"
    )
    return 0


@app.command("public-key", help="print (or write) the public key auditors check checkpoints with")
def public_key_(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", help="write it to this file")] = None,
) -> int:
    from bots.evidence.setup import signer

    settings = start(invocation(ctx).settings(), quiet_logs=True)
    key = signer(settings)
    if out is None:
        print(key.public_pem().decode(), end="")
    else:
        out.write_bytes(key.public_pem())
        print(f"wrote the public key {key.fingerprint} to {out}")
    return 0


@app.command("rotate-key", help="re-encrypt every stored object under a new key; hashes and the tree do not change")
def rotate_key(ctx: typer.Context) -> int:
    from bots.evidence.crypto import Keyring
    from bots.evidence.setup import evidence_store
    from bots.evidence.upkeep import rotate_key

    settings = start(invocation(ctx).settings(), quiet_logs=True)
    store = evidence_store(settings)
    if store.keyring is None:
        store.keyring = Keyring.load_or_create(settings.evidence_key_path)
    done = rotate_key(store)
    print(
        f"re-encrypted {done.objects} object(s) under key {done.key_id} (now current in "
        f"{settings.evidence_key_path}); earlier keys are kept there: back the file up again"
    )
    return 0


@app.command(
    "export",
    help="an audit package: the selected evidence, its records, inclusion proofs, the signed checkpoint and "
    "the public key, in one zip anyone can check (docs/audit-package.md)",
)
def export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="the zip to write (its folder must exist)")],
    claim: Annotated[
        str | None, typer.Option("--claim", metavar="PAYER_ID:ACCOUNT", help="one claim's evidence and decisions")
    ] = None,
    item: Annotated[int | None, typer.Option("--item", help="one worklist item's evidence and decisions")] = None,
    first: Annotated[
        str | None, typer.Option("--from", metavar="DATE", help="evidence captured from this UTC day (with --to)")
    ] = None,
    last: Annotated[
        str | None, typer.Option("--to", metavar="DATE", help="to this UTC day, inclusive (with --from)")
    ] = None,
) -> int:
    from bots.evidence.index import EvidenceIndex
    from bots.evidence.package import export_package, records_captured_between, records_of_items
    from bots.evidence.setup import evidence_store, signer

    selections = (claim is not None, item is not None, first is not None or last is not None)
    if sum(selections) != 1:
        raise InputError("give exactly one of --claim PAYER_ID:ACCOUNT, --item ID, or --from DATE --to DATE")
    if (first is None) != (last is None):
        raise InputError("--from and --to go together: give both dates")
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: the folder {out.parent} does not exist")
    settings = start(invocation(ctx).settings(), quiet_logs=True)
    engine = _worklist_engine(settings)
    store = evidence_store(settings)
    index = EvidenceIndex(engine, store)
    if first is not None and last is not None:
        records = records_captured_between(index, _date("--from", first), _date("--to", last))
        what = f"evidence captured from {first} to {last}"
    else:
        item_id = _claim_item(engine, claim) if claim is not None else _known_item(engine, item)
        records = records_of_items(index, [item_id])
        what = f"evidence of claim {claim} (item {item_id})" if claim else f"evidence of item {item_id}"
    if not records:
        raise InputError(f"no {what}: nothing to export")
    summary = _write_atomic(out, lambda f: export_package(store, records, signer(settings), f))
    checkpoint = summary.checkpoint
    print(
        f"exported {what} to {out}: {summary.records} record(s), {summary.files} file(s) "
        f"({summary.bytes} bytes), {summary.removed} listed without their file (retention); "
        f"checkpoint of {checkpoint.size} record(s) at {checkpoint.time:%Y-%m-%dT%H:%M:%SZ}, "
        f"signed by key {checkpoint.key_fingerprint}"
    )
    print(f"check it: rcmbot evidence verify-package {shlex.quote(str(out))} --public-key YOUR-COPY.pem")
    return 0


@app.command("verify-package", help="check an audit package offline; exit 1 naming each problem")
def verify_package(
    package: Annotated[Path, typer.Argument(help="the package zip")],
    public_key_file: Annotated[
        Path | None,
        typer.Option("--public-key", help="the organisation's public key (PEM); default: the package's own"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON line")] = False,
) -> int:
    from bots.evidence.checkpoint import load_public_key
    from bots.evidence.package import verify_package

    key = load_public_key(public_key_file.read_bytes()) if public_key_file else None
    if not package.is_file():
        raise InputError(f"{package}: no such file")
    report = verify_package(package, key)
    if as_json:
        keys = ("records", "files", "bytes", "decisions", "checkpoint_size", "key_fingerprint", "problems", "notes")
        print_json({"ok": report.ok, **{k: getattr(report, k) for k in keys}})
        return 0 if report.ok else 1
    for line in report.problems + report.notes:
        print(line)
    print(
        f"{'OK' if report.ok else 'FAILED'}: {package}: {report.records} record(s), {report.files} file(s) "
        f"({report.bytes} bytes), {report.decisions} decision(s), checkpoint of {report.checkpoint_size} "
        f"record(s), key {report.key_fingerprint}, {len(report.problems)} problem(s)"
    )
    return 0 if report.ok else 1


@app.command(
    "open",
    help="decrypt one record's content to a private temporary file and print its path (and, for a trace, "
    "the command that shows it)",
)
def open_(
    ctx: typer.Context,
    ident: Annotated[str, typer.Argument(help="the record's seq, or 8+ hex digits of its content hash")],
) -> int:
    from bots.evidence.index import EvidenceIndex
    from bots.evidence.package import find_record, private_copy
    from bots.evidence.setup import evidence_store

    settings = start(invocation(ctx).settings(), quiet_logs=True)
    store = evidence_store(settings)
    record = find_record(EvidenceIndex(_worklist_engine(settings), store), ident)
    path = private_copy(store, record)
    print(path)
    print(
        f"seq {record.seq}, {record.kind}, {record.media_type}, {record.size} bytes, item {record.item_id}, "
        f"captured {record.captured_at:%Y-%m-%dT%H:%M:%SZ}; it holds PHI: remove {path.parent} when done"
    )
    if _is_trace(record):
        print(shlex.join([sys.executable, "-m", "playwright", "show-trace", str(path)]))
    return 0


def _is_trace(record: EvidenceRecord) -> bool:
    return record.kind == "trace" and record.media_type == "application/zip"


def _worklist_engine(settings: Settings) -> Engine:
    """The worklist database (it holds the evidence index), brought up to date when embedded."""
    from bots.worklist.db import ensure_current, open_engine

    prepare_database(settings)
    engine = open_engine(settings.worklist_url)
    ensure_current(engine)
    return engine


def _date(option: str, text: str) -> dt.date:
    from bots.evidence.package import FIRST_DAY, LAST_DAY

    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option} {text!r}: not a date (YYYY-MM-DD)") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InputError(f"{option} {text}: out of range: a capture day is from {FIRST_DAY} to {LAST_DAY}")
    return day


def _known_item(engine: Engine, item_id: int | None) -> int:
    from bots.worklist.store import WorklistStore

    # an id no item can have is not looked up: the database's integer would overflow
    if item_id is None or not 1 <= item_id <= MAX_ITEM_ID or WorklistStore(engine).item(item_id) is None:
        raise InputError(f"--item {item_id}: no such worklist item")
    return item_id


def _claim_item(engine: Engine, key: str) -> int:
    """The id of the worklist item whose unique key (payer id, account number) `key` names."""
    from sqlalchemy import select

    from bots.worklist.schema import Item
    from bots.worklist.store import WorklistStore

    payer_id, colon, account = key.partition(":")
    if not (colon and payer_id and account):
        raise InputError(f"--claim {key!r}: expected PAYER_ID:ACCOUNT, e.g. BSTM1:PA1234567")
    with WorklistStore(engine).session() as s:
        found = s.scalar(select(Item.id).where(Item.payer_id == payer_id, Item.account_number == account))
    if found is None:
        raise InputError(f"--claim {key}: no worklist item has payer id {payer_id} and account {account}")
    return found


def _write_atomic(out: Path, write: Callable[[BinaryIO], T]) -> T:
    """What `write` writes, under `out` whole or not at all: a temporary file beside it, renamed
    when complete (mode 0600: a package holds PHI)."""
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            result = write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return result
