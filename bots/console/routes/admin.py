"""The admin's list of users (read only: users are made with `rcmbot users`) and the auditors'
access log, whose every view and export is itself logged."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from bots.accounts import AccessRecord
from bots.console.deps import Accounts, Admin, Auditor, audit
from bots.console.pages import render

router = APIRouter()

EXPORT_PAGE = 500
CSV_COLUMNS = ("id", "at", "username", "role", "action", "what", "item_id", "task_id")
UserFilter = Annotated[str, Query(alias="user", max_length=64)]
ActionFilter = Annotated[str, Query(max_length=32)]


@router.get("/users", response_class=HTMLResponse)
def users(request: Request, user: Admin, accounts: Accounts) -> HTMLResponse:
    return render(request, "admin/users.html", {"users": accounts.users()})


@router.get("/access-log", response_class=HTMLResponse)
def access_log(
    request: Request,
    user: Auditor,
    accounts: Accounts,
    username: UserFilter = "",
    action: ActionFilter = "",
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> HTMLResponse:
    audit(request, "view_access_log", f"access log before {before}" if before else "access log")
    size = request.app.state.settings.console.page_size
    entries = accounts.access_log(size + 1, before, username or None, action or None)
    filters = {k: v for k, v in (("user", username), ("action", action)) if v}
    older = f"/access-log?{urlencode({**filters, 'before': entries[size - 1].id})}" if len(entries) > size else None
    context = {
        "entries": entries[:size],
        "username": username,
        "action": action,
        "older": older,
        "newest": f"/access-log?{urlencode(filters)}" if before else None,
        "export": f"/access-log.csv?{urlencode(filters)}",
    }
    return render(request, "admin/access_log.html", context)


@router.get("/access-log.csv")
def access_log_csv(
    request: Request, user: Auditor, accounts: Accounts, username: UserFilter = "", action: ActionFilter = ""
) -> StreamingResponse:
    """Every entry that matches, newest first, read a page at a time as it is sent."""
    audit(request, "export", "access log")

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)

        def flush() -> str:
            text = buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            return text

        writer.writerow(CSV_COLUMNS)
        yield flush()
        before = None
        while page := accounts.access_log(EXPORT_PAGE, before, username or None, action or None):
            writer.writerows(_row(entry) for entry in page)
            yield flush()
            before = page[-1].id

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="access-log.csv"'},
    )


def _row(entry: AccessRecord) -> list[str]:
    values = [
        str(entry.id),
        entry.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        entry.username,
        entry.role,
        entry.action,
        entry.what,
        "" if entry.item_id is None else str(entry.item_id),
        "" if entry.task_id is None else str(entry.task_id),
    ]
    # a spreadsheet would run a cell starting with one of these as a formula
    return [f"'{v}" if v.startswith(("=", "+", "-", "@")) else v for v in values]
