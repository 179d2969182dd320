"""Recent sweep runs, newest first, from the status history: when each ran, how many claims it
checked, what it found, which portals it used. Counts only, no PHI: nothing to log."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from bots.console.deps import CurrentUser
from bots.console.pages import render
from bots.console.routes.worklist import Worklist

router = APIRouter()

RUNS_PER_PAGE = 20
RunId = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


@router.get("/runs", response_class=HTMLResponse)
def runs(request: Request, user: CurrentUser, store: Worklist, before: RunId = None) -> HTMLResponse:
    page = store.recent_runs(RUNS_PER_PAGE, before=before)
    context = {
        "runs": page.runs,
        "older": f"/runs?{urlencode({'before': page.next_before})}" if page.next_before else None,
        "newest": "/runs" if before else None,
    }
    return render(request, "runs/list.html", context)
