"""What the evidence log holds: one record per stored object, and the exact bytes of its leaf.

A record has two parts. The *leaf* is what an auditor sees and what the Merkle tree hashes:
sequence number, kind, the SHA-256 of the content, its size and media type, the item, portal,
page URL, capture time and run. It is written once, as compact JSON, and its bytes are kept
verbatim in the log line, so anybody can recompute its leaf hash without re-encoding JSON the
way this code does. The *stored* part says where the bytes are and how they are kept (path, the
SHA-256 of the stored bytes, the encryption key id); re-encrypting or expiring a file changes
only that part, never the leaf, so key rotation and retention leave the tree as it was.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, field_validator

Kind = Literal["evidence", "trace", "decision", "applied", "tombstone"]
KINDS: tuple[str, ...] = ("evidence", "trace", "decision", "applied", "tombstone")

EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "text/html": "html",
    "application/json": "json",
    "application/zip": "zip",
}


SHA256 = re.compile(r"[0-9a-f]{64}")  # with fullmatch: "$" would let a trailing newline through


def safe_url(url: str) -> str:
    """The URL without user info, fragment or query values: a portal's query string carries member
    IDs and dates of service (`?member_id=...&dos_from=...`), which evidence must not repeat in
    plain text. The parameter names stay: they say what was asked."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    query = urlencode([(k, "") for k, _ in parse_qsl(parts.query, keep_blank_values=True)])
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


# the only shapes a stored object's path takes: a file two levels under objects/, never a path
# that could leave the store (retention and rotation delete by it)
OBJECT_PATH = re.compile(r"objects/[0-9a-f]{2}/[0-9a-f]{32,64}\.(?:png|jpg|html|json|zip|bin)")


class Stored(BaseModel):
    """Where a record's bytes are kept: `path` relative to the store root (None once expired),
    the SHA-256 of the bytes on disk (the ciphertext when encrypted) and the key id."""

    model_config = ConfigDict(frozen=True)

    path: str | None
    sha256: str | None = None
    key: str | None = None

    @field_validator("path")
    @classmethod
    def _inside_objects(cls, path: str | None) -> str | None:
        if path is not None and not OBJECT_PATH.fullmatch(path):
            raise ValueError(f"not a stored object's path: {path[:80]!r}")
        return path

    def content_addressed(self, sha256: str, media_type: str) -> bool:
        """Whether this is where plain content of that hash lives (plain objects are named by it)."""
        return self.path == f"objects/{sha256[:2]}/{sha256}.{EXTENSIONS.get(media_type, '')}"


class EvidenceRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int
    kind: Kind = "evidence"
    sha256: str  # of the content, as an auditor sees it
    size: int
    media_type: str
    item_id: int
    portal: str
    page_url: str
    captured_at: dt.datetime  # UTC
    run_id: str
    flow_run_id: str | None = None
    stored: Stored = Stored(path=None)

    @property
    def path(self) -> str | None:
        return self.stored.path

    def leaf(self) -> str:
        """The leaf's text: compact JSON with sorted keys, everything but `stored`."""
        data = self.model_dump(mode="json", exclude={"stored"})
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def log_line(self) -> bytes:
        return (json.dumps({"leaf": self.leaf(), "stored": self.stored.model_dump()}) + "\n").encode()

    @classmethod
    def from_leaf(cls, leaf: str, stored: Stored | None = None) -> EvidenceRecord:
        record = cls.model_validate_json(leaf)
        return record.model_copy(update={"stored": stored}) if stored else record


def parse_log_line(line: bytes) -> tuple[str, EvidenceRecord]:
    """(leaf text, record) of one log line; ValueError when it is not one."""
    outer = json.loads(line)
    if not isinstance(outer, dict) or not isinstance(outer.get("leaf"), str):
        raise ValueError("not a log record")
    leaf: str = outer["leaf"]
    return leaf, EvidenceRecord.from_leaf(leaf, Stored.model_validate(outer.get("stored") or {"path": None}))


def relocation_line(seq: int, stored: Stored) -> bytes:
    return (json.dumps({"seq": seq, "stored": stored.model_dump()}) + "\n").encode()


def parse_relocation(line: bytes) -> tuple[int, Stored]:
    """(seq, new location) of one relocations line; ValueError when it is not one."""
    try:
        entry = json.loads(line)
        return int(entry["seq"]), Stored.model_validate(entry["stored"])
    except (KeyError, TypeError) as exc:
        raise ValueError("not a relocation") from exc
