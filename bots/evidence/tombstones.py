"""Tombstones: the signed proof that evidence files were removed on purpose.

Retention removes a file only after appending a tombstone record whose content lists the
records removed and the capture cut-off, signed with the checkpoint key. Verification accepts a
record without its file only when a tombstone proves it: a valid signature under the public
key, a cut-off no later than the tombstone's own capture and after the record's, and only
records that came before the tombstone. Anybody can append a record to the log; only the
signing key can prove a removal.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bots.core.errors import EvidenceError
from bots.evidence.checkpoint import Signer, fingerprint, message_ok
from bots.evidence.records import EvidenceRecord
from bots.evidence.store import LocalEvidenceStore

HEADER = b"rcmbot evidence tombstone v1\n"  # what is signed: this, then the listing's compact JSON
REASON = "retention period ended"


def _signed_text(reason: str, captured_before: str, seqs: list[int]) -> bytes:
    listing = {"captured_before": captured_before, "reason": reason, "seqs": seqs}
    return HEADER + json.dumps(listing, sort_keys=True, separators=(",", ":")).encode()


def tombstone_content(seqs: list[int], captured_before: dt.datetime, signer: Signer) -> bytes:
    """The JSON a tombstone record holds: its listing, the key and the signature."""
    before = captured_before.astimezone(dt.UTC).isoformat()
    signature = signer.sign_message(_signed_text(REASON, before, seqs))
    listing = {"reason": REASON, "captured_before": before, "seqs": seqs}
    return json.dumps(
        {**listing, "key": signer.fingerprint, "signature": base64.b64encode(signature).decode()}
    ).encode()


@dataclass(frozen=True)
class Listing:
    seqs: frozenset[int]
    captured_before: dt.datetime


def proven_listing(content: bytes, seq: int, captured_at: dt.datetime, public_key: Ed25519PublicKey | None) -> Listing:
    """What the tombstone record `seq` (captured at `captured_at`, holding `content`) proves was
    removed; EvidenceError saying why it proves nothing."""
    if public_key is None:
        raise EvidenceError(f"tombstone seq {seq}: no public key to check its signature against")
    try:
        data = json.loads(content)
        reason, before, seqs = str(data["reason"]), str(data["captured_before"]), [int(s) for s in data["seqs"]]
        signature = base64.b64decode(data["signature"], validate=True)
        cutoff = dt.datetime.fromisoformat(before)
    except (ValueError, KeyError, TypeError) as exc:
        raise EvidenceError(f"tombstone seq {seq}: not a tombstone listing") from exc
    if data.get("key") != fingerprint(public_key) or not message_ok(
        public_key, _signed_text(reason, before, seqs), signature
    ):
        raise EvidenceError(f"tombstone seq {seq}: its signature does not verify: forged or altered")
    if cutoff.tzinfo is None or cutoff > captured_at or any(listed >= seq for listed in seqs):
        raise EvidenceError(f"tombstone seq {seq}: lists records or a cut-off from after itself")
    return Listing(frozenset(seqs), cutoff)


def read_listing(store: LocalEvidenceStore, record: EvidenceRecord, public_key: Ed25519PublicKey | None) -> Listing:
    return proven_listing(store.read(record), record.seq, record.captured_at, public_key)


def unproven(removed: dict[int, dt.datetime], listings: list[Listing]) -> list[int]:
    """The seqs among `removed` (seq -> capture time) that no listing proves."""
    proof: dict[int, dt.datetime] = {}
    for listing in listings:
        for seq in listing.seqs:
            proof[seq] = max(listing.captured_before, proof.get(seq, listing.captured_before))
    return sorted(seq for seq, captured in removed.items() if seq not in proof or captured >= proof[seq])
