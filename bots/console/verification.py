"""What the auditor's timeline says of each evidence record: its file read, decrypted and
compared with its content hash, and its leaf proved under the latest signed checkpoint with the
console's one `Verifier` (its Merkle tree built once per checkpoint)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bots.core.errors import EvidenceError
from bots.core.settings import Settings
from bots.evidence.checkpoint import Checkpoint
from bots.evidence.proofs import Proofs
from bots.evidence.records import EvidenceRecord
from bots.evidence.setup import public_key
from bots.evidence.store import LocalEvidenceStore
from bots.evidence.tombstones import read_listing, unproven

Verdict = Literal["verified", "altered", "removed", "unsigned", "unchecked"]
LABELS: dict[str, str] = {
    "verified": "verified",
    "altered": "altered",
    "removed": "removed by retention",
    "unsigned": "not yet signed",
    "unchecked": "signature not checked",
}


@dataclass(frozen=True)
class Check:
    """One record's verification: its file against its content hash, and its leaf against the
    latest signed checkpoint."""

    state: Verdict
    file: str  # what reading the file found, in words
    checkpoint: Checkpoint | None = None
    included: bool = False
    signed: bool = False

    @property
    def label(self) -> str:
        return LABELS[self.state]


class Verifier:
    """The console's one Proofs, made on first use: the public key may appear after the console
    started (the first checkpoint creates the signing key), so it is looked up until found."""

    def __init__(self, settings: Settings, store: LocalEvidenceStore) -> None:
        self.settings, self.store = settings, store
        self._lock = threading.Lock()
        self._proofs: Proofs | None = None

    def proofs(self) -> Proofs:
        with self._lock:
            if self._proofs is None:
                self._proofs = Proofs(self.store, self._key())
            elif self._proofs.public_key is None:
                self._proofs.public_key = self._key()
            return self._proofs

    def _key(self) -> Ed25519PublicKey | None:
        try:
            return public_key(self.settings)
        except EvidenceError:
            return None  # an unreadable key file: every record says "signature not checked"

    def verify(
        self, records: Iterable[EvidenceRecord], tombstones: Iterable[EvidenceRecord] = ()
    ) -> tuple[dict[int, Check], dict[int, bytes]]:
        """Each record's Check by seq, and the content of its JSON records (decisions), read once.
        A record without its file is "removed by retention" only when one of `tombstones` proves
        it (signed with the checkpoint key); else it is as good as altered."""
        proofs = self.proofs()
        checkpoint = proofs.latest()
        checks: dict[int, Check] = {}
        contents: dict[int, bytes] = {}
        records = list(records)
        unproven_removals = set(self._unproven(records, tombstones, proofs.public_key))
        for record in records:
            if record.seq in unproven_removals:
                checks[record.seq] = Check("altered", "the file is gone and no signed tombstone proves why", checkpoint)
                continue
            file, content = self._read(record)
            if content is not None and record.media_type == "application/json":
                contents[record.seq] = content
            checks[record.seq] = self._prove(proofs, checkpoint, record, file, content is not None)
        return checks, contents

    def _unproven(
        self, records: list[EvidenceRecord], tombstones: Iterable[EvidenceRecord], key: Ed25519PublicKey | None
    ) -> list[int]:
        removed = {r.seq: r.captured_at for r in records if r.stored.path is None}
        if not removed:
            return []
        listings = []
        for tombstone in tombstones:
            try:
                listings.append(read_listing(self.store, tombstone, key))
            except EvidenceError:
                continue  # a forged or unreadable tombstone proves nothing
        return unproven(removed, listings)

    def _read(self, record: EvidenceRecord) -> tuple[str, bytes | None]:
        if record.stored.path is None:
            return "removed at the end of its retention period", None
        if not (self.store.root / record.stored.path).is_file():
            return "the file is missing", None
        try:
            return "the file matches its hash", self.store.read(record)
        except EvidenceError as exc:
            reason = "cannot be decrypted" if "decrypt" in str(exc) else "no longer matches its hash"
            return f"the file {reason}", None

    @staticmethod
    def _prove(proofs: Proofs, checkpoint: Checkpoint | None, record: EvidenceRecord, file: str, read: bool) -> Check:
        removed = record.stored.path is None
        if checkpoint is None or record.seq >= checkpoint.size:
            return Check("removed" if removed else "unsigned" if read else "altered", file, checkpoint)
        try:
            proof = proofs.inclusion(record, checkpoint)
        except EvidenceError:
            return Check("unchecked", f"{file}; the tree's cache cannot prove it", checkpoint)
        if removed:
            state: Verdict = "removed"
        elif not read or not proof.included:
            state = "altered"
        elif proofs.public_key is None:
            state = "unchecked"
        else:
            state = "verified" if proof.signed else "altered"
        return Check(state, file, checkpoint, proof.included, proof.signed)
