"""The evidence store: stored objects plus an append-only log of records, the source of truth.

Layout of a local store root:
    objects/<2 hex>/<name>   the evidence. Plain: named by the SHA-256 of the content (one file
                             for identical captures). Encrypted: a random name, so identical
                             screenshots are not visibly identical on disk.
    log.jsonl                one record per line (see records.py), appended under a file lock and
                             fsync'd; the Merkle tree's leaves, in order
    relocations.jsonl        later changes of where a record's bytes are (key rotation, retention)
    checkpoints.jsonl        signed tree heads (checkpoint.py), appended after runs
    tree.json, leaves.bin    the writer's cache of the tree: its frontier, and every leaf hash (for
                             inclusion proofs); verification never trusts either

Files are written to a temporary name, fsync'd and renamed before their record is appended, so a
crash leaves at worst a file without a record (an orphan, reported by verify), never a record
without its file, and never a half-written file under its final name.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import secrets
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Protocol

from bots.core.errors import EvidenceError
from bots.evidence import merkle
from bots.evidence.checkpoint import Checkpoint, Signer
from bots.evidence.crypto import Keyring, seal, unseal
from bots.evidence.records import (
    EXTENSIONS,
    EvidenceRecord,
    Kind,
    Stored,
    parse_log_line,
    parse_relocation,
    relocation_line,
    safe_url,
)

LOG, RELOCATIONS, CHECKPOINTS = "log.jsonl", "relocations.jsonl", "checkpoints.jsonl"
TREE_CACHE, LEAF_CACHE = "tree.json", "leaves.bin"
_TAIL_READ = 64 * 1024  # enough to hold the last complete record line


class EvidenceStore(Protocol):
    def put(
        self,
        content: bytes,
        media_type: str,
        *,
        item_id: int,
        portal: str,
        page_url: str,
        run_id: str,
        flow_run_id: str | None,
        kind: Kind = "evidence",
        durable: bool = True,
    ) -> EvidenceRecord: ...

    def records(self) -> list[EvidenceRecord]: ...


def write_atomic(target: Path, content: bytes, durable: bool = True) -> None:
    """`content` under `target`, complete or not at all (and on disk when `durable`)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def locked_append(path: Path, durable: bool = True) -> Iterator[IO[bytes]]:
    """`path` open for appending under an exclusive lock (other processes append too), with a torn
    last line (a crash mid-write: never acknowledged to anybody) cut off first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        end = f.seek(0, os.SEEK_END)
        f.seek(max(0, end - _TAIL_READ))
        tail = f.read()
        if tail and not tail.endswith(b"\n"):
            f.truncate(end - len(tail) + tail.rfind(b"\n") + 1)  # rfind -1: the whole (short) file is torn
        yield f
        f.flush()
        if durable:
            os.fsync(f.fileno())


class Lines:
    """The complete lines of a file from `offset`, without their newlines (a torn last line is not
    a record yet); while and after iterating, `offset` is just past the last line given."""

    def __init__(self, path: Path, offset: int = 0) -> None:
        self.path, self.offset = path, offset

    def __iter__(self) -> Iterator[bytes]:
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            for line in f:
                if not line.endswith(b"\n"):
                    return
                self.offset += len(line)
                yield line[:-1]


def _last_seq(f: IO[bytes], path: Path) -> int | None:
    end = f.seek(0, os.SEEK_END)
    f.seek(max(0, end - _TAIL_READ))
    tail = f.read()
    complete = tail[: tail.rfind(b"\n") + 1].rstrip(b"\n")  # a torn last line is not a record yet
    if not complete:
        return None
    try:
        return parse_log_line(complete.rsplit(b"\n", 1)[-1])[1].seq
    except ValueError as exc:
        raise EvidenceError(f"{path}: the last record is unreadable, so no record can follow it") from exc


class LocalEvidenceStore:
    """An evidence store on the local file system; objects encrypted when given a keyring."""

    def __init__(self, root: Path, keyring: Keyring | None = None, *, encrypt: bool | None = None) -> None:
        self.root = root
        self.encrypt = keyring is not None if encrypt is None else encrypt
        self.objects = root / "objects"
        self.log = root / LOG
        self.relocations = root / RELOCATIONS
        self.checkpoints_file = root / CHECKPOINTS
        self.keyring = keyring
        self._lock = threading.Lock()
        self._next: tuple[int, int] | None = None  # (log size, next seq) after this process's last append

    # writing

    def put(
        self,
        content: bytes,
        media_type: str,
        *,
        item_id: int,
        portal: str,
        page_url: str,
        run_id: str,
        flow_run_id: str | None,
        kind: Kind = "evidence",
        durable: bool = True,
    ) -> EvidenceRecord:
        """Store `content` and append its record. `durable` False (bulk seeding only) skips the
        fsyncs that make a record survive a power cut once put returns."""
        if media_type not in EXTENSIONS:
            raise EvidenceError(f"unsupported media type {media_type}")
        sha = hashlib.sha256(content).hexdigest()
        stored = self._store_object(content, sha, media_type, durable)
        leaf = {
            "kind": kind,
            "sha256": sha,
            "size": len(content),
            "media_type": media_type,
            "item_id": item_id,
            "portal": portal,
            "page_url": safe_url(page_url),
            "captured_at": dt.datetime.now(dt.UTC),
            "run_id": run_id,
            "flow_run_id": flow_run_id,
            "stored": stored,
        }
        with self._lock, locked_append(self.log, durable) as f:
            record = EvidenceRecord(seq=self._next_seq(f), **leaf)
            line = record.log_line()
            f.write(line)
            self._next = (f.tell(), record.seq + 1)
        return record

    def _store_object(self, content: bytes, sha: str, media_type: str, durable: bool) -> Stored:
        if not self.encrypt:
            rel = Path("objects") / sha[:2] / f"{sha}.{EXTENSIONS[media_type]}"
            if not (self.root / rel).exists():
                write_atomic(self.root / rel, content, durable)
            return Stored(path=rel.as_posix(), sha256=sha)
        return self.seal_object(content, durable)

    def seal_object(self, content: bytes, durable: bool = True) -> Stored:
        """`content` encrypted under the keyring's current key, under a random name."""
        if self.keyring is None:
            raise EvidenceError("evidence encryption is on but no keyring was given")
        key_id = self.keyring.current_id
        data = seal(self.keyring.key(key_id), content)
        name = secrets.token_hex(16)
        rel = Path("objects") / name[:2] / f"{name}.bin"
        write_atomic(self.root / rel, data, durable)
        return Stored(path=rel.as_posix(), sha256=hashlib.sha256(data).hexdigest(), key=key_id)

    def _next_seq(self, f: IO[bytes]) -> int:
        end = f.seek(0, os.SEEK_END)
        if self._next and self._next[0] == end:
            return self._next[1]
        last = _last_seq(f, self.log)
        return 0 if last is None else last + 1

    def last_seq(self) -> int | None:
        """The sequence number of the log's last complete record (None: no record yet)."""
        try:
            with open(self.log, "rb") as f:
                return _last_seq(f, self.log)
        except FileNotFoundError:
            return None

    def relocate(self, seq: int, stored: Stored) -> None:
        """Record that record `seq`'s bytes are now kept as `stored` (None path: removed)."""
        with self._lock, locked_append(self.relocations) as f:
            f.write(relocation_line(seq, stored))

    # reading

    def lines(self, offset: int = 0) -> Lines:
        """The complete log lines from `offset`."""
        return Lines(self.log, offset)

    def moved(self) -> dict[int, Stored]:
        """Each relocated record's newest location."""
        moves: dict[int, Stored] = {}
        for line in Lines(self.relocations):
            try:
                seq, stored = parse_relocation(line)
            except ValueError:
                continue  # verify names it
            moves[seq] = stored
        return moves

    def records(self) -> list[EvidenceRecord]:
        """Every readable record, with its newest location."""
        moves, records = self.moved(), []
        for line in self.lines():
            try:
                record = parse_log_line(line)[1]
            except ValueError:
                continue  # verify names it
            records.append(record.model_copy(update={"stored": moves[record.seq]}) if record.seq in moves else record)
        return records

    def read(self, record: EvidenceRecord) -> bytes:
        """The content of a record, decrypted, and checked against its content hash."""
        if record.stored.path is None:
            raise EvidenceError(f"evidence {record.sha256[:12]} was removed at the end of its retention period")
        path = self.root / record.stored.path
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise EvidenceError(f"missing: {path}") from exc
        content = self.decrypt(record.stored, data)
        if hashlib.sha256(content).hexdigest() != record.sha256:
            raise EvidenceError(f"altered: {path} (content no longer matches sha256 {record.sha256})")
        return content

    def decrypt(self, stored: Stored, data: bytes) -> bytes:
        if stored.key is None:
            return data
        if self.keyring is None:
            raise EvidenceError(f"{stored.path} is encrypted (key {stored.key}) and no evidence key file is set")
        return unseal(self.keyring.key(stored.key), data)

    def checkpoints(self) -> list[Checkpoint]:
        found = []
        for line in Lines(self.checkpoints_file):
            try:
                found.append(Checkpoint.from_json(line.decode()))
            except ValueError:
                continue  # verify names it
        return found

    # signing

    def checkpoint(self, signer: Signer, *, force: bool = False) -> Checkpoint | None:
        """Sign the tree as it is now, when it grew since the last checkpoint (or `force`); the
        frontier is cached in tree.json so a checkpoint reads only the records added since. The
        cache is written after the checkpoint it goes with: verify relies on that order."""
        with locked_append(self.checkpoints_file) as f:
            frontier, offset = self._cached_frontier()
            new, hashes = self.lines(offset), []
            for line in new:
                try:
                    leaf = parse_log_line(line)[0]
                except ValueError as exc:
                    raise EvidenceError(
                        f"{self.log}: record {frontier.size + 1} is not readable, so it cannot be signed: "
                        "run `rcmbot evidence verify`"
                    ) from exc
                hashes.append(merkle.leaf_hash(leaf.encode()))
                frontier.append(hashes[-1])
            latest = self.checkpoints()
            if latest and frontier.size < latest[-1].size:
                raise EvidenceError(
                    f"{self.log} holds {frontier.size} records, fewer than the {latest[-1].size} the latest "
                    "checkpoint signed: run `rcmbot evidence verify`"
                )
            made = None
            if force or not latest or latest[-1].size != frontier.size:
                made = signer.sign(frontier.size, frontier.root(), dt.datetime.now(dt.UTC).replace(microsecond=0))
                f.write((made.to_json() + "\n").encode())
                f.flush()
                os.fsync(f.fileno())
            with open(self.root / LEAF_CACHE, "ab") as leaves:
                leaves.write(b"".join(hashes))
            write_atomic(self.root / TREE_CACHE, json.dumps({"offset": new.offset, **frontier.to_dict()}).encode())
            return made

    def _cached_frontier(self) -> tuple[merkle.Frontier, int]:
        """The cached frontier and the log offset it reached; an empty tree (and no cached leaves)
        when the cache is missing, damaged or out of step with the log."""
        leaves = self.root / LEAF_CACHE
        try:
            cache = json.loads((self.root / TREE_CACHE).read_bytes())
            frontier, offset = merkle.Frontier.from_dict(cache), int(cache["offset"])
            if offset <= self.log.stat().st_size and leaves.stat().st_size == frontier.size * merkle.HASH_SIZE:
                return frontier, offset
        except (OSError, ValueError, KeyError, TypeError):
            pass
        leaves.unlink(missing_ok=True)
        return merkle.Frontier(), 0

    def leaf_hashes(self, size: int) -> list[bytes]:
        """The first `size` leaf hashes, from the checkpoint writer's cache (a proof built from a
        damaged cache fails against the signed root: it never passes wrongly)."""
        with open(self.root / LEAF_CACHE, "rb") as f:
            blob = f.read(size * merkle.HASH_SIZE)
        if len(blob) != size * merkle.HASH_SIZE:
            raise EvidenceError(f"{self.root / LEAF_CACHE} holds fewer than {size} leaves: sign a checkpoint first")
        return [blob[i : i + merkle.HASH_SIZE] for i in range(0, len(blob), merkle.HASH_SIZE)]


def open_evidence_store(root: Path, keyring: Keyring | None = None) -> LocalEvidenceStore:
    """The store for a root (see setup.evidence_store for one from settings). The one switch a
    future object-storage adapter will hang off."""
    return LocalEvidenceStore(root, keyring)
