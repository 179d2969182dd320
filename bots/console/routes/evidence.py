"""Evidence files by their content SHA-256, for any signed-in user: screenshots as images, HTML
snapshots as untrusted portal markup in a sandbox. A hash is only ever looked up in the evidence
index (never made into a path), and the content, decrypted, must still hash to it before a byte
is sent: evidence that was altered is refused, not shown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from bots.console.deps import CurrentUser, audit
from bots.core.errors import EvidenceError
from bots.core.logs import get_logger
from bots.evidence.index import EvidenceIndex
from bots.evidence.records import SHA256

router = APIRouter()
SHOWN = {"image/png", "image/jpeg", "text/html"}  # traces and JSON records are exported, not shown inline
log = get_logger(__name__)

# A snapshot is the portal's markup: no script, no requests, no forms, nothing from this origin
SNAPSHOT_HEADERS = {
    "Content-Security-Policy": "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def evidence_index(request: Request) -> EvidenceIndex:
    index: EvidenceIndex = request.app.state.evidence
    return index


Evidence = Annotated[EvidenceIndex, Depends(evidence_index)]


@dataclass(frozen=True)
class EvidenceLink:
    """What a page links to for one hash: the file's kind, or None when the store lacks it."""

    sha256: str
    media_type: str | None

    @property
    def is_image(self) -> bool:
        return bool(self.media_type and self.media_type.startswith("image/"))


def links(index: EvidenceIndex, hashes: list[str]) -> list[EvidenceLink]:
    """Each hash with its kind, for a page that shows thumbnails of screenshots and links to snapshots."""
    found = index.find_many(hashes)
    return [EvidenceLink(sha, found[sha].media_type if sha in found else None) for sha in hashes]


@router.get("/evidence/{sha256}")
def evidence(request: Request, sha256: str, user: CurrentUser, index: Evidence) -> Response:
    record = index.find(sha256) if SHA256.fullmatch(sha256) else None
    if record is None or record.media_type not in SHOWN:
        raise HTTPException(404, "no evidence file by that name")
    try:
        content = index.store.read(record)
    except EvidenceError as exc:
        log.warning("evidence_unreadable", evidence=sha256[:12], seq=record.seq)
        raise HTTPException(
            409,
            "This evidence file was changed or removed after it was captured, so it is not shown. "
            "Tell an administrator.",
        ) from exc
    audit(request, "view_evidence", f"evidence {sha256[:12]}", item_id=record.item_id if record.item_id > 0 else None)
    if record.media_type.startswith("image/"):
        return Response(content, media_type=record.media_type, headers={"Cache-Control": "no-store"})
    return Response(content, media_type="text/html; charset=utf-8", headers=SNAPSHOT_HEADERS)
