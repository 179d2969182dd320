"""Evidence store: content-addressed files plus an append-only manifest.

Layout of a local store root:
    objects/<2 hex>/<sha256>.<ext>   the evidence, named by the SHA-256 of its content
    manifest.jsonl                   one JSON record per capture, appended and fsync'd

The hash is computed once, at capture. Files are written to a temporary name and renamed,
so a crash never leaves a half-written file under its final name. `verify` recomputes
every hash and reports each missing, altered or unrecorded file.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel

from bots.core.errors import EvidenceError

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "text/html": "html"}
_SECRET_PARAM = re.compile(r"token|session|sid|code|otp|pass|secret|key|auth", re.IGNORECASE)


def safe_url(url: str) -> str:
    """The URL without user info, fragment, or query parameters that may carry secrets."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if not _SECRET_PARAM.search(k)])
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


class EvidenceRecord(BaseModel):
    sha256: str
    size: int
    media_type: str
    path: str  # relative to the store root
    item_id: int
    portal: str
    page_url: str
    captured_at: dt.datetime  # UTC
    run_id: str
    flow_run_id: str | None = None


class EvidenceStore(Protocol):
    def put(
        self,
        content: bytes,
        media_type: str,
        *,
        item_id: int,
        portal: str,
        page_url: str,
        run_id: str,
        flow_run_id: str | None,
    ) -> EvidenceRecord: ...

    def records(self) -> list[EvidenceRecord]: ...

    def verify(self) -> list[str]: ...


class LocalEvidenceStore:
    """An evidence store on the local file system."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.manifest = root / "manifest.jsonl"
        self._lock = threading.Lock()

    def put(
        self,
        content: bytes,
        media_type: str,
        *,
        item_id: int,
        portal: str,
        page_url: str,
        run_id: str,
        flow_run_id: str | None,
    ) -> EvidenceRecord:
        if media_type not in EXTENSIONS:
            raise EvidenceError(f"unsupported media type {media_type}")
        sha = hashlib.sha256(content).hexdigest()
        rel = Path("objects") / sha[:2] / f"{sha}.{EXTENSIONS[media_type]}"
        target = self.root / rel
        if not target.exists():
            self._write_atomic(target, content)
        record = EvidenceRecord(
            sha256=sha,
            size=len(content),
            media_type=media_type,
            path=rel.as_posix(),
            item_id=item_id,
            portal=portal,
            page_url=safe_url(page_url),
            captured_at=dt.datetime.now(dt.UTC),
            run_id=run_id,
            flow_run_id=flow_run_id,
        )
        self._append(record)
        return record

    @staticmethod
    def _write_atomic(target: Path, content: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(content)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _append(self, record: EvidenceRecord) -> None:
        line = (record.model_dump_json() + "\n").encode()
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.manifest, "ab") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # other processes append too
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def _read(self) -> tuple[list[EvidenceRecord], list[str]]:
        if not self.manifest.exists():
            return [], []
        records, problems = [], []
        with open(self.manifest, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                try:
                    records.append(EvidenceRecord.model_validate_json(line))
                except ValueError:
                    problems.append(f"{self.manifest}: line {n}: not a valid manifest record")
        return records, problems

    def records(self) -> list[EvidenceRecord]:
        return self._read()[0]

    def verify(self) -> list[str]:
        """Every problem found, one line each; empty when all evidence is intact."""
        records, problems = self._read()
        checked: set[str] = set()
        for r in records:
            if r.path in checked:
                continue
            checked.add(r.path)
            path = self.root / r.path
            if not path.is_file():
                problems.append(f"missing: {path}")
            elif hashlib.sha256(path.read_bytes()).hexdigest() != r.sha256:
                problems.append(f"altered: {path} (content no longer matches sha256 {r.sha256})")
        if self.objects.exists():
            for path in sorted(self.objects.rglob("*")):
                rel = path.relative_to(self.root).as_posix()
                if path.is_file() and not path.name.startswith(".tmp-") and rel not in checked:
                    problems.append(f"unrecorded: {path} (not in the manifest)")
        return problems


SHA256 = re.compile(r"[0-9a-f]{64}")  # with fullmatch: "$" would let a trailing newline through


@dataclass(frozen=True)
class EvidenceFile:
    sha256: str
    path: Path
    media_type: str

    @property
    def is_image(self) -> bool:
        return self.media_type.startswith("image/")


def locate(root: Path, sha256: str) -> EvidenceFile | None:
    """The stored file of content hash `sha256` under the store `root`, if `sha256` is a hash and
    the file (symbolic links followed) lies inside the root; else None. Only a name that is
    exactly 64 lowercase hex digits ever becomes a path."""
    if not SHA256.fullmatch(sha256):
        return None
    base = root.resolve()
    for media_type, ext in EXTENSIONS.items():
        candidate = base / "objects" / sha256[:2] / f"{sha256}.{ext}"
        if candidate.is_file():
            real = candidate.resolve()
            return EvidenceFile(sha256, real, media_type) if real.is_relative_to(base) else None
    return None


def open_evidence_store(root: Path) -> LocalEvidenceStore:
    """The store for a root. The one switch a future object-storage adapter will hang off."""
    return LocalEvidenceStore(root)
