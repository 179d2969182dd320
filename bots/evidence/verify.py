"""Verification of an evidence store: every file against its record, every record against the
tree, the tree against every signed checkpoint.

What each kind of tampering looks like here:
- an altered file: its bytes no longer hash to the record's stored hash (or, decrypted, to the
  content hash);
- a record re-pointed at another file: a plain record not stored where its content hash says,
  or two records sharing one encrypted object;
- a file removed without a tombstone listing its record (retention writes one first);
- an altered record: the tree's root at the next checkpoint differs from the signed one;
- an inserted, removed or reordered record: a sequence number out of place, and a root mismatch;
- a truncated tail: the log holds fewer records than a checkpoint signed;
- a rewritten history (records changed and a new checkpoint signed over them): the earlier
  checkpoints, and the checkpoint this verifier last accepted, no longer match the tree;
- removed checkpoints: the checkpoint last verified is gone, or the writer's own cache says it
  signed more records than the latest checkpoint left holds;
- a forged checkpoint: its signature does not verify under the signing key.
A file with no record (a crash between writing the file and its record) is an orphan: reported,
not a failure. `since` verifies only what was added after the last verified checkpoint, starting
from the tree frontier saved then (the saved root proves the old records are the same ones), and
checks that the log and the checkpoints still reach that far.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bots.core.errors import EvidenceError
from bots.evidence import merkle
from bots.evidence.checkpoint import Checkpoint, fingerprint, signature_ok
from bots.evidence.records import EvidenceRecord, Stored, parse_log_line, parse_relocation
from bots.evidence.store import TREE_CACHE, Lines, LocalEvidenceStore, write_atomic
from bots.evidence.tombstones import read_listing, unproven


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
            state = cls(**json.loads(path.read_bytes()))
            merkle.Frontier.from_dict(state.frontier)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise EvidenceError(f"{path}: not a verification state file; remove it to verify everything") from exc
        if min(state.size, state.log_offset, state.relocations_offset) < 0:
            raise EvidenceError(f"{path}: not a verification state file; remove it to verify everything")
        return state


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


@dataclass(frozen=True)
class _File:
    """A record whose stored object is to be checked (or whose removal is to be justified)."""

    seq: int
    sha256: str
    media_type: str
    captured_at: dt.datetime
    stored: Stored


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
    latest = checkpoints[-1][1] if checkpoints else None
    if previous is not None:
        _still_there(store, checkpoints, previous, report)
    if start is not None and not _log_reaches(store, start, report):
        return report
    _writer_signed(store, latest, report)

    by_size: dict[int, list[tuple[int, Checkpoint]]] = {}
    for n, cp in checkpoints:
        if start is None or cp.size > start.size:
            by_size.setdefault(cp.size, []).append((n, cp))
    frontier = merkle.Frontier.from_dict(start.frontier) if start else merkle.Frontier()
    files: dict[int, _File] = {}
    tombstones: list[EvidenceRecord] = []
    expected = frontier.size
    snapshot: tuple[int, dict[str, object], str] | None = None
    log = store.lines(start.log_offset if start else 0)
    for line_no, line in enumerate(log, expected + 1):
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
        files[record.seq] = _File(record.seq, record.sha256, record.media_type, record.captured_at, record.stored)
        if record.kind == "tombstone":
            tombstones.append(record)
        size = frontier.size
        if previous and not since and size == previous.size and frontier.root().hex() != previous.root:
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
    _ends(store, frontier.size, checkpoints, previous if not since else None, report)

    relocations_offset = _relocations(store, files, tombstones, start, report)
    _check_files(store, files, tombstones, public_key, report, workers)
    if not since:
        _orphans(store, {f.stored.path for f in files.values() if f.stored.path}, report)
    if report.ok and latest is not None and snapshot is not None:
        report.verified = Verified(
            latest.size, snapshot[2], snapshot[0], relocations_offset, snapshot[1], f"{latest.time:%Y-%m-%dT%H:%M:%SZ}"
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


def _still_there(
    store: LocalEvidenceStore, checkpoints: list[tuple[int, Checkpoint]], previous: Verified, report: Report
) -> None:
    """The checkpoint this verifier accepted before must still be on record: removing checkpoints
    would otherwise unprotect the records they signed."""
    if not any(cp.size == previous.size and cp.root.hex() == previous.root for _, cp in checkpoints):
        report.problems.append(
            f"{store.checkpoints_file}: the checkpoint verified before ({previous.size} records, "
            f"{previous.checkpoint_time}) is gone or changed: checkpoints were removed or rewritten"
        )


def _log_reaches(store: LocalEvidenceStore, start: Verified, report: Report) -> bool:
    """For `since`: the log and the relocations still hold every byte verified before (a shorter
    or replaced file would otherwise look like one with nothing new)."""
    intact = True
    for path, offset in ((store.log, start.log_offset), (store.relocations, start.relocations_offset)):
        if not _reaches(path, offset):
            intact = False
            report.problems.append(
                f"truncated: {path} no longer reaches what was verified at checkpoint time "
                f"{start.checkpoint_time}: verify everything to see what changed"
            )
    return intact


def _reaches(path: Path, offset: int) -> bool:
    if offset == 0:
        return True
    try:
        with open(path, "rb") as f:
            f.seek(offset - 1)
            return f.read(1) == b"\n"
    except OSError:
        return False


def _writer_signed(store: LocalEvidenceStore, latest: Checkpoint | None, report: Report) -> None:
    """The checkpoint writer's cache is written after the checkpoint it went with, so it never
    holds more records than the latest checkpoint, unless checkpoints were removed since."""
    try:
        cached = int(json.loads((store.root / TREE_CACHE).read_bytes())["size"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    if cached > (latest.size if latest else 0):
        report.problems.append(
            f"{store.checkpoints_file}: its latest checkpoint signs {latest.size if latest else 0} records, but "
            f"checkpoints of {cached} were written: checkpoints were removed"
        )


def _ends(
    store: LocalEvidenceStore,
    size: int,
    checkpoints: list[tuple[int, Checkpoint]],
    previous: Verified | None,
    report: Report,
) -> None:
    latest = checkpoints[-1][1] if checkpoints else None
    if latest is not None and size < latest.size:
        report.problems.append(
            f"truncated: {store.log} holds {size} records but checkpoint "
            f"#{checkpoints[-1][0]} signed {latest.size}: records at the end were removed"
        )
    elif previous is not None and size < previous.size:
        report.problems.append(
            f"truncated: the log holds {size} records, fewer than the {previous.size} verified at "
            f"checkpoint time {previous.checkpoint_time}"
        )
    elif latest is not None and size > latest.size:
        report.notes.append(f"{size - latest.size} record(s) added since the latest checkpoint (not signed yet)")
    elif latest is None and size:
        report.notes.append("no checkpoint yet: the records are checked against their files only")


def _relocations(
    store: LocalEvidenceStore,
    files: dict[int, _File],
    tombstones: list[EvidenceRecord],
    start: Verified | None,
    report: Report,
) -> int:
    """Apply later locations (rotation, retention); with `start`, only those written since, and
    each relocated older record's file is checked again. The offset read up to."""
    moves = Lines(store.relocations, start.relocations_offset if start else 0)
    older: dict[int, Stored] = {}  # relocated records from before `start`: their content hash is in the log
    for n, line in enumerate(moves, 1):
        try:
            seq, stored = parse_relocation(line)
        except ValueError:
            report.problems.append(f"{store.relocations}: line {n} (from the offset read): not a relocation")
            continue
        if seq in files:
            files[seq] = _File(seq, files[seq].sha256, files[seq].media_type, files[seq].captured_at, stored)
        else:
            older[seq] = stored
    need_tombstones = start is not None and any(f.stored.path is None for f in files.values())
    if older or need_tombstones:  # one pass over the whole log: rare (after a rotation or retention)
        for line in store.lines():
            try:
                record = parse_log_line(line)[1]
            except ValueError:
                continue
            if record.seq in older:
                stored = older.pop(record.seq)
                files[record.seq] = _File(record.seq, record.sha256, record.media_type, record.captured_at, stored)
            if need_tombstones and record.kind == "tombstone" and record.seq not in files:
                tombstones.append(record)
    for seq in older:
        report.problems.append(f"{store.relocations}: relocates seq {seq}, which the log does not hold")
    return moves.offset


def _check_files(
    store: LocalEvidenceStore,
    files: dict[int, _File],
    tombstones: list[EvidenceRecord],
    public_key: Ed25519PublicKey | None,
    report: Report,
    workers: int | None,
) -> None:
    by_path: dict[str, list[_File]] = {}
    removed = [f for f in files.values() if f.stored.path is None]
    for file in files.values():
        if file.stored.path is not None:
            by_path.setdefault(file.stored.path, []).append(file)
    for path, sharing in by_path.items():
        if sharing[0].stored.key is not None and len(sharing) > 1:
            seqs = ", ".join(str(f.seq) for f in sharing[:5]) + (
                f" and {len(sharing) - 5} more" if len(sharing) > 5 else ""
            )
            report.problems.append(f"records seq {seqs} share one encrypted object {path}: a record was re-pointed")
        for file in sharing:
            if file.stored.key is None and not file.stored.content_addressed(file.sha256, file.media_type):
                report.problems.append(
                    f"altered record: seq {file.seq} is stored at {path}, not where content {file.sha256} lives"
                )
    _justify_removals(store, removed, tombstones, public_key, report)

    def check(path: str) -> tuple[list[str], int]:
        full = store.root / path
        try:
            data = full.read_bytes()
        except OSError:
            return [f"missing: {full} (record seq {f.seq})" for f in by_path[path]], 0
        problems = []
        for file in by_path[path]:
            if hashlib.sha256(data).hexdigest() != file.stored.sha256:
                problems.append(
                    f"altered: {full} (record seq {file.seq}: its bytes no longer hash to {file.stored.sha256})"
                )
            elif file.stored.key is not None:
                try:
                    content = store.decrypt(file.stored, data)
                except EvidenceError as exc:
                    problems.append(f"altered: {full} (record seq {file.seq}: {exc})")
                    continue
                if hashlib.sha256(content).hexdigest() != file.sha256:
                    problems.append(f"altered: {full} (record seq {file.seq}: content no longer matches {file.sha256})")
        return problems, len(data)

    # hashlib and AES-GCM release the GIL on large buffers: threads use every core
    with ThreadPoolExecutor(workers or os.cpu_count() or 2) as pool:
        for problems, size in pool.map(check, by_path):
            report.files += 1
            report.bytes += size
            report.problems += problems


def _justify_removals(
    store: LocalEvidenceStore,
    removed: list[_File],
    tombstones: list[EvidenceRecord],
    public_key: Ed25519PublicKey | None,
    report: Report,
) -> None:
    """A record without its file must be proven removed by a signed tombstone (tombstones.py)."""
    if not removed:
        return
    listings = []
    for tombstone in tombstones:
        try:
            listings.append(read_listing(store, tombstone, public_key))
        except EvidenceError as exc:
            report.problems.append(f"{exc}, so the removals it lists are not proven")
    for seq in unproven({f.seq: f.captured_at for f in removed}, listings):
        report.problems.append(f"removed: the file of record seq {seq} is gone and no signed tombstone proves why")


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
