"""Signed checkpoints of the evidence log: "at this time the log had this many records, with
this Merkle root", signed with Ed25519.

Why: a Merkle root (merkle.py) commits to every record, but anyone who can write the store
could recompute one after altering a record. A checkpoint signed with a key kept apart from
the store, and handed out (or published) as it is made, pins the log as it was: a later
log must prove itself consistent with every checkpoint handed out, so records cannot be
changed or removed afterwards without it showing.

Why this text format: the signature covers `Checkpoint.body()`, a few plain lines that an
outside party re-creates from the checkpoint's JSON with any tool (no canonical JSON, no
library of ours), then checks with any Ed25519 verifier and our public key.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bots.core.errors import EvidenceError
from bots.evidence.crypto import create_private_file, refuse_if_shared

BODY_HEADER = "rcmbot evidence log v1"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
ROOT_SIZE = 32
SIGNATURE_SIZE = 64


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 of the raw 32-byte public key: names the key in a
    checkpoint, so a checkpoint signed by another key is told apart before any maths."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head: the log had `size` records with Merkle root `root` at `time`."""

    size: int
    root: bytes
    time: dt.datetime  # UTC, whole seconds: exactly what body() shows
    key_fingerprint: str
    signature: bytes

    def __post_init__(self) -> None:
        # Refuse what body() could not show exactly: a signature must cover every field as it is.
        if self.size < 0:
            raise ValueError(f"checkpoint size {self.size} is negative")
        if len(self.root) != ROOT_SIZE:
            raise ValueError(f"checkpoint root is {len(self.root)} bytes, not {ROOT_SIZE}")
        if self.time.utcoffset() != dt.timedelta(0) or self.time.microsecond:
            raise ValueError(f"checkpoint time {self.time} is not a UTC time in whole seconds")

    def body(self) -> bytes:
        """The exact bytes signed. An outside party re-creates them from the JSON line:

            rcmbot evidence log v1
            <size in decimal>
            <root in standard base64, with padding>
            <time as YYYY-MM-DDTHH:MM:SSZ, UTC>

        each line ending in one \\n (the last one too), UTF-8 (all ASCII in fact)."""
        root = base64.b64encode(self.root).decode()
        return f"{BODY_HEADER}\n{self.size}\n{root}\n{self.time.strftime(TIME_FORMAT)}\n".encode()

    def to_json(self) -> str:
        """One line: size, root (hex), time, key (fingerprint), signature (base64)."""
        return json.dumps(
            {
                "size": self.size,
                "root": self.root.hex(),
                "time": self.time.strftime(TIME_FORMAT),
                "key": self.key_fingerprint,
                "signature": base64.b64encode(self.signature).decode(),
            }
        )

    @classmethod
    def from_json(cls, line: str) -> Checkpoint:
        """The checkpoint `to_json` wrote; ValueError saying what is wrong otherwise."""
        try:
            data = json.loads(line)
        except ValueError:
            raise ValueError("a checkpoint line is not JSON") from None
        if not isinstance(data, dict):
            raise ValueError("a checkpoint line is not a JSON object")
        missing = [name for name in ("size", "root", "time", "key", "signature") if name not in data]
        if missing:
            raise ValueError(f"a checkpoint line lacks {', '.join(missing)}")
        return cls(
            size=_size(data["size"]),
            root=_root(data["root"]),
            time=_time(data["time"]),
            key_fingerprint=_key_fingerprint(data["key"]),
            signature=_signature(data["signature"]),
        )


def _size(value: object) -> int:
    # bool is an int in Python: refuse it so that `true` is not read as size 1.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"checkpoint size {value!r} is not a whole number >= 0")
    return value


def _root(value: object) -> bytes:
    try:
        root = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        root = b""
    if len(root) != ROOT_SIZE:
        raise ValueError(f"checkpoint root {value!r} is not {ROOT_SIZE} bytes in hex")
    return root


def _time(value: object) -> dt.datetime:
    try:
        parsed = dt.datetime.strptime(value, TIME_FORMAT) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(f"checkpoint time {value!r} is not YYYY-MM-DDTHH:MM:SSZ")
    return parsed.replace(tzinfo=dt.UTC)


def _key_fingerprint(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"checkpoint key {value!r} is not a key fingerprint")
    return value


def _signature(value: object) -> bytes:
    try:
        signature = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except binascii.Error:
        signature = b""
    if len(signature) != SIGNATURE_SIZE:
        raise ValueError(f"checkpoint signature is not {SIGNATURE_SIZE} bytes in base64")
    return signature


class Signer:
    """The private key that signs checkpoints, kept in a PEM (PKCS8) file of mode 0600."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        self.fingerprint = fingerprint(private_key.public_key())

    @classmethod
    def load_or_create(cls, path: Path) -> Signer:
        """The key at `path`, made first when the file does not exist.

        When two processes start at once, one file wins whole and both sign with it
        (see crypto.create_private_file)."""
        if not path.exists():
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            create_private_file(path, pem)
        return cls(_load_private_key(path))

    def sign(self, size: int, root: bytes, time: dt.datetime) -> Checkpoint:
        """A checkpoint of the log at `size` records with `root`, at `time` (aware; kept in
        UTC to the second, as the body shows it)."""
        if time.tzinfo is None:
            raise ValueError("a checkpoint time must carry its time zone")
        time = time.astimezone(dt.UTC).replace(microsecond=0)
        unsigned = Checkpoint(size, root, time, self.fingerprint, bytes(SIGNATURE_SIZE))
        signature = self._private_key.sign(unsigned.body())
        return Checkpoint(size, root, time, self.fingerprint, signature)

    def sign_message(self, message: bytes) -> bytes:
        """An Ed25519 signature of `message` (tombstones sign their listing this way)."""
        return self._private_key.sign(message)

    def public_pem(self) -> bytes:
        """The public key (PEM SubjectPublicKeyInfo), to hand to whoever checks checkpoints."""
        return self._private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def _load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        refuse_if_shared(path)
        pem = path.read_bytes()
    except OSError as exc:
        raise EvidenceError(f"{path}: cannot read the checkpoint signing key: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise EvidenceError(f"{path}: not an unencrypted PEM private key (the checkpoint signing key)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise EvidenceError(f"{path}: holds a {type(key).__name__}, not an Ed25519 private key")
    return key


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """The Ed25519 public key in `pem`; EvidenceError when it is not one."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise EvidenceError("the checkpoint public key is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise EvidenceError(f"the checkpoint public key is a {type(key).__name__}, not an Ed25519 key")
    return key


def message_ok(public_key: Ed25519PublicKey, message: bytes, signature: bytes) -> bool:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def signature_ok(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    """True when `public_key` signed `checkpoint` (false too when it names another key)."""
    if checkpoint.key_fingerprint != fingerprint(public_key):
        return False
    try:
        public_key.verify(checkpoint.signature, checkpoint.body())
    except InvalidSignature:
        return False
    return True
