"""Evidence room: every evidence write goes through an EvidenceStore."""

from bots.evidence.store import (
    EvidenceFile,
    EvidenceRecord,
    EvidenceStore,
    LocalEvidenceStore,
    locate,
    open_evidence_store,
    safe_url,
)

__all__ = [
    "EvidenceFile",
    "EvidenceRecord",
    "EvidenceStore",
    "LocalEvidenceStore",
    "locate",
    "open_evidence_store",
    "safe_url",
]
