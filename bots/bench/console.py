"""`rcmbot bench console`: the console's server time at scale. Signs in as a supervisor and asks
for the review queue (unfiltered and filtered), task pages and worklist searches, and as an
auditor for evidence searches (by claim number, member ID, payer and category, one day's
captures, one run's) and claim timelines (every file on them read and proved), reading each
response's Server-Timing, and reports p50/p95 per page against the 150 ms target."""

from __future__ import annotations

import datetime as dt
import random
import re
import secrets
import statistics
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import func, select

from bots.core.errors import InputError
from bots.core.models import Role
from bots.core.settings import Settings
from bots.evidence.index import rows as evidence_rows
from bots.review import Task
from bots.worklist import Item
from bots.worklist.db import ensure_current, open_engine

TARGET_P95_MS = 150.0
_TOKEN = re.compile(r'name="csrf-token" content="([^"]+)"')
_TIMING = re.compile(r"app;dur=([\d.]+)")


def bench_console(settings: Settings, requests: int, say: Callable[[str], None]) -> dict[str, Any]:
    """Each page asked `requests` times after a warm-up; {"pages": [{"page", "p50_ms", "p95_ms", ...}], ...}."""
    from bots.console import start_console

    engine = open_engine(settings.worklist_url)
    ensure_current(engine)
    with engine.connect() as conn:
        tasks = conn.scalar(select(func.count()).select_from(Task)) or 0
        top = conn.scalar(select(func.max(Item.id))) or 0
        # what an auditor would have at hand: member IDs of some items, run ids of some records
        some_items = random.Random(11).sample(range(1, top + 1), min(top, 500))
        members = list(conn.scalars(select(Item.member_id).where(Item.id.in_(some_items))))
        newest = conn.scalar(select(func.max(evidence_rows.c.seq))) or 0
        some_records = random.Random(13).sample(range(newest + 1), min(newest + 1, 500))
        runs = list(conn.scalars(select(evidence_rows.c.run_id).where(evidence_rows.c.seq.in_(some_records))))
        first, last = conn.execute(
            select(func.min(evidence_rows.c.captured_at), func.max(evidence_rows.c.captured_at))
        ).one()
    if not tasks:
        raise InputError(f"no review tasks in {settings.state_path}: run `rcmbot --state-dir DIR seed-scale` first")
    running = start_console(settings, engine, port=0)
    rng = random.Random(7)
    try:
        name, password = f"bench-{secrets.token_hex(3)}", secrets.token_urlsafe(18)
        running.app.state.accounts.add_user(name, Role.SUPERVISOR, password)
        auditor = f"bench-audit-{secrets.token_hex(3)}"
        running.app.state.accounts.add_user(auditor, Role.AUDITOR, password)
        with (
            httpx.Client(base_url=running.url, headers={"accept": "text/html"}, timeout=30) as client,
            httpx.Client(base_url=running.url, headers={"accept": "text/html"}, timeout=30) as audit,
        ):
            token = _sign_in(client, name, password)
            audit_token = _sign_in(audit, auditor, password)
            days = max(1, (last - first).days) if first and last else 1

            def evidence_search(**criteria: str) -> httpx.Response:
                return audit.post(
                    "/audit/search", data={**criteria, "csrftoken": audit_token}, headers={"x-csrf-token": audit_token}
                )

            def one_day() -> str:
                return (first + dt.timedelta(days=rng.randrange(days))).date().isoformat()

            pages: list[tuple[str, Callable[[], httpx.Response]]] = [
                ("review queue", lambda: client.get("/review")),
                (
                    "review queue, filtered",
                    lambda: client.get("/review", params={"payer": "BSTM1", "category": "coding"}),
                ),
                ("review queue, by age", lambda: client.get("/review", params={"older": "30"})),
                ("task page", lambda: client.get(f"/review/tasks/{rng.randint(1, tasks)}")),
                (
                    "worklist search",
                    lambda: client.post(
                        "/worklist/search",
                        data={"q": f"SA{rng.randint(1, top):08d}", "csrftoken": token},
                        headers={"x-csrf-token": token},
                    ),
                ),
                ("evidence, claim #", lambda: evidence_search(claim=f"9{rng.randint(1, top):012d}")),
                ("evidence, member ID", lambda: evidence_search(member=rng.choice(members))),
                ("evidence, payer+category", lambda: evidence_search(payer="BSTM1", category="coding")),
                ("evidence, one day", lambda: evidence_search(captured_from=(day := one_day()), captured_to=day)),
                ("evidence, one run", lambda: evidence_search(run=rng.choice(runs) if runs else "none")),
                ("evidence timeline", lambda: audit.get(f"/audit/items/{rng.randint(1, top)}")),
            ]
            results = [_measure(page, ask, requests, say) for page, ask in pages]
    finally:
        running.stop()
        engine.dispose()
    return {"tasks": tasks, "items": top, "requests": requests, "target_p95_ms": TARGET_P95_MS, "pages": results}


def _sign_in(client: httpx.Client, name: str, password: str) -> str:
    page = client.get("/login")
    token = _TOKEN.search(page.text)
    assert token, "the login page carries a CSRF token"
    answer = client.post("/login", data={"username": name, "password": password, "csrftoken": token[1]})
    if answer.status_code != 303:
        raise RuntimeError(f"the bench user could not sign in (HTTP {answer.status_code})")
    home = client.get("/review")
    found = _TOKEN.search(home.text)
    assert found, "a signed-in page carries a CSRF token"
    return found[1]


def _measure(page: str, ask: Callable[[], httpx.Response], requests: int, say: Callable[[str], None]) -> dict[str, Any]:
    for _ in range(5):  # warm-up: caches, the first query plans
        ask()
    times = []
    for _ in range(requests):
        answer = ask()
        if answer.status_code != 200:
            raise RuntimeError(f"{page}: HTTP {answer.status_code}")
        timing = _TIMING.search(answer.headers.get("server-timing", ""))
        assert timing, "the console reports its time in Server-Timing"
        times.append(float(timing[1]))
    quantiles = statistics.quantiles(times, n=100)
    result = {
        "page": page,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(quantiles[94], 1),
        "max_ms": round(max(times), 1),
        "met": quantiles[94] < TARGET_P95_MS,
    }
    say(f"  {page:<24} p50 {result['p50_ms']:>6.1f} ms   p95 {result['p95_ms']:>6.1f} ms")
    return result
