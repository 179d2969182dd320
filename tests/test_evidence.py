"""Evidence store and its transparency log: atomic writes, encryption at rest, and verification
that names every kind of tampering (altered, deleted, inserted, reordered, truncated, rewritten,
forged) while orphans and torn tails from crashes are reported without failing."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import multiprocessing
from pathlib import Path

import pytest

from bots.core.errors import EvidenceError
from bots.evidence import merkle
from bots.evidence.checkpoint import Signer, load_public_key
from bots.evidence.crypto import Keyring
from bots.evidence.index import EvidenceIndex, EvidenceQuery
from bots.evidence.records import EvidenceRecord, Stored, safe_url
from bots.evidence.store import LocalEvidenceStore
from bots.evidence.upkeep import expire, rotate_key
from bots.evidence.verify import Verified, verify
from bots.worklist.db import open_engine, upgrade


def put(store: LocalEvidenceStore, content: bytes, media_type: str = "text/html", item_id: int = 1) -> EvidenceRecord:
    return store.put(
        content,
        media_type,
        item_id=item_id,
        portal="bluestem",
        page_url="http://127.0.0.1/claims?member_id=M123456789&dos_from=2026-07-04",
        run_id="run-t",
        flow_run_id=None,
    )


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return Signer.load_or_create(tmp_path / "keys" / "signing.pem")


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return Keyring.load_or_create(tmp_path / "keys" / "evidence-keys.json")


def signed_store(
    tmp_path: Path, signer: Signer, records: int = 6, keyring: Keyring | None = None
) -> LocalEvidenceStore:
    store = LocalEvidenceStore(tmp_path / "ev", keyring)
    for n in range(records):
        put(store, f"<html>capture {n}</html>".encode(), item_id=n + 1)
        if n in (2, records - 1):
            store.checkpoint(signer)
    return store


def check(store: LocalEvidenceStore, signer: Signer, previous: Verified | None = None) -> list[str]:
    return verify(store, load_public_key(signer.public_pem()), previous=previous).problems


def lines(store: LocalEvidenceStore) -> list[bytes]:
    return store.log.read_bytes().splitlines(keepends=True)


def test_plain_files_are_named_by_content_hash_and_verified(tmp_path, signer) -> None:
    store = signed_store(tmp_path, signer)
    record = store.records()[0]
    assert record.path and hashlib.sha256((store.root / record.path).read_bytes()).hexdigest() in record.path
    assert check(store, signer) == []
    assert not list(store.root.rglob(".tmp-*"))
    assert [r.seq for r in store.records()] == list(range(6))


def test_recorded_urls_keep_parameter_names_but_no_values() -> None:
    url = safe_url("http://u:p@127.0.0.1:8/results?member_id=M123&dos_from=2026-07-04&session=abc#x")
    assert url == "http://127.0.0.1:8/results?member_id=&dos_from=&session="


def test_encrypted_objects_hide_their_hash_and_identical_captures_differ_on_disk(tmp_path, signer, keyring) -> None:
    store = LocalEvidenceStore(tmp_path / "ev", keyring)
    one, two = put(store, b"<html>same</html>"), put(store, b"<html>same</html>")
    assert one.sha256 == two.sha256 and one.path != two.path
    assert one.sha256 not in str(one.path) and one.stored.key == keyring.current_id
    on_disk = [(store.root / str(r.path)).read_bytes() for r in (one, two)]
    assert on_disk[0] != on_disk[1] and b"same" not in on_disk[0]
    assert store.read(one) == b"<html>same</html>"
    store.checkpoint(signer)
    assert check(store, signer) == []
    without_key = LocalEvidenceStore(store.root)
    with pytest.raises(EvidenceError, match="no evidence key file"):
        without_key.read(one)


def test_an_altered_or_missing_file_is_named(tmp_path, signer, keyring) -> None:
    store = signed_store(tmp_path, signer, keyring=keyring)
    altered, missing = store.records()[1], store.records()[4]
    data = bytearray((store.root / str(altered.path)).read_bytes())
    data[20] ^= 1
    (store.root / str(altered.path)).write_bytes(bytes(data))
    (store.root / str(missing.path)).unlink()
    problems = check(store, signer)
    assert any(p.startswith(f"altered: {store.root / str(altered.path)}") for p in problems)
    assert any(p.startswith(f"missing: {store.root / str(missing.path)}") for p in problems)
    with pytest.raises(EvidenceError, match="missing"):
        store.read(missing)


def test_an_altered_record_breaks_the_signed_root(tmp_path, signer) -> None:
    store = signed_store(tmp_path, signer)
    log = lines(store)
    log[1] = log[1].replace(b"run-t", b"run-x")  # still valid JSON, still its file's hash
    store.log.write_bytes(b"".join(log))
    problems = check(store, signer)
    assert any("checkpoint #1" in p and "does not match the log" in p and "altered" in p for p in problems)


def test_a_deleted_record_is_named(tmp_path, signer) -> None:
    store = signed_store(tmp_path, signer)
    log = lines(store)
    del log[3]
    store.log.write_bytes(b"".join(log))
    problems = check(store, signer)
    assert any("record seq 4 where seq 3 belongs" in p and "removed" in p for p in problems)
    assert any("checkpoint #2" in p and "does not match" in p or "truncated" in p for p in problems)


def test_an_inserted_record_is_named(tmp_path, signer) -> None:
    store = signed_store(tmp_path, signer)
    log = lines(store)
    forged = json.loads(log[2])
    leaf = json.loads(forged["leaf"])
    forged["leaf"] = json.dumps({**leaf, "seq": 3, "item_id": 99}, sort_keys=True, separators=(",", ":"))
    log.insert(3, (json.dumps(forged) + "\n").encode())
    store.log.write_bytes(b"".join(log))
    problems = check(store, signer)
    assert any("record seq 3 where seq 4 belongs" in p and "inserted" in p for p in problems)
    assert any("checkpoint #2" in p and "does not match" in p for p in problems)


def test_reordered_records_are_named(tmp_path, signer) -> None:
    store = signed_store(tmp_path, signer)
    log = lines(store)
    log[3], log[4] = log[4], log[3]
    store.log.write_bytes(b"".join(log))
    problems = check(store, signer)
    assert any("record seq 4 where seq 3 belongs" in p and "reordered" in p for p in problems)


def test_a_truncated_tail_is_named(tmp_path, signer) -> None:
    store = signed_store(tmp_path, signer)
    store.log.write_bytes(b"".join(lines(store)[:-2]))
    problems = check(store, signer)
    assert any(p.startswith("truncated:") and "holds 4 records but checkpoint #2 signed 6" in p for p in problems)


def test_a_rewritten_history_with_a_new_root_is_named(tmp_path, signer) -> None:
    """Whoever holds the signing key rewrites records and re-signs: the earlier checkpoints and
    the root this verifier accepted before no longer match."""
    store = signed_store(tmp_path, signer)
    first = verify(store, load_public_key(signer.public_pem()))
    assert first.ok and first.verified is not None
    log = lines(store)
    log[0] = log[0].replace(b"run-t", b"run-x")
    store.log.write_bytes(b"".join(log))
    (store.root / "tree.json").unlink()
    store.checkpoint(signer, force=True)  # a new root over the rewritten log
    problems = check(store, signer, previous=first.verified)
    assert any(p.startswith("rewritten history: the first 6 records") for p in problems)
    store.checkpoints_file.write_text(store.checkpoints_file.read_text().splitlines()[-1] + "\n")
    assert any(p.startswith("rewritten history") for p in check(store, signer, previous=first.verified))


def test_a_forged_checkpoint_signature_is_refused(tmp_path, signer) -> None:
    store = signed_store(tmp_path, signer)
    latest = json.loads(store.checkpoints_file.read_text().splitlines()[-1])
    latest["root"] = hashlib.sha256(b"another tree").hexdigest()
    store.checkpoints_file.write_text(store.checkpoints_file.read_text() + json.dumps(latest) + "\n")
    problems = check(store, signer)
    assert any("checkpoint #3: the signature does not verify" in p and "forged" in p for p in problems)
    other = Signer.load_or_create(tmp_path / "other.pem")
    assert any("signed by key" in p for p in verify(store, load_public_key(other.public_pem())).problems)


def test_orphans_and_a_torn_last_line_are_reported_not_failed(tmp_path, signer) -> None:
    """A crash between writing a file and its record leaves an orphan; one mid-append leaves a
    torn line, cut off by the next writer."""
    store = signed_store(tmp_path, signer)
    (store.objects / "ab").mkdir(exist_ok=True)
    (store.objects / "ab" / "ab12.html").write_bytes(b"<html>no record</html>")
    with open(store.log, "ab") as f:
        f.write(b'{"leaf": "{\\"seq\\": 6')
    report = verify(store, load_public_key(signer.public_pem()))
    assert report.ok and any(n.startswith("orphan: ") and "ab12.html" in n for n in report.notes)
    assert put(store, b"<html>after the crash</html>").seq == 6
    assert check(store, signer) == [] and len(store.records()) == 7


def test_since_checkpoint_verifies_only_what_was_added(tmp_path, signer) -> None:
    store = signed_store(tmp_path, signer)
    key = load_public_key(signer.public_pem())
    full = verify(store, key)
    for n in range(3):
        put(store, f"<html>later {n}</html>".encode())
    store.checkpoint(signer)
    since = verify(store, key, previous=full.verified, since=True)
    assert since.ok and since.records == 3 and since.files == 3
    assert since.verified is not None and since.verified.size == 9
    log = lines(store)
    log[7] = log[7].replace(b"run-t", b"run-x")  # tampering after the verified checkpoint is caught
    store.log.write_bytes(b"".join(log))
    assert not verify(store, key, previous=full.verified, since=True).ok


def test_key_rotation_keeps_hashes_tree_and_verification(tmp_path, signer, keyring) -> None:
    store = signed_store(tmp_path, signer, keyring=keyring)
    before = {r.seq: (r.sha256, r.path) for r in store.records()}
    checkpoints = store.checkpoints_file.read_bytes()
    old_key = keyring.current_id
    rotation = rotate_key(store)
    after = store.records()
    assert rotation.objects == 6 and rotation.key_id != old_key
    assert all(r.stored.key == rotation.key_id and r.sha256 == before[r.seq][0] for r in after)
    assert all(not (store.root / str(path)).exists() for _, path in before.values())
    assert store.checkpoints_file.read_bytes() == checkpoints
    assert check(store, signer) == []
    assert store.read(after[0]) == b"<html>capture 0</html>"


def test_plain_evidence_is_encrypted_by_a_rotation(tmp_path, signer, keyring) -> None:
    store = signed_store(tmp_path, signer)
    store.keyring = keyring
    rotate_key(store)
    assert all(r.stored.key for r in store.records()) and check(store, signer) == []


def test_retention_removes_files_with_a_tombstone_and_everything_still_verifies(tmp_path, signer, keyring) -> None:
    store = signed_store(tmp_path, signer, keyring=keyring)
    done = expire(store, dt.datetime.now(dt.UTC), run_id="retention-t", signer=signer)
    assert done.removed == 6 and done.tombstone is not None and done.tombstone.kind == "tombstone"
    assert json.loads(store.read(done.tombstone))["seqs"] == list(range(6))
    assert not [p for p in store.objects.rglob("*") if p.is_file() and p.name != Path(str(done.tombstone.path)).name]
    store.checkpoint(signer)
    assert check(store, signer) == []
    with pytest.raises(EvidenceError, match="retention"):
        store.read(store.records()[0])
    assert expire(store, dt.datetime.now(dt.UTC), run_id="again", signer=signer).removed == 0  # tombstones stay


def test_two_processes_append_without_clashing(tmp_path, signer) -> None:
    root = tmp_path / "ev"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_put_many, args=(root, w)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    store = LocalEvidenceStore(root)
    assert sorted(r.seq for r in store.records()) == list(range(80))
    store.checkpoint(signer)
    assert check(store, signer) == []


def _put_many(root: Path, worker: int) -> None:
    store = LocalEvidenceStore(root)
    for n in range(40):
        put(store, f"<html>{worker}-{n}</html>".encode())


def test_the_index_follows_the_log_and_its_relocations(tmp_path, signer, keyring) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    upgrade(url)
    store = signed_store(tmp_path, signer, keyring=keyring)
    index = EvidenceIndex(open_engine(url), store)
    assert index.sync() == 6 and index.sync() == 0
    record = store.records()[2]
    assert index.find(record.sha256) == record
    put(store, b"<html>new</html>", item_id=42)  # found although captured after the last sync
    assert index.find(hashlib.sha256(b"<html>new</html>").hexdigest()) is not None
    assert [r.item_id for r in index.search(EvidenceQuery(item_ids=[42, 3]))] == [42, 3]
    rotate_key(store)
    index.sync()
    assert index.find(record.sha256) == store.records()[2]
    tree = merkle.Tree(store.leaf_hashes(6))
    assert tree.root() == store.checkpoints()[-1].root


def _restore(store: LocalEvidenceStore, seq: int, stored: dict[str, object]) -> None:
    """Rewrite record `seq`'s stored part in the log (not part of its leaf: the tree cannot see it)."""
    log = lines(store)
    outer = json.loads(log[seq])
    outer["stored"] = stored
    log[seq] = (json.dumps(outer) + "\n").encode()
    store.log.write_bytes(b"".join(log))


@pytest.mark.parametrize("encrypted", [False, True])
def test_a_record_re_pointed_at_another_file_is_named(tmp_path, signer, keyring, encrypted) -> None:
    store = signed_store(tmp_path, signer, keyring=keyring if encrypted else None)
    victim, other = store.records()[4], store.records()[3]
    _restore(store, victim.seq, other.stored.model_dump())
    (store.root / str(victim.path)).unlink()  # and its own file removed
    problems = check(store, signer)
    expected = "share one encrypted object" if encrypted else "is stored at"
    assert any(expected in p and "4" in p for p in problems), problems


def test_a_file_removed_without_a_tombstone_is_named(tmp_path, signer, keyring) -> None:
    store = signed_store(tmp_path, signer, keyring=keyring)
    victim = store.records()[2]
    store.relocate(victim.seq, Stored(path=None))  # a retention that never happened
    (store.root / str(victim.path)).unlink()
    assert f"removed: the file of record seq {victim.seq} is gone and no signed tombstone proves why" in check(
        store, signer
    )


def test_a_path_outside_the_store_is_never_followed(tmp_path, signer) -> None:
    store = signed_store(tmp_path, signer)
    outside = tmp_path / "victim.txt"
    outside.write_text("not evidence")
    with open(store.relocations, "a") as f:
        f.write(json.dumps({"seq": 1, "stored": {"path": "../../victim.txt", "sha256": None, "key": None}}) + "\n")
    assert any("not a relocation" in p for p in check(store, signer))
    expire(store, dt.datetime.now(dt.UTC), run_id="retention-t", signer=signer)
    assert outside.read_text() == "not evidence"


def test_removed_checkpoints_are_named(tmp_path, signer) -> None:
    store = signed_store(tmp_path, signer)
    key = load_public_key(signer.public_pem())
    first = verify(store, key)
    kept = store.checkpoints_file.read_text().splitlines()[0] + "\n"
    store.checkpoints_file.write_text(kept)  # drop the latest: seq 3-5 are unsigned again
    problems = verify(store, key, previous=first.verified).problems
    assert any("the checkpoint verified before (6 records" in p and "gone" in p for p in problems)
    assert any("checkpoints of 6 were written: checkpoints were removed" in p for p in check(store, signer))


def test_since_checkpoint_notices_a_shorter_or_missing_log(tmp_path, signer) -> None:
    store = signed_store(tmp_path, signer)
    key = load_public_key(signer.public_pem())
    state = verify(store, key).verified
    store.log.write_bytes(b"".join(lines(store)[:2]))
    assert any(p.startswith("truncated:") for p in verify(store, key, previous=state, since=True).problems)
    store.log.unlink()
    assert not verify(store, key, previous=state, since=True).ok


def test_since_checkpoint_notices_emptied_relocations(tmp_path, signer, keyring) -> None:
    store = signed_store(tmp_path, signer, keyring=keyring)
    key = load_public_key(signer.public_pem())
    rotate_key(store)
    state = verify(store, key).verified
    store.relocations.write_bytes(b"")  # every record would point at its pre-rotation object again
    problems = verify(store, key, previous=state, since=True).problems
    assert any(p.startswith(f"truncated: {store.relocations}") for p in problems)


def test_an_index_missing_rows_or_behind_the_log_is_rebuilt_from_it(tmp_path, signer) -> None:
    from sqlalchemy import delete, update

    from bots.evidence.index import rows, state

    url = f"sqlite:///{tmp_path / 'w.db'}"
    upgrade(url)
    engine = open_engine(url)
    store = signed_store(tmp_path, signer)
    EvidenceIndex(engine, store).sync()
    with engine.begin() as conn:
        conn.execute(delete(rows).where(rows.c.seq == 3))  # hides a record from search and export
    assert len(EvidenceIndex(engine, store).search(EvidenceQuery(limit=100))) == 5
    index = EvidenceIndex(engine, store)
    index.sync()
    assert [r.seq for r in index.search(EvidenceQuery(limit=100))] == [5, 4, 3, 2, 1, 0]
    put(store, b"<html>later</html>")
    with engine.begin() as conn:  # an offset moved past a new record
        conn.execute(update(state).values(log_offset=store.log.stat().st_size))
    fresh = EvidenceIndex(engine, store)
    fresh.sync()
    assert fresh.search(EvidenceQuery(limit=1))[0].seq == 6
    with engine.begin() as conn:  # another process indexing the same records meanwhile
        conn.execute(delete(state))
    fresh.sync()
    assert len(fresh.search(EvidenceQuery(limit=100))) == 7


def test_a_forged_tombstone_proves_no_removal(tmp_path, signer, keyring) -> None:
    """Anybody can append a record; only the signing key proves a removal (tombstones.py)."""
    from bots.evidence.tombstones import tombstone_content

    store = signed_store(tmp_path, signer, keyring=keyring)
    victims = store.records()[1:3]
    forger = Signer.load_or_create(tmp_path / "forger.pem")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=365)
    for content in (
        json.dumps({"reason": "retention period ended", "captured_before": later.isoformat(), "seqs": [1, 2]}).encode(),
        tombstone_content([1, 2], dt.datetime.now(dt.UTC), forger),
    ):
        store.put(
            content,
            "application/json",
            item_id=0,
            portal="",
            page_url="",
            run_id="x",
            flow_run_id=None,
            kind="tombstone",
        )
    for victim in victims:
        store.relocate(victim.seq, Stored(path=None))
        (store.root / str(victim.path)).unlink()
    store.checkpoint(signer)  # the next run signs whatever the log holds
    problems = check(store, signer)
    assert sum("its signature does not verify" in p or "not a tombstone" in p for p in problems) == 2
    assert [p for p in problems if p.startswith("removed:")] == [
        f"removed: the file of record seq {v.seq} is gone and no signed tombstone proves why" for v in victims
    ]
    with pytest.raises(ValueError, match="future"):
        expire(store, later, run_id="r", signer=signer)
