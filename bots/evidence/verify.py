"""Verification of an evidence store: every file against its record, every record against the
tree, the tree against every signed checkpoint.

What each kind of tampering looks like here:
- an altered file: its bytes no longer hash to the record's stored hash (or, decrypted, to the
  content hash);
- an altered record: the tree's root at the next checkpoint differs from the signed one;
- an inserted, removed or reordered record: a sequence number out of place, and a root mismatch;
- a truncated tail: the log holds fewer records than a checkpoint signed;
- a rewritten history (records changed and a new checkpoint signed over them): the earlier
  checkpoints, and the checkpoint this verifier last accepted, no longer match the tree;
- a forged checkpoint: its signature does not verify under the signing key.
A file with no record (a crash between writing the file and its record) is an orphan: reported,
not a failure. `since` verifies only what was added after the last verified checkpoint, starting
from the tree frontier saved then (the saved root proves the old records are the same ones).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bots.core.errors import EvidenceError
from bots.evidence import merkle
from bots.evidence.checkpoint import Checkpoint, fingerprint, signature_ok
from bots.evidence.records import EvidenceRecord, Stored, parse_log_line, parse_relocation
from bots.evidence.store import Lines, LocalEvidenceStore, write_atomic


@dataclass
class Verified:
    """The tree as of the last checkpoint a verification accepted: where `since` starts."""

    size: int
    root: str
    log_offset: int
    relocations_offset: int
    frontier: dict[str, object]
    checkpoint_time: str

    def save(self, path: Path) -> None:
        write_atomic(path, json.dumps(self.__dict__).encode())

    @classmethod
    def load(cls, path: Path) -> Verified | None:
        try:
            return cls(**json.loads(path.read_bytes()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise EvidenceError(f"{path}: not a verification state file; remove it to verify everything") from exc


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)  # each fails verification
    notes: list[str] = field(default_factory=list)  # worth knowing, not a failure
    records: int = 0
    files: int = 0
    bytes: int = 0
    checkpoints: int = 0
    verified: Verified | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _File:
    stored: Stored
    sha256: str
    seq: int


def verify(
    store: LocalEvidenceStore,
    public_key: Ed25519PublicKey | None,
    *,
    previous: Verified | None = None,
    since: bool = False,
    workers: int | None = None,
) -> Report:
    """Verify the store (everything, or with `since` what was added after `previous`)."""
    report = Report()
    start = previous if since else None
    checkpoints = _checkpoints(store, public_key, report)
    by_size: dict[int, list[tuple[int, Checkpoint]]] = {}
    for n, cp in checkpoints:
        if start is None or cp.size > start.size:
            by_size.setdefault(cp.size, []).append((n, cp))
    latest = checkpoints[-1][1] if checkpoints else None

    frontier = merkle.Frontier.from_dict(start.frontier) if start else merkle.Frontier()
    offset = start.log_offset if start else 0
    files: dict[str, _File] = {}
    expected = frontier.size
    good_root = previous.root if previous else None
    snapshot: tuple[int, dict[str, object], str] | None = None
    line_no = expected
    log = store.lines(offset)
    for line in log:
        line_no += 1
        try:
            leaf, record = parse_log_line(line)
        except ValueError:
            report.problems.append(f"{store.log}: line {line_no}: not a valid record (altered or torn)")
            frontier.append(merkle.leaf_hash(line))
            expected += 1
            continue
        if record.seq != expected:
            report.problems.append(
                f"{store.log}: line {line_no}: record seq {record.seq} where seq {expected} belongs: "
                "a record was inserted, removed or reordered"
            )
        expected = record.seq + 1
        frontier.append(merkle.leaf_hash(leaf.encode()))
        report.records += 1
        _want_file(files, record)
        size = frontier.size
        if previous and not since and size == previous.size and frontier.root().hex() != good_root:
            report.problems.append(
                f"rewritten history: the first {size} records no longer hash to the root verified at "
                f"checkpoint time {previous.checkpoint_time}"
            )
        for n, cp in by_size.get(size, []):
            if frontier.root() != cp.root:
                report.problems.append(
                    f"{store.checkpoints_file}: checkpoint #{n} ({cp.time:%Y-%m-%dT%H:%M:%SZ}, {cp.size} records) "
                    f"does not match the log: a record among seq 0-{cp.size - 1} was altered, inserted, "
                    "removed or reordered, or the history was rewritten"
                )
        if latest is not None and size == latest.size:
            snapshot = (log.offset, frontier.to_dict(), frontier.root().hex())
    cut_below_checkpoint = latest is not None and frontier.size < latest.size
    if previous and not since and frontier.size < previous.size and not cut_below_checkpoint:
        report.problems.append(
            f"truncated: the log holds {frontier.size} records, fewer than the {previous.size} verified at "
            f"checkpoint time {previous.checkpoint_time}"
        )
    if latest is not None and cut_below_checkpoint:
        report.problems.append(
            f"truncated: {store.log} holds {frontier.size} records but checkpoint "
            f"#{checkpoints[-1][0]} signed {latest.size}: records at the end were removed"
        )
    elif latest is not None and frontier.size > latest.size:
        report.notes.append(
            f"{frontier.size - latest.size} record(s) added since the latest checkpoint (not signed yet)"
        )
    elif latest is None and frontier.size:
        report.notes.append("no checkpoint yet: the records are checked against their files only")

    relocations_offset = _relocations(store, files, start, report)
    _check_files(store, files.values(), report, workers)
    if not since:
        _orphans(store, {f.stored.path for f in files.values() if f.stored.path}, report)
    if report.ok and latest is not None and snapshot is not None:
        report.verified = Verified(
            latest.size,
            snapshot[2],
            snapshot[0],
            relocations_offset,
            snapshot[1],
            f"{latest.time:%Y-%m-%dT%H:%M:%SZ}",
        )
    elif report.ok and latest is not None and start is not None and latest.size == start.size:
        report.verified = start
    return report


def _checkpoints(
    store: LocalEvidenceStore, public_key: Ed25519PublicKey | None, report: Report
) -> list[tuple[int, Checkpoint]]:
    found: list[tuple[int, Checkpoint]] = []
    want = fingerprint(public_key) if public_key else None
    for n, line in enumerate(Lines(store.checkpoints_file), 1):
        try:
            cp = Checkpoint.from_json(line.decode())
        except (ValueError, UnicodeDecodeError) as exc:
            report.problems.append(f"{store.checkpoints_file}: line {n}: not a checkpoint ({exc})")
            continue
        if public_key is None:
            report.problems.append(f"checkpoint #{n}: no public key to check its signature against")
        elif cp.key_fingerprint != want:
            report.problems.append(f"checkpoint #{n}: signed by key {cp.key_fingerprint}, not by {want}")
        elif not signature_ok(cp, public_key):
            report.problems.append(
                f"checkpoint #{n}: the signature does not verify under key {want}: forged or altered"
            )
        if found and (cp.size < found[-1][1].size or cp.time < found[-1][1].time):
            report.problems.append(
                f"checkpoint #{n}: {cp.size} records at {cp.time:%Y-%m-%dT%H:%M:%SZ} comes after "
                f"#{found[-1][0]} with {found[-1][1].size}: history rewritten"
            )
        found.append((n, cp))
    report.checkpoints = len(found)
    return found


def _want_file(files: dict[str, _File], record: EvidenceRecord) -> None:
    key = record.stored.path or f"expired:{record.seq}"
    files.setdefault(key, _File(record.stored, record.sha256, record.seq))


def _relocations(store: LocalEvidenceStore, files: dict[str, _File], start: Verified | None, report: Report) -> int:
    """Apply later locations (rotation, retention); with `start`, only those written since, and
    each relocated older record's file is checked again. The offset read up to."""
    moves = Lines(store.relocations, start.relocations_offset if start else 0)
    by_seq = {f.seq: key for key, f in files.items()}
    older: dict[int, Stored] = {}  # relocated records from before `start`: their content hash is in the log
    for line in moves:
        try:
            seq, stored = parse_relocation(line)
        except ValueError:
            report.problems.append(f"{store.relocations}: a line is not a relocation")
            continue
        old = files.pop(by_seq.pop(seq, ""), None)
        if old is None:
            older[seq] = stored
            continue
        key = stored.path or f"expired:{seq}"
        files[key] = _File(stored, old.sha256, seq)
        by_seq[seq] = key
    for line in store.lines() if older else ():
        try:
            record = parse_log_line(line)[1]
        except ValueError:
            continue
        if record.seq in older:
            stored = older.pop(record.seq)
            files[stored.path or f"expired:{record.seq}"] = _File(stored, record.sha256, record.seq)
    for seq in older:
        report.problems.append(f"{store.relocations}: relocates seq {seq}, which the log does not hold")
    return moves.offset


def _check_files(store: LocalEvidenceStore, files: Iterable[_File], report: Report, workers: int | None) -> None:
    def check(file: _File) -> tuple[str | None, int]:
        if file.stored.path is None:
            return None, 0  # removed at the end of its retention period: its record stays
        path = store.root / file.stored.path
        try:
            data = path.read_bytes()
        except OSError:
            return f"missing: {path} (record seq {file.seq})", 0
        if hashlib.sha256(data).hexdigest() != file.stored.sha256:
            return f"altered: {path} (record seq {file.seq}: its bytes no longer hash to {file.stored.sha256})", len(
                data
            )
        if file.stored.key is not None:
            try:
                content = store.decrypt(file.stored, data)
            except EvidenceError as exc:
                return f"altered: {path} (record seq {file.seq}: {exc})", len(data)
            if hashlib.sha256(content).hexdigest() != file.sha256:
                return f"altered: {path} (record seq {file.seq}: content no longer matches sha256 {file.sha256})", len(
                    data
                )
        elif file.stored.sha256 != file.sha256:
            return f"altered record: seq {file.seq} names content {file.sha256} stored as {file.stored.sha256}", 0
        return None, len(data)

    # hashlib and AES-GCM release the GIL on large buffers: threads use every core
    with ThreadPoolExecutor(workers or os.cpu_count() or 2) as pool:
        for problem, size in pool.map(check, files):
            report.files += 1
            report.bytes += size
            if problem:
                report.problems.append(problem)


def _orphans(store: LocalEvidenceStore, recorded: set[str], report: Report) -> None:
    if not store.objects.exists():
        return
    for folder in sorted(os.scandir(store.objects), key=lambda e: e.name):
        if not folder.is_dir():
            continue
        for entry in sorted(os.scandir(folder.path), key=lambda e: e.name):
            rel = f"objects/{folder.name}/{entry.name}"
            if entry.is_file() and not entry.name.startswith(".tmp-") and rel not in recorded:
                report.notes.append(f"orphan: {store.root / rel} (stored without a record: a crash between the writes)")
