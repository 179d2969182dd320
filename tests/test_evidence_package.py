"""Audit packages: what an export holds is the store's own evidence and records, byte for byte;
a package checks with sha256sum, the documented sketch and verify_package; any change to a file,
a record, the signature or the key fails naming the file; hostile zips are refused. Then the
commands: export by item, claim and period, their bad selections, verify-package and open."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import stat
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

import bots.evidence.package as package_module
from bots.cli.common import Invocation
from bots.core.errors import EvidenceError, InputError
from bots.evidence import merkle
from bots.evidence.checkpoint import Checkpoint, Signer, load_public_key
from bots.evidence.crypto import Keyring
from bots.evidence.index import EvidenceIndex, rows
from bots.evidence.package import (
    PackageSummary,
    export_package,
    find_record,
    records_captured_between,
    records_of_items,
    verify_package,
)
from bots.evidence.records import EvidenceRecord, Stored
from bots.evidence.setup import evidence_store
from bots.evidence.setup import signer as evidence_signer
from bots.evidence.store import LocalEvidenceStore
from bots.evidence.tombstones import tombstone_content
from bots.evidence.upkeep import expire
from bots.worklist.db import open_engine, upgrade
from bots.worklist.store import WorklistStore
from tests.conftest import ROOT, rcmbot_in_process

cli = rcmbot_in_process

DECISION = b'{"action":"approve","actor":"sup1","form":{},"id":1,"item_id":1,"reason":"=HYPERLINK(\\"x\\")"}'
TRACE = b"PK\x05\x06" + bytes(18)  # an empty zip: what a Playwright trace is made of


def put(store: LocalEvidenceStore, content: bytes, media_type: str, item_id: int = 1, **extra: str) -> EvidenceRecord:
    return store.put(
        content,
        media_type,
        item_id=item_id,
        portal=extra.get("portal", "bluestem"),
        page_url="http://127.0.0.1:8710/claims?member_id=M1",
        run_id=extra.get("run_id", "run-1"),
        flow_run_id=None,
        kind=extra.get("kind", "evidence"),  # type: ignore[arg-type]
    )


def fill(store: LocalEvidenceStore, item_id: int = 1, signer: Signer | None = None) -> list[EvidenceRecord]:
    """An item's evidence (a page, a screenshot, a trace, a decision, a page whose file retention
    removed) among another item's, and the tombstone that says retention removed that file: the
    records an export of the item holds. The tombstone is signed by `signer`, by default the
    `signer` fixture's key (beside the store)."""
    signer = signer or Signer.load_or_create(store.root.parent / "keys" / "signing.pem")
    put(store, b"<html>another claim</html>", "text/html", item_id + 1)
    put(store, b"<html>paid</html>", "text/html", item_id)
    put(store, b"\x89PNG screenshot", "image/png", item_id)
    put(store, TRACE, "application/zip", item_id, kind="trace")
    put(store, DECISION, "application/json", item_id, kind="decision", run_id="decision-000000000001")
    expired = put(store, b"<html>expired</html>", "text/html", item_id)
    tombstone = expire_one(store, expired, signer)
    put(store, b"<html>later, another claim</html>", "text/html", item_id + 1)
    return [r for r in store.records() if r.item_id == item_id or r.seq == tombstone.seq]


def expire_one(
    store: LocalEvidenceStore, record: EvidenceRecord, signer: Signer, captured_before: dt.datetime | None = None
) -> EvidenceRecord:
    """What upkeep.expire does, to one record only: a signed tombstone listing it (by default
    with a cutoff just after its capture), then no file for it. The tombstone's record."""
    assert record.path is not None
    cutoff = captured_before or record.captured_at + dt.timedelta(microseconds=1)
    content = tombstone_content([record.seq], cutoff, signer)
    tombstone = put(store, content, "application/json", 0, portal="", kind="tombstone", run_id="retention")
    store.relocate(record.seq, Stored(path=None))
    (store.root / record.path).unlink()
    return tombstone


@pytest.fixture(params=["plain", "encrypted"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> LocalEvidenceStore:
    keyring = Keyring.load_or_create(tmp_path / "keys" / "evidence-keys.json") if request.param == "encrypted" else None
    return LocalEvidenceStore(tmp_path / "evidence", keyring)


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return Signer.load_or_create(tmp_path / "keys" / "signing.pem")


def export(store: LocalEvidenceStore, records: list[EvidenceRecord], signer: Signer, path: Path) -> PackageSummary:
    with open(path, "wb") as f:
        return export_package(store, records, signer, f)


@pytest.fixture
def package(tmp_path: Path, store: LocalEvidenceStore, signer: Signer) -> Path:
    path = tmp_path / "package.zip"
    export(store, fill(store), signer, path)
    return path


def unpack(path: Path, folder: Path) -> Path:
    with zipfile.ZipFile(path) as archive:
        archive.extractall(folder)
    return folder


def rewrite(path: Path, change: Callable[[dict[str, bytes]], None], fix_sums: bool = True) -> None:
    """The package with its files changed by `change`; with `fix_sums`, SHA256SUMS made to match
    again, as a forger would (so only the record hashes, the proofs and the signature stand)."""
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    change(files)
    if fix_sums:
        files["SHA256SUMS"] = "".join(
            f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in files.items() if name != "SHA256SUMS"
        ).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)


def evidence_file(files: dict[str, bytes], extension: str) -> str:
    return next(name for name in files if name.startswith("evidence/") and name.endswith(extension))


def recast_csv(files: dict[str, bytes]) -> None:
    """records.csv made to match the evidence files there are, as a forger would."""
    names = {int(name.split("/")[1].split("-")[0]): name for name in files if name.startswith("evidence/")}
    leaves = [json.loads(line) for line in files["records.jsonl"].splitlines()]
    files["records.csv"] = package_module.records_csv((leaf, names.get(leaf["seq"])) for leaf in leaves)


def line_of(package: Path, seq: int) -> int:
    with zipfile.ZipFile(package) as archive:
        lines = archive.read("records.jsonl").splitlines()
    return next(n for n, line in enumerate(lines, 1) if json.loads(line)["seq"] == seq)


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the zip entries verification decompresses, in order."""
    names: list[str] = []
    real = zipfile.ZipFile.open

    def spy(self: zipfile.ZipFile, name: str | zipfile.ZipInfo, *args: object, **kwargs: object) -> object:
        names.append(name.filename if isinstance(name, zipfile.ZipInfo) else name)
        return real(self, name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    return names


# -- what a package holds ------------------------------------------------------------------------


def test_a_package_holds_the_stores_own_records_and_content_byte_for_byte(
    tmp_path: Path, store: LocalEvidenceStore, signer: Signer
) -> None:
    records = fill(store)
    summary = export(store, records, signer, tmp_path / "package.zip")
    folder = unpack(tmp_path / "package.zip", tmp_path / "unpacked")
    by_seq = {r.seq: r for r in store.records()}
    log_leaves = {json.loads(json.loads(line)["leaf"])["seq"]: json.loads(line)["leaf"] for line in store.lines()}
    checkpoint = store.checkpoints()[-1]

    # the evidence files: the store's content, each named and hashed as its record says
    files = sorted((folder / "evidence").iterdir())
    assert len(files) == summary.files == 5 and summary.records == 6 and summary.removed == 1  # with the tombstone
    for file in files:
        seq, sha = file.stem.split("-")
        record = by_seq[int(seq)]
        assert hashlib.sha256(file.read_bytes()).hexdigest() == sha == record.sha256
        assert file.read_bytes() == store.read(record)
    assert summary.bytes == sum(f.stat().st_size for f in files)

    # the records: the log's leaf texts verbatim, in seq order, their leaf hashes the tree's
    lines = (folder / "records.jsonl").read_bytes().split(b"\n")[:-1]
    assert [line.decode() for line in lines] == [log_leaves[r.seq] for r in records]
    leaf_hashes = store.leaf_hashes(checkpoint.size)
    proofs = [json.loads(line) for line in (folder / "proofs.jsonl").read_text().splitlines()]
    for line, proof, record in zip(lines, proofs, records, strict=True):
        assert proof["seq"] == record.seq and proof["tree_size"] == checkpoint.size
        assert merkle.leaf_hash(line) == leaf_hashes[record.seq] == bytes.fromhex(proof["leaf_hash"])
        path = [bytes.fromhex(h) for h in proof["audit_path"]]
        assert merkle.verify_inclusion(merkle.leaf_hash(line), record.seq, checkpoint.size, path, checkpoint.root)

    # the checkpoint the store signed (covering every record), its key, the decision, the CSV
    assert Checkpoint.from_json((folder / "checkpoint.json").read_text()) == checkpoint == summary.checkpoint
    assert checkpoint.size == len(by_seq)
    assert (folder / "public-key.pem").read_bytes() == signer.public_pem()
    assert (folder / "decisions.jsonl").read_bytes() == DECISION + b"\n"
    csv_lines = (folder / "records.csv").read_text().splitlines()
    assert csv_lines[0].startswith("seq,kind,sha256,") and len(csv_lines) == 7
    expired = next(r for r in records if r.path is None)
    assert re.search(rf"^{expired.seq},evidence,.*,$", "\n".join(csv_lines), re.M)  # listed, no file

    # SHA256SUMS covers every other file, and sha256sum itself agrees
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    pairs = [line.split("  ", 1) for line in (folder / "SHA256SUMS").read_text().splitlines()]
    sums = {name: digest for digest, name in pairs}
    assert set(sums) == names - {"SHA256SUMS"}
    assert all(hashlib.sha256((folder / n).read_bytes()).hexdigest() == h for n, h in sums.items())
    checked = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    report = verify_package(tmp_path / "package.zip")
    assert report.ok, report.problems
    assert (report.records, report.files, report.decisions, report.checkpoint_size) == (6, 5, 1, checkpoint.size)
    tombstone = next(r for r in records if r.kind == "tombstone")
    removed = "1 record(s) listed without their file: removed at the end of the retention period"
    assert f"{removed}, as tombstone record(s) seq {tombstone.seq} in the package say" in report.notes
    assert report.key_fingerprint == signer.fingerprint
    assert any("package's own public-key.pem" in n and signer.fingerprint in n for n in report.notes)
    assert verify_package(tmp_path / "package.zip", load_public_key(signer.public_pem())).ok


def test_the_documented_sketch_checks_a_package(tmp_path: Path, package: Path, signer: Signer) -> None:
    doc = (ROOT / "docs" / "audit-package.md").read_text()
    sketch = re.search(r"```python\n(.*?)```", doc, re.S)
    assert sketch is not None
    (tmp_path / "check.py").write_text(sketch[1])
    (tmp_path / "key.pem").write_bytes(signer.public_pem())
    folder = unpack(package, tmp_path / "unpacked")
    check = [sys.executable, str(tmp_path / "check.py"), str(folder), str(tmp_path / "key.pem")]
    ran = subprocess.run(check, capture_output=True, text=True)
    assert ran.returncode == 0 and ran.stdout.startswith("OK: 6 records"), ran.stderr
    (folder / "records.jsonl").write_bytes((folder / "records.jsonl").read_bytes().replace(b"bluestem", b"bluestex", 1))
    ran = subprocess.run(check, capture_output=True, text=True)
    assert ran.returncode != 0 and "AssertionError" in ran.stderr
    stripped = unpack(package, tmp_path / "stripped")
    next((stripped / "evidence").glob("*.png")).unlink()  # and from SHA256SUMS, as a forger would
    sums = (stripped / "SHA256SUMS").read_text().splitlines()
    (stripped / "SHA256SUMS").write_text("".join(line + "\n" for line in sums if not line.endswith(".png")))
    ran = subprocess.run([*check[:2], str(stripped), check[3]], capture_output=True, text=True)
    assert ran.returncode != 0 and "AssertionError" in ran.stderr


def test_the_exact_leaf_text_comes_from_the_log_even_when_the_record_given_differs(
    tmp_path: Path, store: LocalEvidenceStore, signer: Signer
) -> None:
    records = fill(store)
    changed = [r.model_copy(update={"portal": "elsewhere"}) if r.kind == "trace" else r for r in records]
    export(store, changed, signer, tmp_path / "package.zip")
    assert verify_package(tmp_path / "package.zip").ok
    with zipfile.ZipFile(tmp_path / "package.zip") as archive:
        assert b"elsewhere" not in archive.read("records.jsonl")


def test_a_fresh_checkpoint_is_signed_only_when_the_log_grew_or_the_key_changed(
    tmp_path: Path, store: LocalEvidenceStore, signer: Signer
) -> None:
    records = fill(store)
    first = export(store, records, signer, tmp_path / "one.zip").checkpoint
    assert export(store, records, signer, tmp_path / "two.zip").checkpoint == first
    other = Signer.load_or_create(tmp_path / "other.pem")
    assert export(store, records, other, tmp_path / "three.zip").checkpoint.key_fingerprint == other.fingerprint
    # the tombstone was signed by the earlier key: under the new one it proves nothing
    problems = verify_package(tmp_path / "three.zip").problems
    assert problems and all("tombstone" in p for p in problems), problems
    assert len(store.checkpoints()) == 2


def test_altered_evidence_in_the_store_is_not_exported(tmp_path: Path, signer: Signer) -> None:
    store = LocalEvidenceStore(tmp_path / "evidence")
    records = fill(store)
    stored = store.root / str(records[0].path)
    stored.write_bytes(stored.read_bytes() + b" ")
    with pytest.raises(EvidenceError, match="altered"):
        export(store, records, signer, tmp_path / "package.zip")


# -- what fails a package ------------------------------------------------------------------------


def test_a_flipped_byte_in_an_evidence_file_fails_naming_that_file(package: Path) -> None:
    names: list[str] = []

    def flip(files: dict[str, bytes]) -> None:
        names.append(evidence_file(files, ".png"))
        data = bytearray(files[names[0]])
        data[3] ^= 1
        files[names[0]] = bytes(data)

    rewrite(package, flip, fix_sums=False)
    report = verify_package(package)
    assert not report.ok
    assert f"{names[0]}: does not match its SHA-256 in SHA256SUMS" in report.problems
    assert any(p.startswith(f"{names[0]}: its SHA-256 is ") and "altered" in p for p in report.problems)


def test_a_forger_who_fixes_sha256sums_still_fails_on_the_record_hash(package: Path) -> None:
    names: list[str] = []

    def flip(files: dict[str, bytes]) -> None:
        names.append(evidence_file(files, ".html"))
        files[names[0]] = files[names[0]].replace(b"paid", b"paib")

    rewrite(package, flip)
    problems = verify_package(package).problems
    assert len(problems) == 1 and problems[0].startswith(f"{names[0]}: its SHA-256 is "), problems


def test_an_altered_record_line_fails_naming_records_jsonl(package: Path) -> None:
    def alter(files: dict[str, bytes]) -> None:
        files["records.jsonl"] = files["records.jsonl"].replace(b'"portal":"bluestem"', b'"portal":"bluestex"', 1)

    rewrite(package, alter)
    problems = verify_package(package).problems
    assert any(re.match(r"records\.jsonl: line \d \(seq \d\): its leaf hash is .*: altered", p) for p in problems)
    assert "records.csv: does not match records.jsonl (it is their copy for spreadsheets)" in problems


def test_an_altered_decision_fails_naming_decisions_jsonl(package: Path) -> None:
    def alter(files: dict[str, bytes]) -> None:
        files["decisions.jsonl"] = files["decisions.jsonl"].replace(b"approve", b"reject!")

    rewrite(package, alter)
    problems = verify_package(package).problems
    assert "decisions.jsonl: line 1: hashes to no decision record in records.jsonl: altered" in problems
    assert "decisions.jsonl: lacks the decision of record seq 4" in problems


def test_a_forged_checkpoint_signature_fails(package: Path) -> None:
    def forge(files: dict[str, bytes]) -> None:
        cp = json.loads(files["checkpoint.json"])
        signature = bytearray(cp["signature"].encode())
        signature[5] = ord("A") if signature[5] != ord("A") else ord("B")
        files["checkpoint.json"] = json.dumps({**cp, "signature": signature.decode()}).encode()

    rewrite(package, forge)
    problems = verify_package(package).problems
    assert len(problems) == 1 and problems[0].startswith("checkpoint.json: the signature does not verify"), problems


def test_a_checkpoint_re_signed_by_another_key_fails_under_the_organisations_key(
    tmp_path: Path, package: Path, signer: Signer
) -> None:
    forger = Signer.load_or_create(tmp_path / "forger.pem")

    def re_sign(files: dict[str, bytes]) -> None:
        cp = Checkpoint.from_json(files["checkpoint.json"].decode())
        files["checkpoint.json"] = forger.sign(cp.size, cp.root, cp.time).to_json().encode()
        files["public-key.pem"] = forger.public_pem()

    rewrite(package, re_sign)
    # under the package's own (forged) key the checkpoint passes, the organisation's tombstone does not
    problems = verify_package(package).problems
    assert problems and all("tombstone" in p for p in problems), problems
    key = load_public_key(signer.public_pem())
    problems = verify_package(package, key).problems
    assert problems == [f"checkpoint.json: signed by key {forger.fingerprint}, not by key {signer.fingerprint}"]


def test_a_different_public_key_fails(package: Path) -> None:
    other = load_public_key(Signer.load_or_create(package.parent / "other.pem").public_pem())
    report = verify_package(package, other)
    assert not report.ok and report.problems[0].startswith("checkpoint.json: signed by key ")


def test_an_extra_or_missing_file_fails(package: Path) -> None:
    original = package.read_bytes()

    def drop(files: dict[str, bytes]) -> None:
        del files[evidence_file(files, ".png")]

    rewrite(package, drop, fix_sums=False)
    problems = verify_package(package).problems
    assert any(p.endswith(".png: listed in SHA256SUMS but not in the package") for p in problems)
    package.write_bytes(original)
    rewrite(package, lambda files: files.update({"notes.txt": b"hello"}))
    assert verify_package(package).problems == ["notes.txt: refused: not part of the package format"]


@pytest.mark.parametrize("stripped", ["screenshot and page", "tombstone"])
def test_a_record_without_its_file_fails_unless_a_tombstone_in_the_package_covers_it(
    package: Path, store: LocalEvidenceStore, stripped: str
) -> None:
    item = [r for r in store.records() if r.item_id == 1]
    if stripped == "tombstone":  # the tombstone's file, so neither it nor the record it covers is proved
        gone = [r for r in store.records() if r.kind == "tombstone" or (r.item_id == 1 and r.path is None)]
    else:
        gone = [r for r in item if r.media_type in ("image/png", "text/html") and r.path is not None]
    assert len(gone) == 2
    lines = {r.seq: line_of(package, r.seq) for r in gone}

    def strip(files: dict[str, bytes]) -> None:
        for name in [n for n in files if any(n.startswith(f"evidence/{r.seq}-") for r in gone)]:
            del files[name]
        recast_csv(files)

    rewrite(package, strip)  # SHA256SUMS, records.csv and decisions.jsonl all agree: only tombstones tell
    problems = verify_package(package).problems
    assert problems == [
        f"records.jsonl: line {lines[r.seq]} (seq {r.seq}): listed without its file, and no tombstone in the "
        "package lists it as removed by retention"
        for r in sorted(gone, key=lambda r: r.seq)
    ]


def test_a_tombstone_covers_only_what_was_captured_before_its_cutoff(
    tmp_path: Path, store: LocalEvidenceStore, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = put(store, b"<html>kept</html>", "text/html")
    late = put(store, b"<html>captured after the cutoff</html>", "text/html")
    tombstone = expire_one(store, late, signer, captured_before=late.captured_at - dt.timedelta(days=1))
    records = [kept, late.model_copy(update={"stored": Stored(path=None)}), tombstone]
    cutoff = f"{late.captured_at - dt.timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}"
    why = f"tombstone seq {tombstone.seq} removed only what was captured before {cutoff}"
    with pytest.raises(EvidenceError, match=f"record seq {late.seq} has no file, and {why}"):
        export(store, records, signer, tmp_path / "package.zip")

    monkeypatch.setattr(package_module, "_uncovered", lambda *args: None)  # a package made anyway
    export(store, records, signer, tmp_path / "package.zip")
    monkeypatch.undo()
    problems = verify_package(tmp_path / "package.zip").problems
    assert len(problems) == 1, problems
    assert problems[0].startswith(
        f"records.jsonl: line 2 (seq {late.seq}): listed without its file, and tombstone seq {tombstone.seq} "
        f"removed only what was captured before {cutoff}, and it was captured {late.captured_at:%Y-%m-%dT%H:%M:%S}"
    )


def test_an_export_carries_the_tombstones_of_the_files_retention_removed(
    tmp_path: Path, store: LocalEvidenceStore, signer: Signer, index: EvidenceIndex
) -> None:
    for n in range(3):
        put(store, f"<html>page {n}</html>".encode(), "text/html", item_id=1 + n % 2)
    expiry = expire(store, dt.datetime.now(dt.UTC), run_id="retention", signer=signer)
    assert expiry.removed == 3 and expiry.tombstone is not None
    put(store, b"<html>after retention</html>", "text/html", item_id=1)
    index.sync()
    with pytest.raises(EvidenceError, match="has no file, and no tombstone among the records exported lists it"):
        export(store, index.for_items([1]), signer, tmp_path / "bare.zip")
    assert not verify_package(tmp_path / "bare.zip").ok  # what the refusal spares an auditor

    records = records_of_items(index, [1])
    assert [r.seq for r in records] == [0, 2, expiry.tombstone.seq, 4]
    summary = export(store, records, signer, tmp_path / "package.zip")
    assert (summary.records, summary.files, summary.removed) == (4, 2, 2)
    report = verify_package(tmp_path / "package.zip")
    assert report.ok, report.problems
    assert any(
        n.startswith("2 record(s) listed without their file") and f"seq {expiry.tombstone.seq} in" in n
        for n in report.notes
    )
    today = dt.datetime.now(dt.UTC).date()
    assert expiry.tombstone.seq in {r.seq for r in records_captured_between(index, today, today)}


def test_nothing_to_export_is_refused(tmp_path: Path, store: LocalEvidenceStore, signer: Signer) -> None:
    fill(store)
    with pytest.raises(InputError, match="nothing to export"):
        export(store, [], signer, tmp_path / "package.zip")


def test_an_unknown_name_is_refused_before_anything_is_decompressed(package: Path, opened: list[str]) -> None:
    with zipfile.ZipFile(package, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("junk.bin", bytes(16 * 1024 * 1024))  # 16 MB of zeros in 16 kB
    opened.clear()
    assert verify_package(package).problems == ["junk.bin: refused: not part of the package format"]
    assert opened == []


def test_a_file_over_its_limit_is_refused_before_anything_is_decompressed(
    package: Path, opened: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with zipfile.ZipFile(package) as archive:
        size = archive.getinfo("records.jsonl").file_size
    monkeypatch.setitem(package_module.LIMITS, "records.jsonl", size - 1)
    opened.clear()
    assert verify_package(package).problems == [
        f"records.jsonl: refused: it unpacks to {size} bytes, more than the {size - 1} it may"
    ]
    assert opened == []


def test_an_evidence_file_of_another_size_than_its_record_is_not_decompressed(package: Path, opened: list[str]) -> None:
    names: list[str] = []

    def grow(files: dict[str, bytes]) -> None:
        names.append(evidence_file(files, ".png"))
        files[names[0]] *= 1000

    rewrite(package, grow)
    opened.clear()
    problems = verify_package(package).problems
    assert len(problems) == 1 and re.fullmatch(
        rf"{names[0]}: unpacks to \d+ bytes, not the \d+ of record seq \d+: altered", problems[0]
    ), problems
    assert names[0] not in opened and "records.jsonl" in opened


def test_a_symbolic_link_is_refused(package: Path) -> None:
    with zipfile.ZipFile(package) as archive:
        files = {info.filename: archive.read(info) for info in archive.infolist()}
    with zipfile.ZipFile(package, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            if name == "public-key.pem":
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                data = b"/etc/passwd"
            archive.writestr(info, data)
    assert verify_package(package).problems == ["public-key.pem: refused: a symbolic link"]


def test_a_method_other_than_deflate_is_refused(package: Path) -> None:
    with zipfile.ZipFile(package) as archive:
        files = {info.filename: archive.read(info) for info in archive.infolist()}
    with zipfile.ZipFile(package, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data, zipfile.ZIP_BZIP2 if name == "README.txt" else zipfile.ZIP_DEFLATED)
    assert verify_package(package).problems == [
        f"README.txt: refused: compressed with method {zipfile.ZIP_BZIP2}, not deflate"
    ]


def test_an_evidence_file_must_have_its_media_types_extension(package: Path) -> None:
    names: list[str] = []

    def rename(files: dict[str, bytes]) -> None:
        png = evidence_file(files, ".png")
        names.append(png.removesuffix(".png") + ".html")
        files[names[0]] = files.pop(png)
        recast_csv(files)

    rewrite(package, rename)
    seq = names[0].split("/")[1].split("-")[0]
    assert verify_package(package).problems == [f"{names[0]}: a .html file, but record seq {seq} is image/png"]


def test_a_line_too_long_stops_the_reading_of_its_file(package: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(package_module.LINE_LIMITS, "proofs.jsonl", 100)
    problems = verify_package(package).problems
    assert problems == ["proofs.jsonl: line 1: longer than the 100 bytes a line may be; not read further"]


def test_problems_beyond_the_first_thousand_are_counted(package: Path) -> None:
    rewrite(package, lambda files: files.update({"records.jsonl": b"{}\n" * 1500}))
    problems = verify_package(package).problems
    assert (
        len(problems) == 1001
        and problems[-1].startswith("and ")
        and problems[-1].endswith(" more problem(s), not listed")
    )
    assert problems[0].startswith("records.jsonl: line 1: not a record")


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/evil", "evidence/../../evil", "C:/evil.txt", "../up/"])
def test_a_name_outside_the_folder_is_refused(package: Path, name: str) -> None:
    with zipfile.ZipFile(package, "a") as archive:
        archive.writestr(name, b"x")
    report = verify_package(package)
    assert report.problems == [f"{name}: refused: a name that unpacks outside the package's folder"]


def test_a_name_twice_and_a_zip_bomb_are_refused(package: Path) -> None:
    assert verify_package(package, max_unpacked=1000).problems[0].startswith("refused: the zip unpacks to ")
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(package, "a") as archive:
        archive.writestr("records.jsonl", b"{}\n")
    assert verify_package(package).problems == ["records.jsonl: refused: the zip holds 2 files of this name"]


def test_a_file_that_is_not_a_zip_is_named(tmp_path: Path) -> None:
    (tmp_path / "package.zip").write_bytes(b"not a zip")
    assert verify_package(tmp_path / "package.zip").problems[0].startswith("package.zip: not a readable zip")


# -- selecting records through the index ---------------------------------------------------------


@pytest.fixture
def index(tmp_path: Path, store: LocalEvidenceStore) -> EvidenceIndex:
    url = f"sqlite:///{tmp_path / 'worklist.db'}"
    upgrade(url)
    return EvidenceIndex(open_engine(url), store)


def test_records_are_selected_by_item_and_by_period_without_reading_the_log(
    tmp_path: Path, store: LocalEvidenceStore, signer: Signer, index: EvidenceIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = fill(store)
    assert records_of_items(index, [1]) == records  # with the decision; the expired one without its file
    today = dt.datetime.now(dt.UTC).date()
    assert len(records_captured_between(index, today, today)) == 8
    assert records_captured_between(index, today + dt.timedelta(days=1), today + dt.timedelta(days=2)) == []
    with pytest.raises(InputError, match="ends"):
        records_captured_between(index, today, today - dt.timedelta(days=1))

    store.checkpoint(signer)

    tail = store.lines

    def only_the_tail(offset: int = 0) -> object:
        assert offset > 0, "the whole log was read"
        return tail(offset)

    monkeypatch.setattr(store, "lines", only_the_tail)
    export(store, records_of_items(index, [1]), signer, tmp_path / "package.zip")
    assert verify_package(tmp_path / "package.zip").ok


def test_a_record_is_found_by_seq_or_hash_prefix_and_an_ambiguous_prefix_lists_candidates(
    store: LocalEvidenceStore, index: EvidenceIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = fill(store)
    trace = next(r for r in records if r.kind == "trace")
    assert find_record(index, str(trace.seq)) == trace
    assert find_record(index, trace.sha256[:8].upper()) == trace
    with pytest.raises(InputError, match="at least 8 hex digits"):
        find_record(index, "abc")
    with pytest.raises(InputError, match="no evidence record"):
        find_record(index, "99")
    # no log can hold two hashes with one prefix: they go into the index alone, which sync would
    # rebuild from the log, so the index is taken as it stands
    monkeypatch.setattr(index, "sync", lambda: 0)
    twins = [trace.model_copy(update={"seq": 100 + n, "sha256": "abcdef01" + c * 56}) for n, c in enumerate("12")]
    with index.engine.begin() as conn:
        for twin in twins:
            conn.execute(
                rows.insert().values(**twin.model_dump(exclude={"stored"}), path=None, stored_sha256=None, key_id=None)
            )
    with pytest.raises(InputError, match="more than one record") as raised:
        find_record(index, "abcdef01")
    assert all(twin.sha256 in str(raised.value) for twin in twins)


# -- the commands --------------------------------------------------------------------------------


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A state directory with three worklist items: item 1 (BSTM1:PA1000001) with its evidence,
    item 2 with some, item 3 with none."""
    settings = Invocation(tmp_path / "state").settings()
    upgrade(settings.worklist_url)
    worklist = WorklistStore(settings.worklist_url)
    day = dt.date(2026, 11, 2)
    worklist.upsert(
        [
            {"payer_id": "BSTM1", "account_number": f"PA100000{n}", "member_id": f"M{n}"}
            | {"dos_from": day, "dos_to": day, "billed_cents": 12_500}
            for n in (1, 2, 3)
        ]
    )
    assert [item.id for item in worklist.items()] == [1, 2, 3]
    fill(evidence_store(settings), item_id=1, signer=evidence_signer(settings))
    return tmp_path / "state"


def test_export_by_item_and_by_claim_writes_a_package_that_verifies(tmp_path: Path, state: Path) -> None:
    code, out, err = cli(
        "--state-dir", str(state), "evidence", "export", "--item", "1", "--out", str(tmp_path / "a.zip")
    )
    assert code == 0, err
    assert "6 record(s), 5 file(s)" in out and "1 listed without their file" in out and "signed by key " in out
    code, out, err = cli(
        "--state-dir", str(state), "evidence", "export", "--claim", "BSTM1:PA1000001", "--out", str(tmp_path / "b.zip")
    )
    assert code == 0 and "claim BSTM1:PA1000001 (item 1)" in out, err
    assert stat.S_IMODE((tmp_path / "b.zip").stat().st_mode) == 0o600
    for name in ("a.zip", "b.zip"):
        with zipfile.ZipFile(tmp_path / name) as archive:
            assert len([n for n in archive.namelist() if n.startswith("evidence/")]) == 5
    today = f"{dt.datetime.now(dt.UTC):%Y-%m-%d}"
    code, out, err = cli(
        "--state-dir",
        str(state),
        "evidence",
        "export",
        "--from",
        today,
        "--to",
        today,
        "--out",
        str(tmp_path / "c.zip"),
    )
    assert code == 0 and "8 record(s)" in out, err
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["a.zip", "b.zip", "c.zip"]

    key = tmp_path / "key.pem"
    assert cli("--state-dir", str(state), "evidence", "public-key", "--out", str(key))[0] == 0
    code, out, _ = cli("evidence", "verify-package", str(tmp_path / "a.zip"), "--public-key", str(key))
    assert code == 0 and out.splitlines()[-1].startswith("OK: ") and "6 record(s)" in out
    code, out, _ = cli("evidence", "verify-package", str(tmp_path / "a.zip"), "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["records"] == 6 and "own public-key.pem" in report["notes"][0]
    rewrite(tmp_path / "a.zip", lambda files: files.update({"decisions.jsonl": b"{}\n"}))
    code, out, _ = cli("evidence", "verify-package", str(tmp_path / "a.zip"))
    assert code == 1 and "decisions.jsonl: line 1: hashes to no decision record" in out and "FAILED" in out
    code, _, err = cli("evidence", "verify-package", str(tmp_path / "none.zip"))
    assert code == 2 and "none.zip: no such file" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give exactly one of --claim"),
        (["--item", "1", "--claim", "BSTM1:PA1000001"], "give exactly one of --claim"),
        (["--item", "1", "--from", "2026-11-01", "--to", "2026-11-02"], "give exactly one of --claim"),
        (["--from", "2026-11-01"], "--from and --to go together"),
        (["--from", "2026-11-31", "--to", "2026-12-01"], "--from '2026-11-31': not a date (YYYY-MM-DD)"),
        (["--from", "2026-11-02", "--to", "2026-11-01"], "the period ends (2026-11-01) before it begins"),
        (["--from", "2001-01-01", "--to", "2001-01-31"], "no evidence captured from 2001-01-01 to 2001-01-31"),
        (["--item", "9"], "--item 9: no such worklist item"),
        (["--item", "99999999999999999999"], "--item 99999999999999999999: no such worklist item"),
        (["--from", "0001-01-01", "--to", "9999-12-31"], "--from 0001-01-01: out of range: a capture day is from"),
        (["--from", "2026-11-01", "--to", "9999-12-31"], "--to 9999-12-31: out of range: a capture day is from"),
        (["--item", "3"], "no evidence of item 3: nothing to export"),
        (["--claim", "BSTM1:PA9"], "--claim BSTM1:PA9: no worklist item has payer id BSTM1 and account PA9"),
        (["--claim", "PA1000001"], "--claim 'PA1000001': expected PAYER_ID:ACCOUNT"),
    ],
)
def test_a_bad_selection_exits_2_with_a_message_and_writes_nothing(
    tmp_path: Path, state: Path, args: list[str], message: str
) -> None:
    code, _, err = cli("--state-dir", str(state), "evidence", "export", *args, "--out", str(tmp_path / "p.zip"))
    assert code == 2 and err.startswith("rcmbot: error: ") and message in err, err
    assert not [p for p in tmp_path.iterdir() if p.is_file()]


def test_an_out_folder_that_does_not_exist_and_a_failed_export_leave_no_file(tmp_path: Path, state: Path) -> None:
    code, _, err = cli(
        "--state-dir", str(state), "evidence", "export", "--item", "1", "--out", str(tmp_path / "no/p.zip")
    )
    assert code == 2 and f"the folder {tmp_path / 'no'} does not exist" in err
    stored = next((state / "evidence" / "objects").rglob("*.png"))
    stored.write_bytes(b"altered")
    code, _, err = cli("--state-dir", str(state), "evidence", "export", "--item", "1", "--out", str(tmp_path / "p.zip"))
    assert code == 2 and "altered" in err
    assert not [p for p in tmp_path.iterdir() if p.is_file()]


def test_open_by_seq_and_by_hash_prefix_gives_a_private_copy(state: Path) -> None:
    settings = Invocation(state).settings()
    store = evidence_store(settings)
    page = next(r for r in store.records() if r.media_type == "image/png")
    trace = next(r for r in store.records() if r.kind == "trace")
    for ident, record in ((str(page.seq), page), (trace.sha256[:10], trace)):
        code, out, err = cli("--state-dir", str(state), "evidence", "open", ident)
        assert code == 0, err
        path = Path(out.splitlines()[0])
        assert path.read_bytes() == store.read(record)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert f"seq {record.seq}, {record.kind}" in out
        shows = f"-m playwright show-trace {path}" in out
        assert shows == (record is trace)
        path.unlink()
        path.parent.rmdir()
    expired = next(r for r in store.records() if r.path is None)
    code, _, err = cli("--state-dir", str(state), "evidence", "open", str(expired.seq))
    assert code == 2 and "removed at the end of its retention period" in err


@pytest.mark.parametrize(
    ("ident", "message"),
    [
        ("99999999999999999999999", "no evidence record has seq or content hash 99999999999999999999999"),
        ("9" * 70, "give a record's seq, or at least 8 hex digits of its content hash"),
        ("\u0663", "give a record's seq, or at least 8 hex digits of its content hash"),  # an Arabic-Indic 3
        ("3\u0663", "give a record's seq, or at least 8 hex digits of its content hash"),
    ],
)
def test_open_takes_a_seq_in_ascii_digits_and_in_range(state: Path, ident: str, message: str) -> None:
    code, out, err = cli("--state-dir", str(state), "evidence", "open", ident)
    assert code == 2 and err.startswith("rcmbot: error: ") and message in err, err
    assert out == ""
