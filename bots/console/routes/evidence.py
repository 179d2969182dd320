"""Evidence files by their SHA-256, for any signed-in user: screenshots as images, HTML snapshots
as untrusted portal markup in a sandbox. Only a name that is exactly 64 lowercase hex digits
ever becomes a path, and the file found must still hash to its name before a byte of it is sent:
evidence that was altered is refused, not shown."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from bots.console.deps import CurrentUser, audit
from bots.core.logs import get_logger
from bots.evidence import locate

router = APIRouter()
log = get_logger(__name__)

# A snapshot is the portal's markup: no script, no requests, no forms, nothing from this origin
SNAPSHOT_HEADERS = {
    "Content-Security-Policy": "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def evidence_root(request: Request) -> Path:
    root: Path = request.app.state.evidence_root
    return root


EvidenceRoot = Annotated[Path, Depends(evidence_root)]


@dataclass(frozen=True)
class EvidenceLink:
    """What a page links to for one hash: the file's kind, or None when the store lacks it."""

    sha256: str
    media_type: str | None

    @property
    def is_image(self) -> bool:
        return bool(self.media_type and self.media_type.startswith("image/"))


def links(root: Path, hashes: list[str]) -> list[EvidenceLink]:
    """Each hash with its kind, for a page that shows thumbnails of screenshots and links to snapshots."""
    found = [(sha, locate(root, sha)) for sha in hashes]
    return [EvidenceLink(sha, file.media_type if file else None) for sha, file in found]


@router.get("/evidence/{sha256}")
def evidence(request: Request, sha256: str, user: CurrentUser, root: EvidenceRoot) -> Response:
    file = locate(root, sha256)
    if file is None:
        raise HTTPException(404, "no evidence file by that name")
    content = file.path.read_bytes()
    if hashlib.sha256(content).hexdigest() != sha256:
        log.warning("evidence_altered", evidence=sha256[:12])
        raise HTTPException(
            409, "This evidence file was changed after it was captured, so it is not shown. Tell an administrator."
        )
    audit(request, "view_evidence", f"evidence {sha256[:12]}")
    if file.is_image:
        return Response(content, media_type=file.media_type)
    return Response(content, media_type="text/html; charset=utf-8", headers=SNAPSHOT_HEADERS)
