"""The worklist as people read it: every item a page at a time, a search by the numbers a person
has at hand, one item with its whole status timeline and evidence, and the items waiting on a
person. Every page here shows PHI, so every one is logged to the access log; a search is a POST
so an account or member number never lands in a URL, a history or a server log."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse

from bots.console.deps import CurrentUser, audit
from bots.console.pages import render
from bots.console.routes.evidence import Evidence, EvidenceLink, links
from bots.core.models import Outcome
from bots.core.money import format_cents
from bots.evidence.index import EvidenceIndex
from bots.review import ReviewStore
from bots.worklist import History, WorklistStore
from bots.worklist.store import ItemRow

router = APIRouter()

SEARCH_LIMIT = 50
PayerFilter = Annotated[str, Query(alias="payer", max_length=32, pattern=r"^[A-Za-z0-9_.-]*$")]
After = Annotated[int, Query(ge=0, le=2**62)]  # what a database integer holds


def worklist_store(request: Request) -> WorklistStore:
    store: WorklistStore = request.app.state.worklist
    return store


def review_store(request: Request) -> ReviewStore | None:
    """The review store, when the console has one (the worklist pages link tasks, never need them)."""
    store: ReviewStore | None = getattr(request.app.state, "review", None)
    return store


Worklist = Annotated[WorklistStore, Depends(worklist_store)]
Review = Annotated[ReviewStore | None, Depends(review_store)]


def open_tasks(review: ReviewStore | None, rows: list[ItemRow]) -> dict[int, int]:
    """Item id -> its open review task's id, for the items of one page."""
    return review.open_tasks([row.item.id for row in rows]) if review is not None else {}


def _page_size(request: Request) -> int:
    return int(request.app.state.settings.console.page_size)


@router.get("/worklist", response_class=HTMLResponse)
def worklist(
    request: Request,
    user: CurrentUser,
    store: Worklist,
    review: Review,
    after: After = 0,
    outcome: Outcome | None = None,
    payer: PayerFilter = "",
) -> HTMLResponse:
    audit(request, "view_worklist", f"worklist after item {after}" if after else "worklist")
    page = store.browse(_page_size(request), after=after, outcome=outcome, payer_id=payer or None)
    filters = {"outcome": outcome.value if outcome else "", "payer": payer}
    context = {
        **_list_context(store, filters),
        "rows": page.rows,
        "tasks": open_tasks(review, page.rows),
        "next": _url({**filters, "after": str(page.next_after)}) if page.next_after else None,
        "first": _url(filters) if after else None,
        "filtered": bool(outcome or payer),
    }
    return render(request, "worklist/list.html", context)


def _url(filters: dict[str, str]) -> str:
    query = urlencode({name: value for name, value in filters.items() if value})
    return f"/worklist?{query}" if query else "/worklist"


def _facet(filters: dict[str, str], name: str, values: list[str]) -> list[tuple[str, str, bool]]:
    """(label, link, chosen) for "all" and each value of one filter, the other filters kept."""
    current = filters[name]
    choices = [("all", _url({**filters, name: ""}), not current)]
    return choices + [(v.replace("_", " "), _url({**filters, name: v}), v == current) for v in values]


def _list_context(
    store: WorklistStore, filters: dict[str, str], q: str = "", searched: bool = False
) -> dict[str, object]:
    return {
        "outcome_links": _facet(filters, "outcome", [o.value for o in Outcome]),
        "payer_links": _facet(filters, "payer", store.payers()),
        "q": q,
        "searched": searched,
    }


@router.post("/worklist/search", response_class=HTMLResponse)
def search(
    request: Request,
    user: CurrentUser,
    store: Worklist,
    review: Review,
    q: Annotated[str, Form(max_length=64)] = "",
) -> HTMLResponse:
    """The results in this response: what was typed stays out of the URL and out of the access log."""
    rows = store.find(q, SEARCH_LIMIT)
    audit(request, "search_worklist", f"worklist search, {len(rows)} found")
    context = {
        **_list_context(store, {"outcome": "", "payer": ""}, q, searched=True),
        "rows": rows,
        "tasks": open_tasks(review, rows),
    }
    return render(request, "worklist/list.html", context)


@router.get("/worklist/attention", response_class=HTMLResponse)
def attention(request: Request, user: CurrentUser, store: Worklist, review: Review, after: After = 0) -> HTMLResponse:
    audit(request, "view_attention", f"attention after item {after}" if after else "attention")
    page = store.attention(_page_size(request), after=after)
    context = {
        "reasons": store.attention_reasons() if not after else None,
        "rows": page.rows,
        "tasks": open_tasks(review, page.rows),
        "next": f"/worklist/attention?after={page.next_after}" if page.next_after else None,
        "first": "/worklist/attention" if after else None,
    }
    return render(request, "worklist/attention.html", context)


@router.get("/worklist/items/{item_id}", response_class=HTMLResponse)
def item(
    request: Request,
    item_id: Annotated[int, FastPath(ge=1, le=2**62)],
    user: CurrentUser,
    store: Worklist,
    review: Review,
    evidence: Evidence,
) -> HTMLResponse:
    found = store.item(item_id)
    if found is None:
        raise HTTPException(404, "no worklist item by that id")
    audit(request, "view_item", f"item {item_id}", item_id=item_id)
    task = review.task_for_item(item_id) if review is not None else None
    context = {
        "item": found,
        "lines": store.lines(item_id),
        "timeline": [(check, evidence_of(evidence, check)) for check in store.history(item_id)],
        "task": task,
        "money": format_cents,
    }
    return render(request, "worklist/item.html", context)


def evidence_of(index: EvidenceIndex, check: History) -> list[EvidenceLink]:
    """A check's evidence hashes (a JSON list in its history row) with the kind of each file."""
    hashes = json.loads(check.evidence or "[]")
    return links(index, [str(h) for h in hashes])
