"""The bot against the simulated portal in real Chromium: parsing, matching, outcomes, expiry."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest
from structlog.testing import capture_logs

from bots.claimstatus.statusmap import StatusMap
from bots.core.models import ClaimDetail
from bots.sim.dataset import Dataset, WorklistRow
from bots.sweep.runner import Sweep, SweepDeps
from tests.conftest import ROOT, run_sweep, seed_worklist, sweep_rows

STATUSES = StatusMap.load(ROOT / "config/status/bluestem.yaml")


def pick(ds: Dataset, per_kind: int, **where: Any) -> list[WorklistRow]:
    seen: Counter[str] = Counter()
    out = []
    for row in ds.worklist:
        if all(getattr(row, k) == v for k, v in where.items()) and seen[row.kind] < per_kind:
            seen[row.kind] += 1
            out.append(row)
    return out


def by_account(sweep: Sweep) -> dict[str, Any]:
    return {item.account_number: item for item in sweep.store.items()}


@pytest.mark.slow
def test_every_status_kind_is_parsed_and_mapped(settings, portal, dataset: Dataset) -> None:
    rows = pick(dataset, 2)
    assert {r.kind for r in rows} == {r.kind for r in dataset.worklist}
    sweep, summary = sweep_rows(settings, portal, rows)
    assert summary.checked == len(rows) and summary.errors == 0 and summary.not_checked == {}
    # The map matches the portal as built: telling screens apart (a detail page also has a
    # table.grid, the results table's fallback) must not be mistaken for drift.
    assert summary.drift == {}
    items = by_account(sweep)
    records = {r.sha256: r for r in sweep.evidence.records()}
    for row in rows:
        item = items[row.account_number]
        if row.kind == "not_found":
            assert item.outcome == "not_found"
            # The portal's empty results page looks the same whatever was searched: the evidence
            # says what was, beside the page.
            image, html = json.loads(sweep.store.history(item.id)[-1].evidence)
            caption = (settings.evidence_path / records[html].path).read_text().splitlines()[0]
            searched = f"claim number {row.payer_claim_number}" if row.payer_claim_number else "member ID ending"
            assert caption.startswith(f"<!-- rcmbot searched bluestem for {searched}") and "no claim found" in caption
            continue
        if row.kind == "ambiguous":
            assert item.outcome == "ambiguous"
            continue
        claim = next(c for c in dataset.claims if c.account_number == row.account_number)
        history = sweep.store.history(item.id)
        detail = ClaimDetail.model_validate_json(history[-1].detail_json)
        assert detail.payer_claim_number == claim.claim_number == item.payer_claim_number
        assert (detail.billed_cents, detail.paid_cents, detail.allowed_cents) == (
            claim.billed_cents,
            claim.paid_cents,
            claim.allowed_cents,
        )
        assert (detail.check_number, detail.check_date) == (claim.check_number, claim.check_date)
        assert [(ln.procedure_code, ln.modifiers, ln.units, ln.billed_cents, ln.paid_cents) for ln in detail.lines] == [
            (ln["procedure_code"], ln["modifiers"], ln["units"], ln["billed_cents"], ln["paid_cents"])
            for ln in claim.lines
        ]
        assert [(a.group_code, a.carc, a.rarc) for a in detail.adjustments] == [
            (a["group_code"], a["carc"], a["rarc"]) for a in claim.adjustments
        ]
        assert item.status_text == claim.status_text
        mapping = STATUSES.lookup(claim.status_text)
        if row.kind == "unmapped":
            assert mapping is None and item.outcome == "unmapped" and item.status_category is None
        else:
            assert item.outcome == "status" and item.status_category == mapping.category
        if row.kind == "denied_coding":
            assert item.next_action.startswith("Route to coder") and item.carc_codes
    assert len(json.loads(sweep.store.history(items[rows[0].account_number].id)[-1].evidence)) == 2


def test_member_search_with_several_pages_picks_the_matching_claim(settings, portal, dataset) -> None:
    crowded = [
        r
        for r in dataset.worklist
        if r.payer_claim_number is None
        and r.kind in ("paid", "pending")
        and sum(c.member_id == r.member_id for c in dataset.claims) > 10
    ][:2]
    assert crowded, "the data set must have members with more than one page of claims"
    sweep, summary = sweep_rows(settings, portal, crowded)
    assert summary.errors == 0
    for row in crowded:
        item = by_account(sweep)[row.account_number]
        claim = next(c for c in dataset.claims if c.account_number == row.account_number)
        assert item.outcome == "status" and item.payer_claim_number == claim.claim_number


def test_duplicates_are_ambiguous_never_guessed(settings, portal, dataset) -> None:
    rows = [r for r in dataset.worklist if r.kind == "ambiguous"][:2]
    sweep, _ = sweep_rows(settings, portal, rows)
    for item in sweep.store.items():
        assert item.outcome == "ambiguous" and item.payer_claim_number is None
        assert item.next_action == "Pick the right claim by hand (several match)"


@pytest.mark.slow
def test_session_expiry_mid_sweep_logs_in_again_and_carries_on(settings, make_portal, dataset, monkeypatch) -> None:
    short = make_portal(session_idle_s=60)  # generous: a loaded machine must not expire mid-claim
    for name, value in short.env().items():
        monkeypatch.setenv(name, value)
    rows = pick(dataset, 1, kind="paid") + pick(dataset, 1, kind="pending") + pick(dataset, 1, kind="denied_coding")
    done: list[int] = []

    async def idle_then_check(sweep: Sweep, bot: Any, batch: Any) -> Any:
        if done:  # stay idle past the portal's timeout before every claim but the first (on its clock)
            await asyncio.to_thread(short.server.advance_clock, 61)
        done.append(batch[0].id)
        return await sweep.check_and_record(bot, batch)

    with capture_logs() as logs:
        sweep, summary = sweep_rows(settings, short, rows, concurrency=1, step=idle_then_check)
    assert summary.errors == 0 and summary.checked == 3
    assert sum(e["event"] == "session expired; logging in again" for e in logs) == 2
    assert sum(e["event"] == "logged in" for e in logs) == 3


def test_portal_errors_are_retried_with_backoff(settings, make_portal, dataset, monkeypatch) -> None:
    flaky = make_portal()
    for name, value in flaky.env().items():
        monkeypatch.setenv(name, value)
    rows = pick(dataset, 1, kind="paid")
    seeded: list[bool] = []

    async def fail_first(sweep: Sweep, bot: Any, batch: Any) -> Any:
        if not seeded:
            seeded.append(True)
            await asyncio.to_thread(flaky.server.faults, fail_next=2)
        return await sweep.check_and_record(bot, batch)

    sweep, summary = sweep_rows(settings, flaky, rows, concurrency=1, step=fail_first)
    assert summary.errors == 0
    assert sweep.store.items()[0].status_category == "F1"


def test_unreachable_portal_becomes_error_outcome_not_a_crash(settings, dataset) -> None:
    rows = pick(dataset, 1, kind="paid")
    seed_worklist(settings, rows)
    sweep = Sweep(SweepDeps.load(settings), base_urls={"bluestem": "http://127.0.0.1:9"})
    summary = run_sweep(sweep, sweep.due(), 1)
    assert summary.errors == 1
    item = sweep.store.items()[0]
    assert item.outcome is None and item.next_action == "Retry at the next sweep"
    assert sweep.store.history(item.id)[0].error


@pytest.mark.slow
def test_a_browser_that_goes_away_is_relaunched_and_the_sweep_carries_on(settings, portal, dataset) -> None:
    rows = [r for r in dataset.worklist if r.kind == "paid"][:8]
    checked = 0

    async def crash_after_three(sweep: Sweep, bot: Any, batch: Any) -> Any:
        nonlocal checked
        result = await sweep.check_and_record(bot, batch)
        checked += 1
        if checked == 3:  # as if Chromium crashed: every page and context goes with it
            await bot.context.browser.close()
        return result

    with capture_logs() as logs:  # a Chromium of the sweep's own, not the session's: this test closes it
        sweep, summary = sweep_rows(settings, portal, rows, concurrency=2, step=crash_after_three, own_browser=True)
    # at most the claim in flight on the other page failed (the browser went away under it)
    assert summary.checked + summary.errors == 8 and summary.errors <= 1, summary
    assert summary.by_failure in ({}, {"browser": 1}), summary
    assert summary.by_category.get("F1", 0) >= 7
    assert sum(e["event"] == "browser went away mid-sweep; relaunching" for e in logs) == 1


@pytest.mark.slow
def test_a_browser_that_keeps_going_away_stops_at_the_relaunch_limit(settings, portal, dataset) -> None:
    settings.browser.relaunches = 1
    rows = [r for r in dataset.worklist if r.kind == "paid"][:5]

    async def crash_every_time(sweep: Sweep, bot: Any, batch: Any) -> Any:
        result = await sweep.check_and_record(bot, batch)
        await bot.context.browser.close()
        return result

    sweep, summary = sweep_rows(settings, portal, rows, concurrency=1, step=crash_every_time, own_browser=True)
    assert summary.by_category == {"F1": 2, "error": 3}  # two browsers, one claim each
    errors = [sweep.store.history(i.id)[-1].error for i in sweep.store.items() if i.outcome is None]
    assert errors == ["the browser kept going away; relaunch limit reached"] * 3


def test_search_form_when_the_registry_gives_no_search_url(settings, portal, dataset: Dataset, tmp_path) -> None:
    """Portals without a bookmarkable search are worked through their search form."""
    registry = (ROOT / "config/portals.yaml").read_text()
    assert "search_url:" in registry
    no_link = tmp_path / "portals.yaml"
    no_link.write_text("\n".join(line for line in registry.splitlines() if "search_url:" not in line))
    settings.portals_file = no_link
    rows = pick(dataset, 1)
    sweep, summary = sweep_rows(settings, portal, rows)
    assert sweep.portals["bluestem"].entry.search_url is None
    assert summary.checked == len(rows) and summary.errors == 0
    items = by_account(sweep)
    for row in rows:
        outcome = items[row.account_number].outcome
        assert outcome == row.kind if row.kind in ("not_found", "ambiguous") else outcome in ("status", "unmapped")
