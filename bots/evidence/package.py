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
                      (a record without one is covered by a tombstone record in the package)
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
import stat
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Generator, Iterable, Iterator
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
from bots.evidence.tombstones import proven_listing

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
MAX_SEQ = 2**63 - 2  # a seq the index's BIGINT holds, with the seq after it
# The capture days a period may name: the date arithmetic (the day after the last) and the
# database's times hold these, and no evidence was captured before 1970.
FIRST_DAY, LAST_DAY = dt.date(1970, 1, 1), dt.date(9998, 12, 31)
KiB, MiB, GiB = 1024, 1024**2, 1024**3
# What each file of a package may unpack to, refused from the zip's directory before a byte is
# decompressed. For scale, an export of a million records: records.jsonl about 350 MB (a leaf is
# about 350 bytes), records.csv 450 MB, proofs.jsonl 1.6 GB (an audit path of 20 to 24 hashes),
# SHA256SUMS 160 MB, decisions.jsonl a kilobyte a decision. Only the checkpoint, the key and
# SHA256SUMS are held whole; records.jsonl is held as its parsed records; the others are read a
# line (at most LINE_LIMITS) or a chunk at a time, so their limits bound time, not memory.
# An evidence file may unpack to exactly its record's size.
LIMITS = {
    README: 64 * KiB,
    CHECKPOINT: 64 * KiB,
    PUBLIC_KEY: 64 * KiB,
    SUMS: 256 * MiB,
    RECORDS: 512 * MiB,
    RECORDS_CSV: 1 * GiB,
    PROOFS: 4 * GiB,
    DECISIONS: 4 * GiB,
}
LINE_LIMITS = {RECORDS: 64 * KiB, PROOFS: 16 * KiB, DECISIONS: 16 * MiB}
MAX_TOMBSTONE = 64 * MiB  # a tombstone's list of seqs, held to check it (a million seqs: 8 MB)
MAX_PROBLEMS = 1000  # listed one by one; the rest are counted (a hostile package may hold millions)

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
    writes a package that would not verify, when a record's file is missing or altered, a record
    without its file is not covered by a tombstone among `records` (`with_tombstones` adds them),
    or a record does not prove into the checkpoint. InputError when `records` is empty."""
    chosen = sorted({r.seq: r for r in records}.values(), key=lambda r: r.seq)
    if not chosen:
        raise InputError("no evidence records: nothing to export")
    contents = {r.seq: store.read(r) for r in chosen if r.kind == "tombstone" and r.stored.path is not None}
    coverage = _coverage({seq: _listing(seq, content) for seq, content in contents.items()})
    for record in (r for r in chosen if r.stored.path is None):
        reason = _uncovered(record.seq, record.captured_at, coverage, "among the records exported")
        if reason is not None:
            raise EvidenceError(f"record seq {record.seq} has no file, and {reason}")
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
            content = contents.get(record.seq) or store.read(record)  # checks the content hash
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
    rows = _CsvRows()
    return rows.header() + b"".join(rows.row(leaf, file) for leaf, file in rows_)


class _CsvRows:
    """records.csv one row at a time, as bytes."""

    def __init__(self) -> None:
        self.text = io.StringIO()
        self.writer = csv.writer(self.text)

    def header(self) -> bytes:
        return self._written(CSV_FIELDS)

    def row(self, leaf: dict[str, object], file: str | None) -> bytes:
        return self._written([_cell(leaf.get(name)) for name in LEAF_FIELDS] + [_cell(file)])

    def _written(self, values: Iterable[str]) -> bytes:
        self.writer.writerow(values)
        row = self.text.getvalue()
        self.text.seek(0)
        self.text.truncate()
        return row.encode()


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
                   at the end of its retention period is listed without a file, and a tombstone
                   record in the package lists its seq: see step 3 below)
  decisions.jsonl  the review decisions and applied actions among the records, one per line
  proofs.jsonl     per record: seq, leaf_hash, tree_size, audit_path (hex, from the leaf up)
  checkpoint.json  the signed checkpoint: size, root (hex), time, key, signature (base64)
  public-key.pem   the Ed25519 key that signed it
  SHA256SUMS       the SHA-256 of every other file

To check it by hand:
1. In the unpacked folder: sha256sum -c SHA256SUMS
2. Each evidence/<seq>-<sha256>.<ext> hashes (SHA-256) to the sha256 of record <seq>; each line
   of decisions.jsonl (without its newline) hashes to the sha256 of a decision record.
3. Each record without a file is listed in the "seqs" of a record of kind tombstone whose file
   is here, and was captured before the tombstone's "captured_before".
4. Each record's leaf hash is SHA-256(0x00 || the line's bytes without its newline); with its
   audit path it leads to the checkpoint's root (RFC 6962 / RFC 9162 section 2.1.3.2).
5. The checkpoint's signature is Ed25519 over these lines, each ending in a newline:
       rcmbot evidence log v1
       <size>
       <root in standard base64>
       <time>
6. Compare public-key.pem with the key the organisation gave you (the package's own key proves
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
    unlisted: int = 0  # problems beyond the first MAX_PROBLEMS, counted, not listed

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, problem: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.unlisted += 1


@dataclass(slots=True, frozen=True)
class _Listed:
    """A record of records.jsonl: its line number, leaf hash, and the fields the check uses (a
    package may list millions: the parsed record is not kept)."""

    line: int
    leaf_hash: bytes
    kind: str
    sha256: str
    size: int
    media_type: str
    captured_at: dt.datetime


class _Zip:
    """The admitted entries of a package, each read at most once, in chunks; the SHA-256 of each
    read to its end kept for SHA256SUMS."""

    def __init__(self, archive: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo], report: PackageReport) -> None:
        self.archive, self.entries, self.report = archive, entries, report
        self.sha256: dict[str, str] = {}
        self.unread: set[str] = set()  # not read to the end: a problem says why; no SHA-256 to compare

    def chunks(self, name: str) -> Generator[bytes, None, None]:
        digest = hashlib.sha256()
        try:
            with self.archive.open(self.entries[name]) as f:
                while chunk := f.read(_CHUNK):
                    digest.update(chunk)
                    yield chunk
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError) as exc:
            self.report.fail(f"{name}: cannot be read from the zip ({exc})")
            self.unread.add(name)
            return
        self.sha256[name] = digest.hexdigest()

    def whole(self, name: str) -> bytes | None:
        """The file (its size admitted under LIMITS), or None when absent or unreadable."""
        if name not in self.entries:
            return None
        data = b"".join(self.chunks(name))
        return None if name in self.unread else data

    def lines(self, name: str) -> Iterator[tuple[int, bytes]]:
        """(line number, bytes without the newline) of a JSON-lines file, every line ending in
        one; a line longer than its LINE_LIMITS ends the reading, as a problem."""
        if name not in self.entries:
            return
        limit, n, rest = LINE_LIMITS[name], 0, b""
        chunks = self.chunks(name)
        try:
            for chunk in chunks:
                *complete, rest = (rest + chunk).split(b"\n")
                for line in complete:
                    n += 1
                    if len(line) > limit:
                        self._too_long(name, n)
                        return
                    yield n, line
                if len(rest) > limit:
                    self._too_long(name, n + 1)
                    return
        finally:
            chunks.close()
        if rest and name not in self.unread:
            self.report.fail(f"{name}: the last line does not end in a newline (cut short?)")
            yield n + 1, rest

    def _too_long(self, name: str, n: int) -> None:
        self.report.fail(f"{name}: line {n}: longer than the {LINE_LIMITS[name]} bytes a line may be; not read further")
        self.unread.add(name)

    def drain(self, name: str) -> None:
        for _ in self.chunks(name):
            pass


def verify_package(
    path: Path, public_key: Ed25519PublicKey | None = None, *, max_unpacked: int = MAX_UNPACKED
) -> PackageReport:
    """Check a package with nothing but itself (and the public key, when given): no database, no
    store. Every problem names the file inside the zip it is about. A zip that could not be a
    package (names outside its folder or unknown, links, sizes over LIMITS) is refused before a
    byte of it is decompressed."""
    report = PackageReport()
    try:
        with zipfile.ZipFile(path) as archive:
            entries = _admitted(archive, report, max_unpacked)
            if entries is not None:
                _verify(_Zip(archive, entries, report), public_key, report)
    except zipfile.BadZipFile as exc:
        report.fail(f"{path.name}: not a readable zip ({exc})")
    if report.unlisted:
        report.problems.append(f"and {report.unlisted} more problem(s), not listed")
    return report


def _verify(package: _Zip, public_key: Ed25519PublicKey | None, report: PackageReport) -> None:
    for name in (*METADATA, SUMS):
        if name not in package.entries:
            report.fail(f"{name}: missing from the package")
    files = _evidence_names(package, report)
    checkpoint, key = _check_checkpoint(package, public_key, report)
    listed, csv_sha256 = _check_records(package, files, report)
    _check_proofs(package, listed, checkpoint, report)
    tombstones = _check_evidence(package, listed, files, report)
    _check_removed(listed, files, tombstones, key, report)
    _check_decisions(package, listed, files, report)
    if RECORDS_CSV in package.entries:
        package.drain(RECORDS_CSV)
        if package.sha256.get(RECORDS_CSV, csv_sha256) != csv_sha256:
            report.fail(f"{RECORDS_CSV}: does not match {RECORDS} (it is their copy for spreadsheets)")
    _check_sums(package, report)


def _admitted(archive: zipfile.ZipFile, report: PackageReport, max_unpacked: int) -> dict[str, zipfile.ZipInfo] | None:
    """The files of the zip by name, or None (with the reasons) when it is refused before reading:
    a name that would unpack outside the folder, a name twice, a name not of the format, a link,
    a method other than deflate, or an unpacked size over a file's limit or the package's."""
    for info in archive.infolist():
        parts = info.filename.replace("\\", "/").split("/")
        if info.filename.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", info.filename) or ".." in parts:
            report.fail(f"{info.filename}: refused: a name that unpacks outside the package's folder")
        elif stat.S_ISLNK(info.external_attr >> 16):
            report.fail(f"{info.filename}: refused: a symbolic link")
    if report.problems:
        return None
    entries = [info for info in archive.infolist() if not info.is_dir()]
    for name, count in Counter(info.filename for info in entries).items():
        if count > 1:
            report.fail(f"{name}: refused: the zip holds {count} files of this name")
    for info in entries:
        limit = LIMITS.get(info.filename)
        if limit is None and not EVIDENCE_NAME.fullmatch(info.filename):
            report.fail(f"{info.filename}: refused: not part of the package format")
        elif info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            report.fail(f"{info.filename}: refused: compressed with method {info.compress_type}, not deflate")
        elif limit is not None and info.file_size > limit:
            report.fail(f"{info.filename}: refused: it unpacks to {info.file_size} bytes, more than the {limit} it may")
    total = sum(info.file_size for info in entries)
    if total > max_unpacked:
        report.fail(
            f"refused: the zip unpacks to {total} bytes, more than the {max_unpacked} a package may (a zip bomb?)"
        )
    return None if report.problems else {info.filename: info for info in entries}


def _evidence_names(package: _Zip, report: PackageReport) -> dict[int, str]:
    """The evidence file of each seq, by name alone (read later, against its record)."""
    files: dict[int, str] = {}
    for name in sorted(package.entries):
        found = EVIDENCE_NAME.fullmatch(name)
        if found is None:
            continue
        seq = int(found[1])
        if seq in files:
            report.fail(f"{name}: a second file of seq {seq} (after {files[seq]})")
            package.unread.add(name)
            continue
        files[seq] = name
    return files


def _check_sums(package: _Zip, report: PackageReport) -> None:
    data = package.whole(SUMS)
    if data is None:
        return
    listed: dict[str, str] = {}
    for n, line in enumerate(data.decode(errors="replace").splitlines(), 1):
        found = re.fullmatch(r"([0-9a-f]{64}) [ *](.+)", line)
        if found is None:
            report.fail(f"{SUMS}: line {n}: not `<sha256>  <file name>`")
        elif found[2] in listed:
            report.fail(f"{SUMS}: line {n}: lists {found[2]} a second time")
        else:
            listed[found[2]] = found[1]
    present = set(package.entries) - {SUMS}
    for name in sorted(present):
        if name not in listed:
            report.fail(f"{name}: not listed in {SUMS}")
            continue
        if name not in package.sha256 and name not in package.unread:
            package.drain(name)
        if name in package.sha256 and package.sha256[name] != listed[name]:
            report.fail(f"{name}: does not match its SHA-256 in {SUMS}")
    for name in sorted(set(listed) - present):
        report.fail(f"{name}: listed in {SUMS} but not in the package")


def _check_checkpoint(
    package: _Zip, public_key: Ed25519PublicKey | None, report: PackageReport
) -> tuple[Checkpoint | None, Ed25519PublicKey | None]:
    """The package's checkpoint (None when unreadable), its signature checked under the key
    given, else under the package's own key (said in a note: that proves nothing by itself);
    and the key it was checked with (tombstones are checked with it too)."""
    pem = package.whole(PUBLIC_KEY)
    data = package.whole(CHECKPOINT)
    if data is None:
        return None, public_key
    try:
        checkpoint = Checkpoint.from_json(data.decode())
    except (ValueError, UnicodeDecodeError) as exc:
        report.fail(f"{CHECKPOINT}: not a checkpoint ({exc})")
        return None, public_key
    report.checkpoint_size = checkpoint.size
    key = public_key or _own_key(pem, report)
    if key is None:
        return checkpoint, None
    want = report.key_fingerprint = fingerprint(key)
    if checkpoint.key_fingerprint != want:
        report.fail(f"{CHECKPOINT}: signed by key {checkpoint.key_fingerprint}, not by key {want}")
    elif not signature_ok(checkpoint, key):
        report.fail(f"{CHECKPOINT}: the signature does not verify under key {want}: forged or altered")
    return checkpoint, key


def _own_key(pem: bytes | None, report: PackageReport) -> Ed25519PublicKey | None:
    if pem is None:
        report.fail(f"{CHECKPOINT}: no key to check its signature with (none given, no readable {PUBLIC_KEY})")
        return None
    try:
        key = load_public_key(pem)
    except EvidenceError as exc:
        report.fail(f"{PUBLIC_KEY}: {exc}")
        return None
    report.notes.append(
        f"the signature was checked with the package's own {PUBLIC_KEY} (key {fingerprint(key)}): compare that "
        "fingerprint with the key the organisation gave you, or check with their key (--public-key), since a "
        "package can carry any key"
    )
    return key


def _check_records(package: _Zip, files: dict[int, str], report: PackageReport) -> tuple[dict[int, _Listed], str]:
    """The records of records.jsonl by seq (each line a record, in seq order), and the SHA-256
    records.csv must have: each record's row, with its file in the package."""
    listed: dict[int, _Listed] = {}
    rows = _CsvRows()
    csv_sha256 = hashlib.sha256(rows.header())
    last = -1
    for n, line in package.lines(RECORDS):
        try:
            leaf = json.loads(line)
            record = EvidenceRecord.from_leaf(line.decode())
        except ValueError as exc:  # JSON, UTF-8 and pydantic errors are all ValueErrors
            report.fail(f"{RECORDS}: line {n}: not a record ({str(exc).splitlines()[0]})")
            continue
        if record.seq in listed:
            report.fail(f"{RECORDS}: line {n}: seq {record.seq} a second time (line {listed[record.seq].line})")
            continue
        if record.seq < last:
            report.fail(f"{RECORDS}: line {n}: seq {record.seq} after seq {last}: not in seq order")
        last = max(last, record.seq)
        listed[record.seq] = _Listed(
            n,
            merkle.leaf_hash(line),
            record.kind,
            record.sha256,
            record.size,
            record.media_type,
            record.captured_at,
        )
        csv_sha256.update(rows.row(leaf, files.get(record.seq)))
    report.records = len(listed)
    return listed, csv_sha256.hexdigest()


def _check_proofs(
    package: _Zip, listed: dict[int, _Listed], checkpoint: Checkpoint | None, report: PackageReport
) -> None:
    """Each record proved into the checkpoint by its line of proofs.jsonl, read a line at a time."""
    proved: dict[int, int] = {}  # seq -> line
    for n, line in package.lines(PROOFS):
        try:
            data = json.loads(line)
            seq, size = data["seq"], data["tree_size"]
            if not isinstance(seq, int) or not isinstance(size, int):
                raise TypeError("seq and tree_size must be whole numbers")
            stated, path = bytes.fromhex(data["leaf_hash"]), [bytes.fromhex(h) for h in data["audit_path"]]
        except (ValueError, KeyError, TypeError) as exc:
            report.fail(f"{PROOFS}: line {n}: not a proof ({exc})")
            continue
        if seq in proved:
            report.fail(f"{PROOFS}: line {n}: a second proof of seq {seq}")
            continue
        proved[seq] = n
        entry = listed.get(seq)
        if entry is None:
            report.fail(f"{PROOFS}: line {n}: proves seq {seq}, which {RECORDS} does not hold")
            continue
        where = f"{RECORDS}: line {entry.line} (seq {seq})"
        if checkpoint is None:
            continue
        if size != checkpoint.size:
            report.fail(
                f"{PROOFS}: line {n}: proves seq {seq} in {size} records, not the checkpoint's {checkpoint.size}"
            )
        elif stated != entry.leaf_hash:
            report.fail(f"{where}: its leaf hash is {entry.leaf_hash.hex()}, not the proved {stated.hex()}: altered")
        elif not merkle.verify_inclusion(entry.leaf_hash, seq, size, path, checkpoint.root):
            report.fail(f"{where}: its audit path ({PROOFS} line {n}) does not lead to the checkpoint's root")
    if PROOFS in package.unread:
        return  # named already; the proofs after the line it stopped at were not read
    for seq, entry in sorted(listed.items()):
        if seq not in proved:
            report.fail(f"{RECORDS}: line {entry.line} (seq {seq}): {PROOFS} holds no proof of it")


def _check_evidence(
    package: _Zip, listed: dict[int, _Listed], files: dict[int, str], report: PackageReport
) -> dict[int, bytes]:
    """Every evidence file against its record: its extension, its size (before a byte is
    decompressed), its content hash (read in chunks). The content of each tombstone file that
    matches its record, by seq."""
    tombstones: dict[int, bytes] = {}
    for seq, name in sorted(files.items()):
        found = EVIDENCE_NAME.fullmatch(name)
        assert found is not None, "evidence files are told apart by their name"
        entry = listed.get(seq)
        if entry is None:
            report.fail(f"{name}: {RECORDS} holds no record of seq {seq}")
            package.unread.add(name)
            continue
        report.files += 1
        if found[2] != entry.sha256:
            report.fail(f"{name}: named for content {found[2]}, but record seq {seq} is {entry.sha256}")
        if EXTENSIONS.get(entry.media_type) != found[3]:
            report.fail(f"{name}: a .{found[3]} file, but record seq {seq} is {entry.media_type}")
        size = package.entries[name].file_size
        if size != entry.size:
            report.fail(f"{name}: unpacks to {size} bytes, not the {entry.size} of record seq {seq}: altered")
            package.unread.add(name)
            continue
        report.bytes += size
        keep = entry.kind == "tombstone" and size <= MAX_TOMBSTONE
        content = bytearray()
        for chunk in package.chunks(name):
            if keep:
                content += chunk
        digest = package.sha256.get(name)
        if digest is not None and found[2] == entry.sha256 and digest != entry.sha256:
            report.fail(f"{name}: its SHA-256 is {digest}, not {entry.sha256} of record seq {seq}: altered")
        elif digest == entry.sha256 and entry.kind == "tombstone":
            if keep:
                tombstones[seq] = bytes(content)
            else:
                report.fail(f"{name}: a tombstone of {size} bytes, more than the {MAX_TOMBSTONE} one may be")
    return tombstones


def _check_removed(
    listed: dict[int, _Listed],
    files: dict[int, str],
    tombstones: dict[int, bytes],
    key: Ed25519PublicKey | None,
    report: PackageReport,
) -> None:
    """Each record listed without its file is covered by a tombstone in the package, signed by
    the checkpoint's key: the tombstone lists its seq and removed only what was captured before
    a time after it."""
    listings = {}
    for seq, content in tombstones.items():
        try:
            proven = proven_listing(content, seq, listed[seq].captured_at, key)
        except EvidenceError as exc:
            report.fail(f"{files[seq]}: {exc}")
            continue
        listings[seq] = (proven.captured_before, set(proven.seqs))
    coverage = _coverage(listings)
    removed, by = 0, set()
    for seq, entry in sorted(listed.items()):
        if seq in files:
            continue
        reason = _uncovered(seq, entry.captured_at, coverage, "in the package")
        if reason is not None:
            report.fail(f"{RECORDS}: line {entry.line} (seq {seq}): listed without its file, and {reason}")
        else:
            removed += 1
            by.add(coverage[seq][0])
    if removed:
        report.notes.append(
            f"{removed} record(s) listed without their file: removed at the end of the retention period, as "
            f"tombstone record(s) seq {', '.join(str(seq) for seq in sorted(by))} in the package say"
        )


def _check_decisions(package: _Zip, listed: dict[int, _Listed], files: dict[int, str], report: PackageReport) -> None:
    """Each line of decisions.jsonl hashes to a decision record; each decision whose file the
    package holds has its line."""
    decisions = {e.sha256: seq for seq, e in listed.items() if e.kind in DECISION_KINDS}
    seen = set()
    for n, line in package.lines(DECISIONS):
        digest = hashlib.sha256(line).hexdigest()
        if digest not in decisions:
            report.fail(f"{DECISIONS}: line {n}: hashes to no decision record in {RECORDS}: altered")
        seen.add(digest)
        report.decisions += 1
    if DECISIONS not in package.entries or DECISIONS in package.unread:
        return  # named already
    for digest, seq in sorted(decisions.items(), key=lambda pair: pair[1]):
        if seq in files and digest not in seen:
            report.fail(f"{DECISIONS}: lacks the decision of record seq {seq}")


# -- tombstones ---------------------------------------------------------------------------------


def tombstone_listing(content: bytes) -> tuple[dt.datetime, set[int]]:
    """(captured_before, seqs) of a tombstone record's content (`{"reason", "captured_before",
    "seqs"}`, as upkeep.expire writes it); ValueError when it is not one."""
    data = json.loads(content)
    before = data.get("captured_before") if isinstance(data, dict) else None
    seqs = data.get("seqs") if isinstance(data, dict) else None
    if not isinstance(before, str) or not isinstance(seqs, list):
        raise ValueError("not an object with captured_before (a time) and seqs (a list)")
    if not all(isinstance(seq, int) and not isinstance(seq, bool) for seq in seqs):
        raise ValueError("seqs holds something other than whole numbers")
    when = dt.datetime.fromisoformat(before)
    if when.tzinfo is None:
        raise ValueError(f"captured_before {before!r} has no time zone")
    return when, set(seqs)


def _coverage(listings: dict[int, tuple[dt.datetime, set[int]]]) -> dict[int, tuple[int, dt.datetime]]:
    """For each seq a tombstone lists, the tombstone (a later record) with the latest cutoff."""
    covered: dict[int, tuple[int, dt.datetime]] = {}
    for tombstone, (before, seqs) in sorted(listings.items()):
        for seq in seqs:
            if seq < tombstone and (seq not in covered or covered[seq][1] < before):
                covered[seq] = (tombstone, before)
    return covered


def _uncovered(
    seq: int, captured_at: dt.datetime, coverage: dict[int, tuple[int, dt.datetime]], among: str
) -> str | None:
    """Why a record without its file is not proved removed by retention (None: it is), the
    tombstones being those `among` names."""
    if seq not in coverage:
        return f"no tombstone {among} lists it as removed by retention"
    tombstone, before = coverage[seq]
    if before <= captured_at:
        return (
            f"tombstone seq {tombstone} removed only what was captured before {before:%Y-%m-%dT%H:%M:%SZ}, "
            f"and it was captured {captured_at:%Y-%m-%dT%H:%M:%S.%fZ}"
        )
    return None


def _listing(seq: int, content: bytes) -> tuple[dt.datetime, set[int]]:
    try:
        return tombstone_listing(content)
    except ValueError as exc:
        raise EvidenceError(f"tombstone record seq {seq} is not a tombstone ({exc})") from None


def with_tombstones(index: EvidenceIndex, records: list[EvidenceRecord]) -> list[EvidenceRecord]:
    """`records` with the tombstones that cover those whose file retention removed (the index's
    tombstone records, newest first, down to the oldest such record), oldest first."""
    removed = {r.seq for r in records if r.stored.path is None}
    chosen = {r.seq: r for r in records}
    oldest = min(removed, default=0)  # a tombstone lists only records before it
    before: int | None = None
    while removed:
        page = index.search(EvidenceQuery(kinds=["tombstone"], before_seq=before, limit=_PAGE))
        for tombstone in page:
            if tombstone.seq < oldest:
                return sorted(chosen.values(), key=lambda r: r.seq)
            if tombstone.stored.path is None:
                continue
            _, seqs = _listing(tombstone.seq, index.store.read(tombstone))
            if seqs & removed:
                chosen.setdefault(tombstone.seq, tombstone)
                removed -= seqs
        if len(page) < _PAGE:
            break
        before = page[-1].seq
    return sorted(chosen.values(), key=lambda r: r.seq)


# -- selecting records --------------------------------------------------------------------------


def records_of_items(index: EvidenceIndex, item_ids: Iterable[int]) -> list[EvidenceRecord]:
    """Every record of these items, oldest first: evidence, traces, and the review decisions and
    applied actions about them (their records carry the item's id), with the tombstones of
    those whose file retention removed."""
    index.sync()
    return with_tombstones(index, index.for_items(item_ids))


def records_captured_between(index: EvidenceIndex, first: dt.date, last: dt.date) -> list[EvidenceRecord]:
    """Every record captured from `first` to `last`, both whole UTC days, oldest first, with the
    tombstones of those whose file retention removed."""
    for day in (first, last):
        if not FIRST_DAY <= day <= LAST_DAY:
            raise InputError(f"{day}: a capture day is from {FIRST_DAY} to {LAST_DAY}")
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
            return with_tombstones(index, found[::-1])
        before = page[-1].seq


# -- opening one record for a person ------------------------------------------------------------


def find_record(index: EvidenceIndex, ident: str) -> EvidenceRecord:
    """The record `ident` names: its seq (ASCII digits), or at least 8 hex digits of the start of its content
    hash (identical content in several records: the newest that still has its file). InputError
    when none or several do, listing the candidates."""
    text = ident.strip().lower()
    is_seq = re.fullmatch(r"[0-9]{1,19}", text) is not None and int(text) <= MAX_SEQ  # ASCII digits only
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
