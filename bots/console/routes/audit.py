"""The auditor's evidence browser: a search of claims and evidence (a POST, so no number lands in a
URL), one claim's timeline with every file on it verified, its Playwright traces, and its audit
package. For auditors and admins only: every other role gets 403, whatever the request. Read
only: the search and the export are the only POSTs, both under the console's CSRF check. Every
page, file and package is logged to the access log by internal ids and known codes only, never
by what was typed (bots.console.auditing does the work)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from bots.console.auditing import (
    Criteria,
    EvidenceBrowser,
    PackageUnavailableError,
    SearchForm,
    SearchResult,
    registry_codes,
)
from bots.console.deps import Auditor, audit
from bots.console.pages import render
from bots.console.routes.evidence import Evidence
from bots.console.routes.worklist import Review, Worklist
from bots.console.verification import Verifier
from bots.core.errors import EvidenceError, InputError
from bots.core.logs import get_logger

router = APIRouter()
log = get_logger(__name__)
ItemId = Annotated[int, FastPath(ge=1, le=2**62)]  # what a database integer holds
_made = threading.Lock()
UNREADABLE = (
    "This evidence file was changed or removed after it was captured, so it is not served. Tell an administrator."
)
NOT_EXPORTED = (
    "No audit package was made: evidence of this claim was changed or removed after it was captured, or does not "
    "prove into the signed log, so a package of it would not verify. Tell an administrator "
    "(`rcmbot evidence verify` names what is wrong)."
)
NOTHING_TO_EXPORT = "No audit package was made: this claim has no evidence records, so there is nothing to export."


def verifier(request: Request, index: Evidence) -> Verifier:
    """The console's one Verifier (bots.console.server puts it in app.state), made here for an app
    built without it."""
    with _made:
        found: Verifier | None = getattr(request.app.state, "verifier", None)
        if found is None:
            found = Verifier(request.app.state.settings, index.store)
            request.app.state.verifier = found
    return found


def evidence_browser(
    request: Request,
    worklist: Worklist,
    review: Review,
    index: Evidence,
    verifier: Annotated[Verifier, Depends(verifier)],
) -> EvidenceBrowser:
    settings = request.app.state.settings
    return EvidenceBrowser(worklist, index, review, verifier, registry_codes(settings.path(settings.portals_file)))


Browser = Annotated[EvidenceBrowser, Depends(evidence_browser)]


def _search_page(
    request: Request,
    browser: EvidenceBrowser,
    form: SearchForm,
    criteria: Criteria | None = None,
    result: SearchResult | None = None,
    problems: Sequence[str] = (),
) -> HTMLResponse:
    context = {"form": form, "criteria": criteria, "result": result, "problems": problems, **browser.choices()}
    return render(request, "audit/search.html", context, 400 if problems else 200)


@router.get("/audit", response_class=HTMLResponse)
def search_page(request: Request, user: Auditor, browser: Browser) -> HTMLResponse:
    """The empty search form: nothing shown, nothing to log."""
    return _search_page(request, browser, SearchForm())


@router.post("/audit/search", response_class=HTMLResponse)
def search(request: Request, user: Auditor, browser: Browser, form: Annotated[SearchForm, Form()]) -> HTMLResponse:
    """The results in this response; the access log says what was searched by, not the values
    (only a payer, category or portal this console knows is named)."""
    criteria, problems = form.criteria()
    if criteria is None:
        return _search_page(request, browser, form, problems=problems)
    result = browser.search(criteria, request.app.state.settings.console.page_size)
    audit(request, "search_evidence", criteria.logged(result, browser.known(criteria)))
    return _search_page(request, browser, form, criteria, result)


@router.get("/audit/items/{item_id}", response_class=HTMLResponse)
def timeline(request: Request, item_id: ItemId, user: Auditor, browser: Browser) -> HTMLResponse:
    found = browser.timeline(item_id)
    if found is None:
        raise HTTPException(404, "no worklist item by that id")
    audit(request, "view_audit_item", f"item {item_id}, {len(found.records)} evidence records", item_id=item_id)
    return render(request, "audit/item.html", {"timeline": found, "item": found.item})


@router.get("/audit/traces/{sha256}")
def trace(request: Request, sha256: str, user: Auditor, browser: Browser) -> Response:
    """A Playwright trace as a download (open it with `playwright show-trace`), checked first."""
    try:
        found = browser.trace(sha256)
    except EvidenceError as exc:
        raise HTTPException(409, UNREADABLE) from exc
    if found is None:
        raise HTTPException(404, "no trace by that name")
    record, content = found
    audit(request, "download_trace", f"trace {record.sha256[:12]}", item_id=record.item_id or None)
    headers = {"Content-Disposition": f'attachment; filename="trace-{record.item_id}-{record.seq}.zip"'}
    return Response(content, media_type="application/zip", headers=headers)


@router.post("/audit/items/{item_id}/export")
def export(request: Request, item_id: ItemId, user: Auditor, browser: Browser) -> StreamingResponse:
    """The claim's audit package as a zip download, made and checked before a byte is sent. A
    refusal says so plainly: what went wrong names the store's files, which are for the log."""
    try:
        package = browser.export(item_id, request.app.state.settings)
    except PackageUnavailableError as exc:
        raise HTTPException(503, "The audit package export is not available in this build.") from exc
    except InputError as exc:
        raise HTTPException(409, NOTHING_TO_EXPORT) from exc
    except EvidenceError as exc:
        # the message names seqs, hashes and the store's paths: internal, never PHI
        log.warning("audit_package_refused", item_id=item_id, problem=str(exc))
        raise HTTPException(409, NOT_EXPORTED) from exc
    if package is None:
        raise HTTPException(404, "no worklist item by that id")
    summary = package.summary
    audit(request, "export_evidence", f"item {item_id}, {summary.records} records", item_id=item_id)
    headers = {"Content-Disposition": f'attachment; filename="audit-package-item-{item_id}.zip"'}
    return StreamingResponse(package.chunks(), media_type="application/zip", headers=headers)
