"""Evidence room: every evidence write goes through an EvidenceStore."""

from bots.evidence.store import EvidenceRecord, EvidenceStore, LocalEvidenceStore, open_evidence_store, safe_url

__all__ = [
    "EvidenceRecord",
    "EvidenceStore",
    "LocalEvidenceStore",
    "open_evidence_store",
    "safe_url",
]
