"""Audit packages: the evidence of one item, one claim or one period as a zip that an outside
party checks with nothing but `sha256sum`, SHA-256 and an Ed25519 verifier.

Why a package and not access to the store: an auditor or a payer's reviewer gets what concerns
them and nothing more, and can check it offline, years later, without our database, code or
keys. Everything the check needs travels with it: each record's leaf text exactly as the log
holds it (the bytes the Merkle tree hashed), an inclusion proof of each against one signed
checkpoint, that checkpoint, and the public key. The key in a package proves nothing by itself
(a forger would ship their own): the auditor compares its fingerprint with the key the
organisation handed them, or checks with that key. docs/audit-package.md is the format.

The zip, in this order (same records, same checkpoint: same bytes):
    README.txt        the format in short, and how to check it by hand
    checkpoint.json   the signed checkpoint every proof leads to
    public-key.pem    the key that signed it (PEM SubjectPublicKeyInfo)
    records.jsonl     one leaf text per line, exactly as in the log
    records.csv       the same fields for a spreadsheet, plus the file in the package
    proofs.jsonl      per record: seq, leaf hash, tree size, audit path
    evidence/<seq>-<sha256>.<ext>   the decrypted content of each record that still has a file
    decisions.jsonl   the review decisions and applied actions among them, one JSON per line
    SHA256SUMS        every other file, in `sha256sum -c` format
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select

from bots.core.errors import EvidenceError, InputError
from bots.evidence import merkle
from bots.evidence.checkpoint import Checkpoint, Signer, fingerprint, load_public_key, signature_ok
from bots.evidence.index import EvidenceIndex, EvidenceQuery, rows
from bots.evidence.records import EXTENSIONS, EvidenceRecord, parse_log_line
from bots.evidence.store import LocalEvidenceStore

README, CHECKPOINT, PUBLIC_KEY = "README.txt", "checkpoint.json", "public-key.pem"
RECORDS, RECORDS_CSV, PROOFS, DECISIONS, SUMS = (
    "records.jsonl",
    "records.csv",
    "proofs.jsonl",
    "decisions.jsonl",
    "SHA256SUMS",
)
METADATA = (README, CHECKPOINT, PUBLIC_KEY, RECORDS, RECORDS_CSV, PROOFS, DECISIONS)
EVIDENCE_NAME = re.compile(r"evidence/(\d+)-([0-9a-f]{64})\.([a-z0-9]+)")
# The kinds review.ledger writes (the evidence room comes before review and cannot import it).
DECISION_KINDS = ("decision", "applied")
LEAF_FIELDS = (
    "seq",
    "kind",
    "sha256",
    "size",
    "media_type",
    "item_id",
    "portal",
    "page_url",
    "captured_at",
    "run_id",
    "flow_run_id",
)
CSV_FIELDS = (*LEAF_FIELDS, "file")
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Far above any real package, far below what a zip bomb unpacks to.
MAX_UNPACKED = 64 * 1024**3
MIN_PREFIX = 8  # hex digits of a content hash that `find_record` accepts

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say: no export time leaks into the bytes
_CHUNK = 1024 * 1024
_PAGE = 5000
_CANDIDATES = 10  # an ambiguous hash prefix lists at most this many


# -- exporting ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageSummary:
    records: int
    files: int  # evidence files included
    bytes: int  # their content, decrypted
    removed: int  # records whose file retention removed: listed, not included
    checkpoint: Checkpoint


def export_package(
    store: LocalEvidenceStore, records: list[EvidenceRecord], signer: Signer, out: BinaryIO
) -> PackageSummary:
    """Write the package of `records` to `out` (a fresh, seekable file). Refuses, rather than
    writes a package that would not verify, when a record's file is missing or altered or a
    record does not prove into the checkpoint."""
    chosen = sorted({r.seq: r for r in records}.values(), key=lambda r: r.seq)
    checkpoint = _signed_checkpoint(store, signer)
    late = [r.seq for r in chosen if r.seq >= checkpoint.size]
    if late:
        raise EvidenceError(f"records {late[:5]} are not in the log: its checkpoint signs {checkpoint.size} records")
    hashes = store.leaf_hashes(checkpoint.size)
    tree = merkle.Tree(hashes)  # once per export: each proof is then a few lookups
    leaves = _leaf_texts(store, chosen, hashes)
    proofs: list[str] = []
    for record in chosen:
        path = tree.inclusion_proof(record.seq, checkpoint.size)
        hashed = merkle.leaf_hash(leaves[record.seq].encode())
        if not merkle.verify_inclusion(hashed, record.seq, checkpoint.size, path, checkpoint.root):
            raise EvidenceError(
                f"record seq {record.seq} does not prove into checkpoint {checkpoint.size}: "
                "run `rcmbot evidence verify`"
            )
        proofs.append(_proof_line(record.seq, hashed, checkpoint.size, path))
    files = {r.seq: evidence_name(r) for r in chosen if r.stored.path is not None}

    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        package = _PackageWriter(archive)
        package.add(README, README_TEXT.encode())
        package.add(CHECKPOINT, (checkpoint.to_json() + "\n").encode())
        package.add(PUBLIC_KEY, signer.public_pem())
        package.add(RECORDS, "".join(leaves[r.seq] + "\n" for r in chosen).encode())
        package.add(RECORDS_CSV, records_csv((json.loads(leaves[r.seq]), files.get(r.seq)) for r in chosen))
        package.add(PROOFS, "".join(line + "\n" for line in proofs).encode())
        decisions, size = [], 0
        for record in chosen:
            if record.seq not in files:
                continue
            content = store.read(record)  # checks the content hash
            package.add(files[record.seq], content)
            size += len(content)
            if record.kind in DECISION_KINDS:
                decisions.append(content + b"\n")
        package.add(DECISIONS, b"".join(decisions))
        package.add_sums()
    return PackageSummary(len(chosen), len(files), size, len(chosen) - len(files), checkpoint)


def evidence_name(record: EvidenceRecord) -> str:
    """The record's file inside a package."""
    return f"evidence/{record.seq}-{record.sha256}.{EXTENSIONS[record.media_type]}"


def _signed_checkpoint(store: LocalEvidenceStore, signer: Signer) -> Checkpoint:
    """The latest checkpoint, signed now when the log grew since, or when another key signed it
    (the package carries this signer's public key)."""
    latest = store.checkpoint(signer) or store.checkpoints()[-1]
    if latest.key_fingerprint != signer.fingerprint:
        forced = store.checkpoint(signer, force=True)
        assert forced is not None, "a forced checkpoint is always signed"
        latest = forced
    return latest


def _leaf_texts(store: LocalEvidenceStore, records: list[EvidenceRecord], hashes: list[bytes]) -> dict[int, str]:
    """Each record's leaf text exactly as the log holds it. A record's own encoding is that text
    whenever it hashes to the leaf the tree holds, which spares reading the whole log; the log
    is read (once) only for records it does not, e.g. written before a field was added."""
    texts: dict[int, str] = {}
    for record in records:
        text = record.leaf()
        if merkle.leaf_hash(text.encode()) == hashes[record.seq]:
            texts[record.seq] = text
    wanted = {r.seq for r in records} - set(texts)
    for line in store.lines() if wanted else ():
        try:
            leaf, record = parse_log_line(line)
        except ValueError:
            continue  # verify names it
        if record.seq in wanted:
            texts[record.seq] = leaf
            wanted.discard(record.seq)
            if not wanted:
                break
    if wanted:
        raise EvidenceError(f"records {sorted(wanted)[:5]} are not in {store.log}")
    return texts


def _proof_line(seq: int, leaf_hash: bytes, size: int, path: list[bytes]) -> str:
    return json.dumps(
        {"seq": seq, "leaf_hash": leaf_hash.hex(), "tree_size": size, "audit_path": [h.hex() for h in path]}
    )


def records_csv(rows_: Iterable[tuple[dict[str, object], str | None]]) -> bytes:
    """records.csv: each leaf's fields and its file in the package (empty: removed), every
    cell a spreadsheet would run as a formula neutralised with a leading quote."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(CSV_FIELDS)
    for leaf, file in rows_:
        writer.writerow([_cell(leaf.get(name)) for name in LEAF_FIELDS] + [_cell(file)])
    return text.getvalue().encode()


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _PackageWriter:
    """Entries added to a zip in a fixed form, each one's SHA-256 kept for SHA256SUMS."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.sums: list[tuple[str, str]] = []

    def add(self, name: str, data: bytes) -> None:
        info = zipfile.ZipInfo(name, _ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        self.archive.writestr(info, data)
        self.sums.append((name, hashlib.sha256(data).hexdigest()))

    def add_sums(self) -> None:
        """SHA256SUMS, last: every file added before it."""
        self.add(SUMS, "".join(f"{digest}  {name}\n" for name, digest in self.sums).encode())


README_TEXT = """\
rcmbot audit package
====================

Evidence records from an rcmbot evidence log, with proof that each is in the log as signed.
The full format: docs/audit-package.md in rcmbot's documentation.

  records.jsonl    one record per line: its leaf text, exactly as the log holds it
  records.csv      the same fields for a spreadsheet, and the record's file in this package
  evidence/        <seq>-<sha256>.<ext>: each record's content (a record whose file was removed
                   at the end of its retention period is listed without a file)
  decisions.jsonl  the review decisions and applied actions among the records, one per line
  proofs.jsonl     per record: seq, leaf_hash, tree_size, audit_path (hex, from the leaf up)
  checkpoint.json  the signed checkpoint: size, root (hex), time, key, signature (base64)
  public-key.pem   the Ed25519 key that signed it
  SHA256SUMS       the SHA-256 of every other file

To check it by hand:
1. In the unpacked folder: sha256sum -c SHA256SUMS
2. Each evidence/<seq>-<sha256>.<ext> hashes (SHA-256) to the sha256 of record <seq>; each line
   of decisions.jsonl (without its newline) hashes to the sha256 of a decision record.
3. Each record's leaf hash is SHA-256(0x00 || the line's bytes without its newline); with its
   audit path it leads to the checkpoint's root (RFC 6962 / RFC 9162 section 2.1.3.2).
4. The checkpoint's signature is Ed25519 over these lines, each ending in a newline:
       rcmbot evidence log v1
       <size>
       <root in standard base64>
       <time>
5. Compare public-key.pem with the key the organisation gave you (the package's own key proves
   nothing by itself), or check the signature with theirs:
       rcmbot evidence verify-package FILE.zip --public-key THEIRS.pem
"""


# -- verifying ----------------------------------------------------------------------------------


@dataclass
class PackageReport:
    problems: list[str] = field(default_factory=list)  # each fails verification; names its file
    notes: list[str] = field(default_factory=list)  # worth knowing, not a failure
    records: int = 0
    files: int = 0  # evidence files
    bytes: int = 0  # their size
    decisions: int = 0
    checkpoint_size: int | None = None
    key_fingerprint: str | None = None  # of the key the signature was checked with

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Contents:
    """What the package holds: metadata files whole, evidence files as (SHA-256, size)."""

    data: dict[str, bytes] = field(default_factory=dict)
    evidence: dict[str, tuple[str, int]] = field(default_factory=dict)

    def sha256(self, name: str) -> str:
        return self.evidence[name][0] if name in self.evidence else hashlib.sha256(self.data[name]).hexdigest()

    def names(self) -> set[str]:
        return set(self.data) | set(self.evidence)


@dataclass(frozen=True)
class _Listed:
    """A record of records.jsonl: its line number, the fields it names, its leaf hash."""

    line: int
    record: EvidenceRecord
    leaf: dict[str, object]
    leaf_hash: bytes


def verify_package(
    path: Path, public_key: Ed25519PublicKey | None = None, *, max_unpacked: int = MAX_UNPACKED
) -> PackageReport:
    """Check a package with nothing but itself (and the public key, when given): no database, no
    store. Every problem names the file inside the zip it is about."""
    report = PackageReport()
    try:
        with zipfile.ZipFile(path) as archive:
            contents = _read(archive, report, max_unpacked)
    except zipfile.BadZipFile as exc:
        report.problems.append(f"{path.name}: not a readable zip ({exc})")
        return report
    if contents is None:
        return report
    _check_sums(contents, report)
    checkpoint = _check_checkpoint(contents, public_key, report)
    listed = _check_records(contents, checkpoint, report)
    files = _check_evidence(contents, listed, report)
    _check_decisions(contents, listed, files, report)
    if RECORDS_CSV in contents.data:
        expected = records_csv((entry.leaf, files.get(seq)) for seq, entry in sorted(listed.items()))
        if contents.data[RECORDS_CSV] != expected:
            report.problems.append(f"{RECORDS_CSV}: does not match {RECORDS} (it is their copy for spreadsheets)")
    return report


def _read(archive: zipfile.ZipFile, report: PackageReport, max_unpacked: int) -> _Contents | None:
    """Every file of the zip, or None (with the reason) when it is refused before reading: a
    name that would unpack outside the folder, a name twice, or an absurd unpacked size."""
    for info in archive.infolist():
        parts = info.filename.replace("\\", "/").split("/")
        if info.filename.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", info.filename) or ".." in parts:
            report.problems.append(f"{info.filename}: refused: a name that unpacks outside the package's folder")
    entries = [info for info in archive.infolist() if not info.is_dir()]
    for name, count in Counter(info.filename for info in entries).items():
        if count > 1:
            report.problems.append(f"{name}: refused: the zip holds {count} files of this name")
    total = sum(info.file_size for info in entries)
    if total > max_unpacked:
        report.problems.append(
            f"refused: the zip unpacks to {total} bytes, more than the {max_unpacked} a package may (a zip bomb?)"
        )
    if report.problems:
        return None
    contents = _Contents()
    for info in entries:
        try:
            with archive.open(info) as f:
                if EVIDENCE_NAME.fullmatch(info.filename):
                    digest, size = hashlib.sha256(), 0
                    while chunk := f.read(_CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                    contents.evidence[info.filename] = (digest.hexdigest(), size)
                else:
                    contents.data[info.filename] = f.read()
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
            report.problems.append(f"{info.filename}: cannot be read from the zip ({exc})")
    return contents


def _check_sums(contents: _Contents, report: PackageReport) -> None:
    for name in METADATA + (SUMS,):
        if name not in contents.data:
            report.problems.append(f"{name}: missing from the package")
    for name in sorted(contents.data):
        if name not in METADATA + (SUMS,):
            report.problems.append(f"{name}: not part of the package format")
    if SUMS not in contents.data:
        return
    listed: dict[str, str] = {}
    for n, line in enumerate(contents.data[SUMS].decode(errors="replace").splitlines(), 1):
        found = re.fullmatch(r"([0-9a-f]{64}) [ *](.+)", line)
        if found is None:
            report.problems.append(f"{SUMS}: line {n}: not `<sha256>  <file name>`")
        elif found[2] in listed:
            report.problems.append(f"{SUMS}: line {n}: lists {found[2]} a second time")
        else:
            listed[found[2]] = found[1]
    present = contents.names() - {SUMS}
    for name in sorted(present):
        if name not in listed:
            report.problems.append(f"{name}: not listed in {SUMS}")
        elif contents.sha256(name) != listed[name]:
            report.problems.append(f"{name}: does not match its SHA-256 in {SUMS}")
    for name in sorted(set(listed) - present):
        report.problems.append(f"{name}: listed in {SUMS} but not in the package")


def _check_checkpoint(
    contents: _Contents, public_key: Ed25519PublicKey | None, report: PackageReport
) -> Checkpoint | None:
    """The package's checkpoint (None when unreadable), its signature checked under the key
    given, else under the package's own key (said in a note: that proves nothing by itself)."""
    if CHECKPOINT not in contents.data:
        return None
    try:
        checkpoint = Checkpoint.from_json(contents.data[CHECKPOINT].decode())
    except (ValueError, UnicodeDecodeError) as exc:
        report.problems.append(f"{CHECKPOINT}: not a checkpoint ({exc})")
        return None
    report.checkpoint_size = checkpoint.size
    key = public_key or _own_key(contents, report)
    if key is None:
        return checkpoint
    want = report.key_fingerprint = fingerprint(key)
    if checkpoint.key_fingerprint != want:
        report.problems.append(f"{CHECKPOINT}: signed by key {checkpoint.key_fingerprint}, not by key {want}")
    elif not signature_ok(checkpoint, key):
        report.problems.append(f"{CHECKPOINT}: the signature does not verify under key {want}: forged or altered")
    return checkpoint


def _own_key(contents: _Contents, report: PackageReport) -> Ed25519PublicKey | None:
    if PUBLIC_KEY not in contents.data:
        report.problems.append(f"{CHECKPOINT}: no key to check its signature with (none given, no {PUBLIC_KEY})")
        return None
    try:
        key = load_public_key(contents.data[PUBLIC_KEY])
    except EvidenceError as exc:
        report.problems.append(f"{PUBLIC_KEY}: {exc}")
        return None
    report.notes.append(
        f"the signature was checked with the package's own {PUBLIC_KEY} (key {fingerprint(key)}): compare that "
        "fingerprint with the key the organisation gave you, or check with their key (--public-key), since a "
        "package can carry any key"
    )
    return key


def _check_records(contents: _Contents, checkpoint: Checkpoint | None, report: PackageReport) -> dict[int, _Listed]:
    """The records of records.jsonl by seq, each proved into the checkpoint by its audit path."""
    listed: dict[int, _Listed] = {}
    for n, line in _lines(contents, RECORDS, report):
        try:
            leaf = json.loads(line)
            record = EvidenceRecord.from_leaf(line.decode())
        except ValueError as exc:  # JSON, UTF-8 and pydantic errors are all ValueErrors
            report.problems.append(f"{RECORDS}: line {n}: not a record ({str(exc).splitlines()[0]})")
            continue
        if record.seq in listed:
            report.problems.append(
                f"{RECORDS}: line {n}: seq {record.seq} a second time (line {listed[record.seq].line})"
            )
            continue
        listed[record.seq] = _Listed(n, record, leaf, merkle.leaf_hash(line))
    report.records = len(listed)
    proofs = _proofs(contents, report)
    for seq in sorted(set(proofs) - set(listed)):
        report.problems.append(f"{PROOFS}: line {proofs[seq][0]}: proves seq {seq}, which {RECORDS} does not hold")
    for seq, entry in sorted(listed.items()):
        where = f"{RECORDS}: line {entry.line} (seq {seq})"
        if seq not in proofs:
            report.problems.append(f"{where}: {PROOFS} holds no proof of it")
            continue
        n, stated, size, path = proofs[seq]
        if checkpoint is None:
            continue
        if size != checkpoint.size:
            report.problems.append(
                f"{PROOFS}: line {n}: proves seq {seq} in {size} records, not the checkpoint's {checkpoint.size}"
            )
        elif stated != entry.leaf_hash:
            report.problems.append(
                f"{where}: its leaf hash is {entry.leaf_hash.hex()}, not the proved {stated.hex()}: altered"
            )
        elif not merkle.verify_inclusion(entry.leaf_hash, seq, size, path, checkpoint.root):
            report.problems.append(
                f"{where}: its audit path ({PROOFS} line {n}) does not lead to the checkpoint's root"
            )
    return listed


def _proofs(contents: _Contents, report: PackageReport) -> dict[int, tuple[int, bytes, int, list[bytes]]]:
    """proofs.jsonl by seq: (line number, leaf hash, tree size, audit path)."""
    proofs: dict[int, tuple[int, bytes, int, list[bytes]]] = {}
    for n, line in _lines(contents, PROOFS, report):
        try:
            data = json.loads(line)
            seq, size = data["seq"], data["tree_size"]
            if not isinstance(seq, int) or not isinstance(size, int):
                raise TypeError("seq and tree_size must be whole numbers")
            proof = (n, bytes.fromhex(data["leaf_hash"]), size, [bytes.fromhex(h) for h in data["audit_path"]])
        except (ValueError, KeyError, TypeError) as exc:
            report.problems.append(f"{PROOFS}: line {n}: not a proof ({exc})")
            continue
        if seq in proofs:
            report.problems.append(f"{PROOFS}: line {n}: a second proof of seq {seq}")
            continue
        proofs[seq] = proof
    return proofs


def _check_evidence(contents: _Contents, listed: dict[int, _Listed], report: PackageReport) -> dict[int, str]:
    """Every evidence file against its record; the file name of each seq."""
    files: dict[int, str] = {}
    for name, (digest, size) in sorted(contents.evidence.items()):
        found = EVIDENCE_NAME.fullmatch(name)
        assert found is not None, "evidence files are told apart by their name"
        seq = int(found[1])
        entry = listed.get(seq)
        if entry is None:
            report.problems.append(f"{name}: {RECORDS} holds no record of seq {seq}")
            continue
        if seq in files:
            report.problems.append(f"{name}: a second file of seq {seq} (after {files[seq]})")
            continue
        files[seq] = name
        report.files += 1
        report.bytes += size
        if found[2] != entry.record.sha256:
            report.problems.append(
                f"{name}: named for content {found[2]}, but record seq {seq} is {entry.record.sha256}"
            )
        elif digest != entry.record.sha256:
            report.problems.append(
                f"{name}: its SHA-256 is {digest}, not {entry.record.sha256} of record seq {seq}: altered"
            )
    removed = len(listed) - len(files)
    if removed:
        report.notes.append(
            f"{removed} record(s) listed without their file (removed at the end of the retention period)"
        )
    return files


def _check_decisions(
    contents: _Contents, listed: dict[int, _Listed], files: dict[int, str], report: PackageReport
) -> None:
    """Each line of decisions.jsonl hashes to a decision record; each decision whose file the
    package holds has its line."""
    if DECISIONS not in contents.data:
        return  # named missing already
    decisions = {e.record.sha256: seq for seq, e in listed.items() if e.record.kind in DECISION_KINDS}
    seen = set()
    for n, line in _lines(contents, DECISIONS, report):
        digest = hashlib.sha256(line).hexdigest()
        if digest not in decisions:
            report.problems.append(f"{DECISIONS}: line {n}: hashes to no decision record in {RECORDS}: altered")
        seen.add(digest)
        report.decisions += 1
    for digest, seq in sorted(decisions.items(), key=lambda pair: pair[1]):
        if seq in files and digest not in seen:
            report.problems.append(f"{DECISIONS}: lacks the decision of record seq {seq}")


def _lines(contents: _Contents, name: str, report: PackageReport) -> list[tuple[int, bytes]]:
    """(line number, bytes without the newline) of a JSON-lines file; every line ends in one."""
    data = contents.data.get(name, b"")
    if data and not data.endswith(b"\n"):
        report.problems.append(f"{name}: the last line does not end in a newline (cut short?)")
        data += b"\n"
    return list(enumerate(data.split(b"\n")[:-1], 1))


# -- selecting records --------------------------------------------------------------------------


def records_of_items(index: EvidenceIndex, item_ids: Iterable[int]) -> list[EvidenceRecord]:
    """Every record of these items, oldest first: evidence, traces, and the review decisions and
    applied actions about them (their records carry the item's id)."""
    index.sync()
    return index.for_items(item_ids)


def records_captured_between(index: EvidenceIndex, first: dt.date, last: dt.date) -> list[EvidenceRecord]:
    """Every record captured from `first` to `last`, both whole UTC days, oldest first."""
    if last < first:
        raise InputError(f"the period ends ({last}) before it begins ({first})")
    index.sync()
    start = dt.datetime.combine(first, dt.time(), dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), dt.UTC)
    found: list[EvidenceRecord] = []
    before: int | None = None
    while True:
        page = index.search(EvidenceQuery(captured_from=start, captured_to=end, before_seq=before, limit=_PAGE))
        found.extend(page)
        if len(page) < _PAGE:
            return found[::-1]
        before = page[-1].seq


# -- opening one record for a person ------------------------------------------------------------


def find_record(index: EvidenceIndex, ident: str) -> EvidenceRecord:
    """The record `ident` names: its seq, or at least 8 hex digits of the start of its content
    hash (identical content in several records: the newest that still has its file). InputError
    when none or several do, listing the candidates."""
    text = ident.strip().lower()
    is_seq = text.isdecimal()
    is_prefix = re.fullmatch(rf"[0-9a-f]{{{MIN_PREFIX},64}}", text) is not None
    if not (is_seq or is_prefix):
        raise InputError(f"{ident!r}: give a record's seq, or at least {MIN_PREFIX} hex digits of its content hash")
    index.sync()
    found: dict[str, EvidenceRecord] = {}  # by content hash
    if is_seq and (record := _by_seq(index, int(text))) is not None:
        found[record.sha256] = record
    if is_prefix:
        newest = (
            select(rows.c.sha256, func.max(rows.c.seq))
            .where(rows.c.sha256.startswith(text, autoescape=True))
            .group_by(rows.c.sha256)
            .limit(_CANDIDATES + 1)
        )
        with index.engine.connect() as conn:
            for sha, seq in conn.execute(newest):
                record = index.find(sha) or _by_seq(index, seq)
                if record is not None:
                    found.setdefault(sha, record)
    if not found:
        raise InputError(f"no evidence record has seq or content hash {ident}")
    if len(found) > 1:
        candidates = "\n".join(
            f"  seq {r.seq}  {r.sha256}  {r.kind}  {r.captured_at:%Y-%m-%dT%H:%M:%SZ}"
            for r in sorted(found.values(), key=lambda r: r.seq)[:_CANDIDATES]
        )
        raise InputError(f"{ident} names more than one record; give more of the hash:\n{candidates}")
    return next(iter(found.values()))


def _by_seq(index: EvidenceIndex, seq: int) -> EvidenceRecord | None:
    page = index.search(EvidenceQuery(before_seq=seq + 1, limit=1))
    return page[0] if page and page[0].seq == seq else None


def private_copy(store: LocalEvidenceStore, record: EvidenceRecord) -> Path:
    """The record's content, decrypted and checked, in a file only this user can read (0600, in
    a fresh folder of mode 0700): evidence holds PHI. Whoever asked removes the folder."""
    content = store.read(record)
    folder = Path(tempfile.mkdtemp(prefix="rcmbot-evidence-"))
    path = folder / Path(evidence_name(record)).name
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
        f.write(content)
    return path
