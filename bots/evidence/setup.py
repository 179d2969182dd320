"""The evidence store, keyring and signing key a set of settings describes: the one place that
knows where the keys live."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.engine import Engine

from bots.core.errors import EvidenceError
from bots.core.settings import Settings
from bots.evidence.checkpoint import Checkpoint, Signer, load_public_key
from bots.evidence.crypto import Keyring
from bots.evidence.index import EvidenceIndex
from bots.evidence.store import LocalEvidenceStore


def evidence_store(settings: Settings) -> LocalEvidenceStore:
    """The store; new objects encrypted when the setting is on, and also once a keyring exists
    (a store that holds encrypted evidence stays encrypted: one that switched back would keep
    new captures in plain beside the encrypted ones)."""
    path = settings.evidence_key_path
    encrypt = settings.evidence.encryption or path.exists()
    return LocalEvidenceStore(settings.evidence_path, Keyring.load_or_create(path) if encrypt else None)


def signer(settings: Settings) -> Signer:
    return Signer.load_or_create(settings.signing_key_path)


def public_key(settings: Settings) -> Ed25519PublicKey | None:
    """The key checkpoints are verified against: an auditor's own copy when set, else the signing
    key's public half (None when no checkpoint was ever signed here)."""
    if settings.evidence.public_key_file:
        path = settings.path(settings.evidence.public_key_file)
        try:
            return load_public_key(path.read_bytes())
        except OSError as exc:
            raise EvidenceError(f"{path}: cannot read the public key: {exc.strerror}") from exc
    if not settings.signing_key_path.exists():
        return None
    return load_public_key(signer(settings).public_pem())


def after_run(settings: Settings, store: LocalEvidenceStore, engine: Engine) -> Checkpoint | None:
    """What every run ends with: the index caught up with what it stored, and the tree as it is
    now signed (None when nothing was added since the last checkpoint)."""
    EvidenceIndex(engine, store).sync()
    return store.checkpoint(signer(settings))
