"""Evidence room: every evidence write goes through an EvidenceStore; its log of records is an
RFC 6962 Merkle tree whose signed checkpoints make any later change visible (verify.py)."""

from typing import TYPE_CHECKING

from bots.core.lazy import lazy_exports
from bots.evidence.records import (
    EXTENSIONS,
    SHA256,
    EvidenceRecord,
    Kind,
    Stored,
    parse_log_line,
    parse_relocation,
    safe_url,
)
from bots.evidence.store import EvidenceStore, Lines, LocalEvidenceStore, open_evidence_store

if TYPE_CHECKING:
    from bots.evidence.checkpoint import Checkpoint, Signer, fingerprint, load_public_key, signature_ok
    from bots.evidence.crypto import Keyring, create_private_file, seal, unseal
    from bots.evidence.index import EvidenceIndex, EvidenceQuery
    from bots.evidence.merkle import Frontier, Tree, leaf_hash, node_hash, verify_consistency, verify_inclusion
    from bots.evidence.package import (
        PackageSummary,
        export_package,
        find_record,
        private_copy,
        records_captured_between,
        records_of_items,
        verify_package,
    )
    from bots.evidence.proofs import Inclusion, Proofs
    from bots.evidence.setup import after_run, evidence_store, public_key, signer
    from bots.evidence.tombstones import read_listing, tombstone_content, unproven
    from bots.evidence.upkeep import Expiry, Rotation, expire, rotate_key
    from bots.evidence.verify import Report, Verified

__all__ = [
    "Checkpoint",
    "EXTENSIONS",
    "EvidenceIndex",
    "EvidenceQuery",
    "EvidenceRecord",
    "EvidenceStore",
    "Expiry",
    "Frontier",
    "Inclusion",
    "Keyring",
    "Kind",
    "Lines",
    "LocalEvidenceStore",
    "PackageSummary",
    "Proofs",
    "Report",
    "Rotation",
    "SHA256",
    "Signer",
    "Stored",
    "Tree",
    "Verified",
    "after_run",
    "create_private_file",
    "evidence_store",
    "expire",
    "export_package",
    "find_record",
    "fingerprint",
    "leaf_hash",
    "load_public_key",
    "node_hash",
    "open_evidence_store",
    "parse_log_line",
    "parse_relocation",
    "private_copy",
    "public_key",
    "read_listing",
    "records_captured_between",
    "records_of_items",
    "rotate_key",
    "safe_url",
    "seal",
    "signature_ok",
    "signer",
    "tombstone_content",
    "unproven",
    "unseal",
    "verify_consistency",
    "verify_inclusion",
    "verify_package",
]

# cryptography and SQLAlchemy load only when a command signs, verifies, encrypts or searches
_MODULES = {
    "Checkpoint": "bots.evidence.checkpoint",
    "Signer": "bots.evidence.checkpoint",
    "fingerprint": "bots.evidence.checkpoint",
    "load_public_key": "bots.evidence.checkpoint",
    "signature_ok": "bots.evidence.checkpoint",
    "Keyring": "bots.evidence.crypto",
    "EvidenceIndex": "bots.evidence.index",
    "EvidenceQuery": "bots.evidence.index",
    "Inclusion": "bots.evidence.proofs",
    "Proofs": "bots.evidence.proofs",
    "after_run": "bots.evidence.setup",
    "evidence_store": "bots.evidence.setup",
    "public_key": "bots.evidence.setup",
    "signer": "bots.evidence.setup",
    "read_listing": "bots.evidence.tombstones",
    "tombstone_content": "bots.evidence.tombstones",
    "unproven": "bots.evidence.tombstones",
    "Expiry": "bots.evidence.upkeep",
    "Rotation": "bots.evidence.upkeep",
    "expire": "bots.evidence.upkeep",
    "rotate_key": "bots.evidence.upkeep",
    "Report": "bots.evidence.verify",
    "Verified": "bots.evidence.verify",
    "Frontier": "bots.evidence.merkle",
    "Tree": "bots.evidence.merkle",
    "leaf_hash": "bots.evidence.merkle",
    "node_hash": "bots.evidence.merkle",
    "verify_consistency": "bots.evidence.merkle",
    "verify_inclusion": "bots.evidence.merkle",
    "create_private_file": "bots.evidence.crypto",
    "seal": "bots.evidence.crypto",
    "unseal": "bots.evidence.crypto",
    "PackageSummary": "bots.evidence.package",
    "export_package": "bots.evidence.package",
    "find_record": "bots.evidence.package",
    "private_copy": "bots.evidence.package",
    "records_captured_between": "bots.evidence.package",
    "records_of_items": "bots.evidence.package",
    "verify_package": "bots.evidence.package",
}

__getattr__ = lazy_exports(__name__, _MODULES)
