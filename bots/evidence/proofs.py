"""Inclusion proofs of records against the latest signed checkpoint, for the console and for
audit packages. The tree is built once per checkpoint from the writer's cache of leaf hashes
(about a second for a million records) and kept until a newer checkpoint appears."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bots.evidence import merkle
from bots.evidence.checkpoint import Checkpoint, signature_ok
from bots.evidence.records import EvidenceRecord
from bots.evidence.store import LocalEvidenceStore


@dataclass(frozen=True)
class Inclusion:
    """Where a record stands: the checkpoint it was checked against (None: not signed yet), its
    audit path, and whether the path leads to that checkpoint's signed root."""

    checkpoint: Checkpoint | None
    signed: bool  # the checkpoint's signature verifies
    proof: list[bytes]
    included: bool


class Proofs:
    def __init__(self, store: LocalEvidenceStore, public_key: Ed25519PublicKey | None) -> None:
        self.store, self.public_key = store, public_key
        self._lock = threading.Lock()
        self._tree: tuple[int, merkle.Tree] | None = None

    def latest(self) -> Checkpoint | None:
        found = self.store.checkpoints()
        return found[-1] if found else None

    def tree(self, checkpoint: Checkpoint) -> merkle.Tree:
        with self._lock:
            if self._tree is None or self._tree[0] != checkpoint.size:
                self._tree = (checkpoint.size, merkle.Tree(self.store.leaf_hashes(checkpoint.size)))
            return self._tree[1]

    def inclusion(self, record: EvidenceRecord, checkpoint: Checkpoint | None = None) -> Inclusion:
        checkpoint = checkpoint or self.latest()
        if checkpoint is None or record.seq >= checkpoint.size:
            return Inclusion(checkpoint, False, [], False)
        signed = self.public_key is not None and signature_ok(checkpoint, self.public_key)
        proof = self.tree(checkpoint).inclusion_proof(record.seq, checkpoint.size)
        leaf = merkle.leaf_hash(record.leaf().encode())
        included = merkle.verify_inclusion(leaf, record.seq, checkpoint.size, proof, checkpoint.root)
        return Inclusion(checkpoint, signed, proof, included)
