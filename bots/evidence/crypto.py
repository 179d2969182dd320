"""Encryption at rest of evidence files, with AES-256-GCM, and the key file that holds the keys.

Why: evidence is screenshots and pages of payer portals, full of patient data. Encrypting
each file means a copied disk or a leaked backup of the store shows nothing; only a machine
with the key file reads it. GCM also authenticates: a changed byte makes decryption fail
rather than return altered evidence.

Why a keyring and not one key: keys are rotated (`add_new`), and evidence sealed under an
old key must still open, so each sealed file records the id of its key and the keyring keeps
every key until its evidence is gone (`drop`).

The key file is a secret: it is created with mode 0600, refused when group or others may
read it, and always written whole (temporary file, fsync, rename), so a crash never leaves a
half-written key file and a reader never sees one.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import fcntl
import json
import os
import secrets
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bots.core.errors import EvidenceError

KEY_SIZE = 32  # AES-256
NONCE_SIZE = 12  # the GCM standard nonce; random, so 2**32 seals per key stay far from a repeat
TAG_SIZE = 16
# Binds a sealed file to this use: bytes sealed by another program under the same key do not open.
ASSOCIATED_DATA = b"rcmbot-evidence-v1"
README_HINT = "see README 'Evidence encryption'"


def seal(key: bytes, plaintext: bytes) -> bytes:
    """nonce (12 random bytes) || AES-256-GCM ciphertext and tag of `plaintext`."""
    _check_key_size(key)
    nonce = os.urandom(NONCE_SIZE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, ASSOCIATED_DATA)


def unseal(key: bytes, stored: bytes) -> bytes:
    """The plaintext `seal` sealed; EvidenceError when the key is wrong or a byte changed."""
    _check_key_size(key)
    if len(stored) < NONCE_SIZE + TAG_SIZE:
        raise EvidenceError("cannot decrypt: wrong key or altered bytes")
    nonce, ciphertext = stored[:NONCE_SIZE], stored[NONCE_SIZE:]
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, ASSOCIATED_DATA)
    except InvalidTag:
        raise EvidenceError("cannot decrypt: wrong key or altered bytes") from None


def _check_key_size(key: bytes) -> None:
    # A programming error, not a user's: keys come from a Keyring, which checks them on load.
    if len(key) != KEY_SIZE:
        raise ValueError(f"an evidence key is {KEY_SIZE} bytes, not {len(key)}")


# -- private files (the key file here, the signing key in checkpoint.py) ----------------------


def refuse_if_shared(path: Path) -> None:
    """EvidenceError when group or others have any access to the secret at `path`."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise EvidenceError(
            f"{path}: permissions {mode:04o} let group or others read this secret; run: chmod 600 {path}"
        )


def _write_temp(folder: Path, data: bytes) -> Path:
    """`data` in a new, fsync'd, 0600 file in `folder` (same file system, so it can be renamed
    or linked into place)."""
    fd, name = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".key")  # mkstemp: mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def _sync_folder(folder: Path) -> None:
    # The rename or link itself is durable only once the folder is fsync'd.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_private_file(path: Path, data: bytes) -> bool:
    """Write `data` to `path` with mode 0600 unless `path` exists; True when this call wrote it.

    A hard link from a complete temporary file either creates `path` or fails because it
    exists, so when two processes race, the first one's file wins whole and the second one
    reads it, and both end with the same secret (a rename would let the second overwrite a
    key the first already used)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _write_temp(path.parent, data)
    try:
        os.link(temp, path)
    except FileExistsError:
        return False
    finally:
        temp.unlink()
    _sync_folder(path.parent)
    return True


def replace_private_file(path: Path, data: bytes) -> None:
    """Replace `path` with `data` (mode 0600) in one step: readers see the old file or the new."""
    temp = _write_temp(path.parent, data)
    try:
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


# -- the keyring --------------------------------------------------------------------------------


def new_key_id(now: dt.datetime | None = None) -> str:
    """`k<UTC date>-<6 random hex>`, e.g. k20261129-1a2b3c: sorts by creation, says when."""
    day = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return f"k{day:%Y%m%d}-{secrets.token_hex(3)}"


class Keyring:
    """The evidence keys, in a JSON file `{"current": id, "keys": {id: base64 key}}`.

    New evidence is sealed under the current key; any key in the file opens what it sealed."""

    def __init__(self, path: Path, current_id: str, keys: dict[str, bytes]) -> None:
        self.path = path
        self._current_id = current_id
        self._keys = keys

    @classmethod
    def load_or_create(cls, path: Path) -> Keyring:
        """The keyring at `path`, created with one fresh key when the file does not exist."""
        if not path.exists():
            key_id = new_key_id()
            # When another process created it first, its file wins and is read below.
            create_private_file(path, _encode(key_id, {key_id: AESGCM.generate_key(bit_length=256)}))
        return cls._load(path)

    @classmethod
    def _load(cls, path: Path) -> Keyring:
        try:
            refuse_if_shared(path)
            text = path.read_bytes()
        except FileNotFoundError:
            raise EvidenceError(f"{path}: the evidence key file is missing; {README_HINT}") from None
        except OSError as exc:
            raise EvidenceError(f"{path}: cannot read the evidence key file: {exc.strerror}") from None
        current_id, keys = _decode(path, text)
        return cls(path, current_id, keys)

    @property
    def current_id(self) -> str:
        return self._current_id

    @property
    def ids(self) -> list[str]:
        """Every key id, oldest first (ids begin with their date)."""
        return sorted(self._keys)

    def key(self, key_id: str) -> bytes:
        """The key `key_id`; EvidenceError naming the file and the id when it is not there."""
        if key_id not in self._keys:
            # Another process may have added it since this one loaded the file.
            self._reload()
        if key_id not in self._keys:
            raise EvidenceError(f"key {key_id} is not in {self.path}: was the key file replaced? {README_HINT}")
        return self._keys[key_id]

    def add_new(self) -> str:
        """Add a fresh random key and make it current (saved); its id."""
        with self._locked():
            key_id = new_key_id()
            while key_id in self._keys:
                key_id = new_key_id()
            self._keys[key_id] = AESGCM.generate_key(bit_length=256)
            self._current_id = key_id
            self._save()
        return key_id

    def drop(self, ids: Iterable[str]) -> None:
        """Remove the keys `ids` (saved). Evidence sealed under them can no longer be read."""
        wanted = set(ids)
        with self._locked():
            if self._current_id in wanted:
                raise EvidenceError(
                    f"{self.path}: key {self._current_id} is the current key and cannot be dropped; add a new key first"
                )
            missing = sorted(wanted - set(self._keys))
            if missing:
                raise EvidenceError(f"{self.path}: no key {', '.join(missing)} to drop")
            for key_id in wanted:
                del self._keys[key_id]
            self._save()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the key file's lock and start from the file as it is now, so that two processes
        changing the keyring at once do not lose each other's keys."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._reload()
            yield

    def _reload(self) -> None:
        fresh = self._load(self.path)
        self._current_id, self._keys = fresh._current_id, fresh._keys

    def _save(self) -> None:
        replace_private_file(self.path, _encode(self._current_id, self._keys))


def _encode(current_id: str, keys: dict[str, bytes]) -> bytes:
    entries = {key_id: base64.b64encode(key).decode() for key_id, key in sorted(keys.items())}
    return (json.dumps({"current": current_id, "keys": entries}, indent=2) + "\n").encode()


def _decode(path: Path, text: bytes) -> tuple[str, dict[str, bytes]]:
    """(current id, keys) of a key file; EvidenceError naming the file and the problem."""
    try:
        data = json.loads(text)
    except ValueError:
        raise EvidenceError(f"{path}: not a JSON evidence key file; {README_HINT}") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
        raise EvidenceError(f'{path}: expected {{"current": <key id>, "keys": {{<key id>: <base64 key>}}}}')
    keys = {str(key_id): _decode_key(path, str(key_id), value) for key_id, value in data["keys"].items()}
    current_id = data.get("current")
    if not isinstance(current_id, str) or current_id not in keys:
        raise EvidenceError(f"{path}: the current key {current_id!r} is not among its keys")
    return current_id, keys


def _decode_key(path: Path, key_id: str, value: object) -> bytes:
    if not key_id:
        raise EvidenceError(f"{path}: a key has an empty id")
    if not isinstance(value, str):
        raise EvidenceError(f"{path}: key {key_id} is not a base64 string")
    try:
        key = base64.b64decode(value, validate=True)
    except binascii.Error:
        raise EvidenceError(f"{path}: key {key_id} is not base64") from None
    if len(key) != KEY_SIZE:
        raise EvidenceError(f"{path}: key {key_id} is {len(key)} bytes, not {KEY_SIZE}")
    return key
