"""The second payer portal (a single-page app) and the clearinghouse (batch inquiry, mailed
sign-in codes, 277 codes) swept in real Chromium, checked item by item against the data set."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
import yaml
from PIL import Image

from bots.claimstatus.statusmap import StatusMap
from bots.core.models import ClaimDetail
from bots.core.settings import Settings
from bots.sim.codes import STATUS_277
from bots.sim.dataset import build_dataset
from bots.sim.fleet import Fleet
from bots.sweep.runner import Sweep, SweepDeps
from tests.conftest import CLAIMS, ROOT, SEED, run_sweep, seed_worklist
from tests.test_sweep import pick


def sweep(settings: Settings, fleet: Fleet, rows: list, concurrency: int = 2) -> tuple[Sweep, object]:
    seed_worklist(settings, rows)
    run = Sweep(SweepDeps.load(settings), base_urls=fleet.urls)
    return run, run_sweep(run, run.due(), concurrency)


def latest_detail(run: Sweep, item_id: int) -> ClaimDetail:
    return ClaimDetail.model_validate_json(run.store.history(item_id)[-1].detail_json)


@pytest.mark.slow
def test_single_page_app_portal_two_step_login_grid_and_panel(fleet_settings, fleet) -> None:
    data = build_dataset(SEED, CLAIMS, "JNPR1")
    rows = pick(data, 2)
    run, summary = sweep(fleet_settings, fleet, rows)
    assert summary.errors == 0 and summary.by_portal == {"juniper": len(rows)}
    assert summary.drift == {}, "a page still rendering must not be taken for drift"
    statuses = StatusMap.load(ROOT / "config/status/juniper.yaml")
    items = {item.account_number: item for item in run.store.items()}
    for row in rows:
        item = items[row.account_number]
        if row.kind in ("not_found", "ambiguous"):
            assert item.outcome == row.kind
            continue
        claim = next(c for c in data.claims if c.account_number == row.account_number)
        detail = latest_detail(run, item.id)
        assert (detail.payer_claim_number, detail.dos_from, detail.billed_cents, detail.paid_cents) == (
            claim.claim_number,
            claim.dos_from,
            claim.billed_cents,
            claim.paid_cents,
        )
        assert [(ln.procedure_code, ln.units, ln.paid_cents) for ln in detail.lines] == [
            (ln["procedure_code"], ln["units"], ln["paid_cents"]) for ln in claim.lines
        ]
        assert [(a.group_code, a.carc, a.rarc) for a in detail.adjustments] == [
            (a["group_code"], a["carc"], a["rarc"]) for a in claim.adjustments
        ]
        assert item.status_text == claim.status_text  # Juniper's own words, e.g. "Finalized – Denied"
        mapping = statuses.lookup(claim.status_text)
        if row.kind == "unmapped":
            assert mapping is None and item.outcome == "unmapped"
        else:
            assert (item.outcome, item.status_category) == ("status", mapping.category)


def test_clearinghouse_batches_by_payer_with_277_codes_and_row_evidence(fleet_settings, fleet) -> None:
    rows = [r for payer in ("MDWST", "PRAIR") for r in pick(build_dataset(SEED, CLAIMS, payer), 1)]
    claims = {c.account_number: c for payer in ("MDWST", "PRAIR") for c in build_dataset(SEED, CLAIMS, payer).claims}
    run, summary = sweep(fleet_settings, fleet, rows)
    assert summary.errors == 0 and summary.by_portal == {"harbor": len(rows)} and summary.drift == {}
    statuses = StatusMap.load(ROOT / "config/status/harbor.yaml")
    pages: dict[str, set[str]] = {}
    for item in run.store.items():
        row = next(r for r in rows if r.account_number == item.account_number)
        if row.kind in ("not_found", "ambiguous"):
            assert item.outcome == row.kind, row
        else:
            category, code = STATUS_277[claims[row.account_number].status_text]
            mapped = statuses.lookup(category)
            assert (item.outcome, item.status_category, item.status_code) == (
                ("status", category, code) if mapped else ("unmapped", None, None)
            ), row
            assert latest_detail(run, item.id).billed_cents == row.billed_cents
        records = [r for r in run.evidence.records() if r.item_id == item.id]
        image = next(r for r in records if r.media_type == "image/png")
        html = next(r for r in records if r.media_type == "text/html")
        with Image.open(run.evidence.root / image.path) as shot:
            assert shot.height < 120, "each claim's own answer rows, not the whole page"
        pages.setdefault(html.sha256, set()).add(item.payer_id)
    # One snapshot per batch page, shared by its claims; a batch never mixes payers: 12 claims
    # of each payer make a batch of 10 and one of 2.
    assert len(rows) == 24 and len(pages) == 4 and all(len(payers) == 1 for payers in pages.values())


def test_mailbox_code_that_never_comes_fails_the_login_clearly(fleet_settings, fleet, monkeypatch) -> None:
    # The token of another user's mailbox: the portal takes it, and the code goes elsewhere.
    fleet.servers["harbor"].add_user("someone-else", secrets.token_urlsafe(12), mailbox_token="elsewhere-token")
    monkeypatch.setenv("RCMBOT_HARBOR_MAILBOX_TOKEN", "elsewhere-token")
    fleet_settings.sweep.mailbox_wait_s = 1
    fleet_settings.sweep.retry_attempts = 1
    rows = pick(build_dataset(SEED, CLAIMS, "MDWST"), 1)[:2]
    run, summary = sweep(fleet_settings, fleet, rows)
    assert summary.by_category == {"error": 2}
    error = run.store.history(run.store.items()[0].id)[-1].error
    assert "no mailed code with reference" in error and "arrived within 1 s" in error


def test_a_payer_whose_portal_may_not_be_automated_goes_to_the_clearinghouse(
    fleet_settings, fleet, dataset, tmp_path: Path
) -> None:
    data = yaml.safe_load((ROOT / "config/portals.yaml").read_text())
    data["portals"]["bluestem"]["automation_permitted"] = False
    fleet_settings.portals_file = tmp_path / "portals.yaml"
    fleet_settings.portals_file.write_text(yaml.safe_dump(data, sort_keys=False))
    rows = [r for r in dataset.worklist if r.kind == "paid"][:3]
    run, summary = sweep(fleet_settings, fleet, rows)
    assert summary.by_portal == {"harbor": 3} and summary.by_category == {"F1": 3}
    assert all(json.loads(h.evidence) for item in run.store.items() for h in run.store.history(item.id))
