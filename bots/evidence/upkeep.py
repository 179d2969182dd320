"""Work on a whole store that leaves every leaf and checkpoint as it was: re-encryption under a
new key, and removal of evidence whose retention period ended."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bots.evidence.checkpoint import Signer
from bots.evidence.records import EvidenceRecord, Stored
from bots.evidence.store import LocalEvidenceStore
from bots.evidence.tombstones import tombstone_content


@dataclass(frozen=True)
class Rotation:
    key_id: str
    objects: int


def rotate_key(store: LocalEvidenceStore) -> Rotation:
    """Re-encrypt every stored object (plain ones too) under a fresh key that becomes current.
    Content hashes and the tree do not change: only where each record's bytes are. An object is
    read and checked against its content hash before its new copy replaces it, and the old file
    is removed as soon as no record points at it, so a crash leaves at most one orphan.
    Earlier keys stay in the keyring: a sweep that started before the rotation may still write
    with one (a second rotation moves those too)."""
    if store.keyring is None:
        raise ValueError("rotation needs a keyring")
    key_id = store.keyring.add_new()
    store.encrypt = True
    records = [r for r in store.records() if r.stored.path is not None and r.stored.key != key_id]
    users = Counter(r.stored.path for r in records)  # plain objects are shared by identical captures
    for record in records:
        content = store.read(record)
        store.relocate(record.seq, store.seal_object(content))
        path = str(record.stored.path)
        users[path] -= 1
        if not users[path]:  # at once, so a rotation cut short leaves no plain copies behind
            _remove(store, {path})
    return Rotation(key_id, len(records))


@dataclass(frozen=True)
class Expiry:
    removed: int
    tombstone: EvidenceRecord | None


def expire(store: LocalEvidenceStore, before: dt.datetime, run_id: str, signer: Signer) -> Expiry:
    """Remove the files of records captured before `before` (not in the future). A tombstone
    record (itself never removed), its listing signed by `signer`, lists them first; each record
    then points at no file; the files go last. The records stay in the log, so the tree and
    every checkpoint still verify."""
    if before > dt.datetime.now(dt.UTC):
        raise ValueError("a retention cut-off cannot be in the future")
    records = store.records()
    due = [r for r in records if r.kind != "tombstone" and r.stored.path is not None and r.captured_at < before]
    if not due:
        return Expiry(0, None)
    tombstone = store.put(
        tombstone_content([r.seq for r in due], before, signer),
        "application/json",
        item_id=0,
        portal="",
        page_url="",
        run_id=run_id,
        flow_run_id=None,
        kind="tombstone",
    )
    for record in due:
        store.relocate(record.seq, Stored(path=None))
    gone = {r.seq for r in due}
    kept = {r.stored.path for r in records if r.stored.path and r.seq not in gone}
    _remove(store, {r.stored.path for r in due if r.stored.path} - kept)
    return Expiry(len(due), tombstone)


def _remove(store: LocalEvidenceStore, paths: set[str]) -> None:
    for rel in paths:
        Path(store.root / rel).unlink(missing_ok=True)
