"""Signed checkpoints and encryption at rest: signatures that verify and forgeries that do not,
key files made private and refused when they are not, sealed evidence that opens only whole
and only with its key."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import os
import re
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bots.core.errors import EvidenceError
from bots.evidence.checkpoint import Checkpoint, Signer, fingerprint, load_public_key, signature_ok
from bots.evidence.crypto import Keyring, create_private_file, seal, unseal

ROOT = bytes(range(32))
WHEN = dt.datetime(2026, 11, 29, 8, 5, 9, tzinfo=dt.UTC)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return Signer.load_or_create(tmp_path / "signing.pem")


def public_key(signer: Signer) -> Ed25519PublicKey:
    return load_public_key(signer.public_pem())


# -- checkpoints ---------------------------------------------------------------------------------


def test_a_signed_checkpoint_verifies_under_its_public_key(signer: Signer) -> None:
    checkpoint = signer.sign(3, ROOT, WHEN)
    assert checkpoint.key_fingerprint == signer.fingerprint == fingerprint(public_key(signer))
    assert re.fullmatch(r"[0-9a-f]{16}", signer.fingerprint)
    assert signature_ok(checkpoint, public_key(signer))


def test_a_forged_or_altered_checkpoint_is_refused(signer: Signer) -> None:
    checkpoint, key = signer.sign(3, ROOT, WHEN), public_key(signer)
    forged = bytes([checkpoint.signature[0] ^ 1]) + checkpoint.signature[1:]
    assert not signature_ok(dataclasses.replace(checkpoint, signature=forged), key)
    assert not signature_ok(dataclasses.replace(checkpoint, size=4), key)
    assert not signature_ok(dataclasses.replace(checkpoint, root=bytes(32)), key)
    assert not signature_ok(dataclasses.replace(checkpoint, time=WHEN + dt.timedelta(seconds=1)), key)


def test_a_checkpoint_of_another_key_is_refused(tmp_path: Path, signer: Signer) -> None:
    other = Signer.load_or_create(tmp_path / "other.pem")
    assert other.fingerprint != signer.fingerprint
    checkpoint = other.sign(3, ROOT, WHEN)
    assert not signature_ok(checkpoint, public_key(signer))
    # Even when it claims our fingerprint, the signature itself does not verify.
    assert not signature_ok(dataclasses.replace(checkpoint, key_fingerprint=signer.fingerprint), public_key(signer))


def test_the_signed_body_is_the_documented_text(signer: Signer) -> None:
    checkpoint = signer.sign(3, ROOT, WHEN)
    expected = b"rcmbot evidence log v1\n3\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n2026-11-29T08:05:09Z\n"
    assert checkpoint.body() == expected
    # An outside party, with the JSON line and the public key only, re-creates the text and checks it.
    line = json.loads(checkpoint.to_json())
    body = "rcmbot evidence log v1\n{}\n{}\n{}\n".format(
        line["size"], base64.b64encode(bytes.fromhex(line["root"])).decode(), line["time"]
    )
    public_key(signer).verify(base64.b64decode(line["signature"]), body.encode())


def test_signing_keeps_utc_whole_seconds(signer: Signer) -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    checkpoint = signer.sign(1, ROOT, dt.datetime(2026, 11, 29, 9, 5, 9, 999_999, tzinfo=paris))
    assert checkpoint.time == WHEN and checkpoint.time.tzinfo == dt.UTC
    assert signature_ok(checkpoint, public_key(signer))
    with pytest.raises(ValueError, match="time zone"):
        signer.sign(1, ROOT, dt.datetime(2026, 11, 29, 8, 5, 9))


def test_checkpoint_json_is_one_line_and_round_trips(signer: Signer) -> None:
    checkpoint = signer.sign(3, ROOT, WHEN)
    line = checkpoint.to_json()
    assert "\n" not in line
    assert list(json.loads(line)) == ["size", "root", "time", "key", "signature"]
    assert json.loads(line)["root"] == ROOT.hex()
    assert Checkpoint.from_json(line) == checkpoint


def good_line(**changes: object) -> str:
    fields: dict[str, object] = {
        "size": 3,
        "root": ROOT.hex(),
        "time": "2026-11-29T08:05:09Z",
        "key": "0123456789abcdef",
        "signature": base64.b64encode(bytes(64)).decode(),
    }
    fields.update(changes)
    return json.dumps({name: value for name, value in fields.items() if value is not None})


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("", "not JSON"),
        ("{size: 3}", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (good_line(signature=None), "lacks signature"),
        (good_line(size=-1), "size"),
        (good_line(size=True), "size"),
        (good_line(size="3"), "size"),
        (good_line(root=ROOT.hex()[:-2]), "root"),
        (good_line(root="zz" * 32), "root"),
        (good_line(root=7), "root"),
        (good_line(time="2026-11-29 08:05:09"), "time"),
        (good_line(time="2026-11-29T08:05:09+00:00"), "time"),
        (good_line(key=""), "key"),
        (good_line(signature="not base64!"), "signature"),
        (good_line(signature=base64.b64encode(bytes(63)).decode()), "signature"),
    ],
)
def test_malformed_checkpoint_lines_are_refused_with_a_plain_message(line: str, problem: str) -> None:
    assert Checkpoint.from_json(good_line()).size == 3
    with pytest.raises(ValueError, match=problem):
        Checkpoint.from_json(line)


def test_the_signing_key_file_is_created_private_and_loaded_again(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.pem"
    first = Signer.load_or_create(path)
    assert mode(path) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert Signer.load_or_create(path).fingerprint == first.fingerprint
    assert [p.name for p in path.parent.iterdir()] == ["signing.pem"]  # no temporary file left


def test_processes_racing_to_create_the_signing_key_end_with_one_key(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    with ThreadPoolExecutor(8) as pool:
        fingerprints = set(pool.map(lambda _: Signer.load_or_create(path).fingerprint, range(16)))
    assert len(fingerprints) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["signing.pem"]


def test_create_private_file_never_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    assert create_private_file(path, b"first")
    assert not create_private_file(path, b"second")
    assert path.read_bytes() == b"first" and mode(path) == 0o600


def test_a_signing_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    Signer.load_or_create(path)
    path.chmod(0o644)
    with pytest.raises(EvidenceError, match=re.escape(str(path)) + ".*chmod 600"):
        Signer.load_or_create(path)


def test_a_signing_key_file_that_is_not_an_ed25519_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    create_private_file(path, b"not a key at all\n")
    with pytest.raises(EvidenceError, match=re.escape(str(path)) + ".*not an unencrypted PEM private key"):
        Signer.load_or_create(path)
    path.unlink()
    other_kind = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    create_private_file(path, other_kind)
    with pytest.raises(EvidenceError, match=re.escape(str(path)) + ".*not an Ed25519 private key"):
        Signer.load_or_create(path)


def test_a_bad_public_key_is_refused() -> None:
    with pytest.raises(EvidenceError, match="not a PEM public key"):
        load_public_key(b"-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----\n")
    ec_public = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(EvidenceError, match="not an Ed25519 key"):
        load_public_key(ec_public)


# -- the keyring ---------------------------------------------------------------------------------


def test_a_keyring_is_created_private_with_one_key_and_loaded_again(tmp_path: Path) -> None:
    path = tmp_path / "evidence.keys"
    ring = Keyring.load_or_create(path)
    assert mode(path) == 0o600
    assert re.fullmatch(r"k\d{8}-[0-9a-f]{6}", ring.current_id)
    assert ring.current_id.startswith("k" + dt.datetime.now(dt.UTC).strftime("%Y%m%d"))
    assert ring.ids == [ring.current_id]
    assert len(ring.key(ring.current_id)) == 32
    again = Keyring.load_or_create(path)
    assert again.current_id == ring.current_id and again.key(ring.current_id) == ring.key(ring.current_id)


def test_a_new_key_becomes_current_and_old_keys_stay(tmp_path: Path) -> None:
    path = tmp_path / "evidence.keys"
    ring = Keyring.load_or_create(path)
    old_id, old_key = ring.current_id, ring.key(ring.current_id)
    new_id = ring.add_new()
    assert ring.current_id == new_id != old_id
    assert ring.key(new_id) != old_key
    again = Keyring.load_or_create(path)
    assert again.current_id == new_id and again.key(old_id) == old_key
    assert sorted(again.ids) == sorted([old_id, new_id])
    assert mode(path) == 0o600


def test_dropped_keys_are_gone_and_the_current_key_cannot_be_dropped(tmp_path: Path) -> None:
    path = tmp_path / "evidence.keys"
    ring = Keyring.load_or_create(path)
    old_id = ring.current_id
    new_id = ring.add_new()
    with pytest.raises(EvidenceError, match=f"{new_id} is the current key"):
        ring.drop([new_id])
    with pytest.raises(EvidenceError, match="no key k19990101-000000"):
        ring.drop(["k19990101-000000"])
    ring.drop([old_id])
    assert ring.ids == [new_id]
    assert Keyring.load_or_create(path).ids == [new_id]
    with pytest.raises(EvidenceError) as raised:
        ring.key(old_id)
    assert str(raised.value) == (
        f"key {old_id} is not in {path}: was the key file replaced? see README 'Evidence encryption'"
    )


def test_a_key_added_by_another_process_is_found(tmp_path: Path) -> None:
    path = tmp_path / "evidence.keys"
    here, elsewhere = Keyring.load_or_create(path), Keyring.load_or_create(path)
    new_id = elsewhere.add_new()
    assert here.key(new_id) == elsewhere.key(new_id)


def test_two_keyrings_adding_keys_keep_each_others_keys(tmp_path: Path) -> None:
    path = tmp_path / "evidence.keys"
    first, second = Keyring.load_or_create(path), Keyring.load_or_create(path)
    original = first.current_id
    added_first, added_second = first.add_new(), second.add_new()
    assert set(Keyring.load_or_create(path).ids) == {original, added_first, added_second}


def write_key_file(path: Path, content: str, file_mode: int = 0o600) -> None:
    path.write_text(content)
    path.chmod(file_mode)


def good_ring(**changes: object) -> str:
    data: dict[str, object] = {"current": "k1", "keys": {"k1": base64.b64encode(bytes(32)).decode()}}
    data.update(changes)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not a JSON evidence key file"),
        ("[]", "expected"),
        (good_ring(keys=None), "expected"),
        (good_ring(current="k2"), "current key 'k2' is not among its keys"),
        (good_ring(current=None), "current key None"),
        (good_ring(keys={"k1": "not base64!"}), "key k1 is not base64"),
        (good_ring(keys={"k1": 32}), "key k1 is not a base64 string"),
        (good_ring(keys={"k1": base64.b64encode(bytes(16)).decode()}), "key k1 is 16 bytes, not 32"),
        (good_ring(keys={"k1": base64.b64encode(bytes(32)).decode(), "": "AAAA"}), "empty id"),
    ],
)
def test_a_malformed_key_file_is_refused_naming_the_file(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "evidence.keys"
    write_key_file(path, good_ring())
    assert Keyring.load_or_create(path).ids == ["k1"]
    write_key_file(path, content)
    with pytest.raises(EvidenceError, match=re.escape(f"{path}: ") + ".*" + re.escape(problem)):
        Keyring.load_or_create(path)


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evidence.keys"
    write_key_file(path, good_ring(), 0o640)
    with pytest.raises(EvidenceError, match=re.escape(str(path)) + ".*0640.*chmod 600"):
        Keyring.load_or_create(path)


# -- seal and unseal -----------------------------------------------------------------------------

KEY = bytes(range(32))


def test_sealed_bytes_open_again() -> None:
    for plaintext in (b"", b"<html>claim 1234</html>", os.urandom(100_000)):
        sealed = seal(KEY, plaintext)
        assert len(sealed) == 12 + len(plaintext) + 16
        assert unseal(KEY, sealed) == plaintext


def test_two_seals_of_the_same_bytes_differ() -> None:
    first, second = seal(KEY, b"same"), seal(KEY, b"same")
    assert first != second and first[:12] != second[:12]
    assert b"same" not in first


def test_the_wrong_key_does_not_open() -> None:
    sealed = seal(KEY, b"evidence")
    with pytest.raises(EvidenceError, match="cannot decrypt: wrong key or altered bytes"):
        unseal(bytes(32), sealed)


@pytest.mark.parametrize("position", [0, 11, 12, 15, -16, -1])  # nonce, ciphertext, tag
def test_one_flipped_byte_does_not_open(position: int) -> None:
    sealed = bytearray(seal(KEY, b"four"))
    sealed[position] ^= 0x01
    with pytest.raises(EvidenceError, match="cannot decrypt: wrong key or altered bytes"):
        unseal(KEY, bytes(sealed))


def test_short_bytes_do_not_open() -> None:
    for stored in (b"", bytes(27)):
        with pytest.raises(EvidenceError, match="cannot decrypt"):
            unseal(KEY, stored)


def test_keys_of_another_size_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        seal(bytes(16), b"x")
