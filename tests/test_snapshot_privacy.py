"""HTML snapshots kept as evidence hold no member ID, patient name or date of birth, in any format
a portal prints them, anywhere: text, attributes, links (a pager repeating the search), scripts,
comments. Every simulated portal is swept over claims that reach its search results, claim
details, not-found and multi-match screens, and every snapshot is searched for every person of
the data sets."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import yaml

from bots.browser.capture import MASKED_TEXT
from bots.core.settings import Settings
from bots.sim import bluestem as bluestem_app
from bots.sim import harbor as harbor_app
from bots.sim import juniper as juniper_app
from bots.sim import sagebrush as sagebrush_app
from bots.sim.dataset import Dataset, WorklistRow, build_dataset
from bots.sim.fleet import Fleet
from bots.sweep.runner import Sweep, SweepDeps
from tests.conftest import CLAIMS, ROOT, SEED, Portal, run_sweep, seed_worklist
from tests.test_onboarding import onboard


def snapshots(store: Any) -> list[bytes]:
    """Every HTML snapshot the evidence store keeps (the one place that knows its API)."""
    return [store.read(r) for r in store.records() if r.media_type == "text/html"]


# Every way a simulated portal prints a date (the registry's and the guide's date formats).
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%d %b %Y")
PAYERS = {"bluestem": "BSTM1", "juniper": "JNPR1", "harbor": "MDWST", "sagebrush": "SGBR1", "cedar": "BSTM1"}


def screens(data: Dataset, nth: int = 0) -> list[WorklistRow]:
    """A few rows that reach every screen: a claim searched by number (its detail), one searched
    by member whose results run to a second page (results, a pager, then a detail), a claim the
    payer does not have (not found) and a duplicate with a second page of results (multi-match).
    The data set gives every 8th row searched by member more than a page of results."""
    rows = data.worklist
    paged = [r for i, r in enumerate(rows) if i % 8 == 0 and r.payer_claim_number is None]
    picks = [
        [r for r in rows if r.kind == "paid" and r.payer_claim_number],
        [r for r in paged if r.kind not in ("ambiguous", "not_found")],
        [r for r in rows if r.kind == "not_found"],
        [r for r in paged if r.kind == "ambiguous"],
    ]
    return [found[nth] for found in picks]


def secrets_of(data: Dataset) -> set[bytes]:
    """Every member ID, name and date of birth of the data set's claims, as a portal may print
    them and as a link may carry them (URL-encoded, a space as %20 or +), lower-cased."""
    plain: set[str] = set()
    for claim in data.claims:
        plain |= {claim.member_id, claim.patient_name}
        plain |= {claim.patient_dob.strftime(fmt) for fmt in DATE_FORMATS}
    forms = {f for value in plain for f in (value, quote(value, safe=""), quote_plus(value), quote(value))}
    return {f.lower().encode() for f in forms}


def leaks(html: bytes, secrets: set[bytes]) -> list[str]:
    text = html.lower()
    found = []
    for secret in secrets:
        at = text.find(secret)
        if at >= 0:
            found.append(f"{secret.decode()!r} in ...{html[max(0, at - 80) : at + len(secret) + 40].decode()}...")
    return found


def registry(tmp_path: Path, shipped: bool, *guide: str) -> Path:
    """A registry of the shipped portals (if `shipped`) and the guide's entries of `guide`, with
    no rate limit (Cedar's 120 page loads a minute would double the test's time)."""
    portals: dict[str, Any] = yaml.safe_load((ROOT / "config/portals.yaml").read_text())["portals"] if shipped else {}
    for key in guide:
        (tmp_path / key).mkdir(parents=True)
        portals |= yaml.safe_load(onboard(tmp_path / key, key, rate_limit_per_min=None).read_text())["portals"]
    path = tmp_path / "portals.yaml"
    path.write_text(yaml.safe_dump({"portals": portals}, sort_keys=False))
    return path


def sweep_portals(settings: Settings, urls: dict[str, str], rows: list[WorklistRow]) -> Sweep:
    seed_worklist(settings, rows)
    sweep = Sweep(SweepDeps.load(settings), base_urls=urls)
    accounts = {(r.payer_id, r.account_number) for r in rows}
    summary = run_sweep(sweep, [i for i in sweep.due() if (i.payer_id, i.account_number) in accounts], 4)
    assert summary.errors == 0 and summary.checked == len(rows), summary
    return sweep


@pytest.fixture
def every_portal(settings: Settings, fleet: Fleet, cedar: Portal, sagebrush: Portal, monkeypatch) -> Settings:
    for name, value in fleet.env.items():
        monkeypatch.setenv(name, value)
    settings.sweep.mailbox_wait_s = 10
    settings.sweep.mailbox_poll_s = 0.2
    return settings


@pytest.mark.slow
def test_snapshots_of_every_portal_hold_no_member_id_name_or_birth_date(
    tmp_path, every_portal: Settings, fleet: Fleet, cedar: Portal, sagebrush: Portal
) -> None:
    settings = every_portal
    data = {payer: build_dataset(SEED, CLAIMS, payer) for payer in set(PAYERS.values())}
    rows = {key: screens(data[payer], 1 if key == "cedar" else 0) for key, payer in PAYERS.items()}

    # The shipped portals and the guide's Sagebrush in one sweep; the guide's Cedar (which serves
    # Bluestem's payer) in a second, with a registry of its own.
    settings.portals_file = registry(tmp_path / "fleet", True, "sagebrush")
    urls = fleet.urls | {"sagebrush": sagebrush.url}
    first = sweep_portals(settings, urls, [r for key in PAYERS if key != "cedar" for r in rows[key]])
    settings.portals_file = registry(tmp_path / "cedar", False, "cedar")
    second = sweep_portals(settings, {"cedar": cedar.url}, rows["cedar"])

    items = first.store.items()  # one worklist: the second sweep's items are in it too
    outcomes: dict[str, set[str]] = {}
    for key, picked in rows.items():
        accounts = {r.account_number for r in picked}
        outcomes[key] = {i.outcome for i in items if i.payer_id == PAYERS[key] and i.account_number in accounts}
    for key in ("bluestem", "juniper", "sagebrush", "cedar"):  # details, not found, several matches
        assert {"not_found", "ambiguous"} < outcomes[key] and outcomes[key] & {"status", "unmapped"}, (key, outcomes)
    assert outcomes["harbor"] & {"status", "unmapped"}, outcomes

    kept = snapshots(second.evidence)  # one evidence store: the first sweep's snapshots are in it too
    assert len(kept) >= 15
    assert all(html.startswith((b"<!doctype html", b"<!-- ")) for html in kept)  # read as stored, not sealed
    assert sum(MASKED_TEXT.encode() in html for html in kept) >= 10
    # The screens that leaked: a pager repeating the search, on the single-page app and on a
    # portal whose results pages are GET links.
    assert any(b'href="/app/claims?' in html for html in kept)
    assert any(b'href="/claims/lookup/results?' in html for html in kept)
    # The evidence is still evidence: every claim read is named in a snapshot.
    read = [i.payer_claim_number for i in items if i.outcome in ("status", "unmapped") and i.payer_claim_number]
    assert read and all(any(number.encode() in html for html in kept) for number in read)

    secrets = set().union(*(secrets_of(d) for d in data.values()))
    found = [leak for html in kept for leak in leaks(html, secrets)]
    assert not found, "\n".join(found[:20])


def test_date_formats_cover_every_portal() -> None:
    """The formats searched are the ones portals print: the simulated portals' own, and the
    registry's and the guide's for them."""
    guide = (ROOT / "docs/onboarding.md").read_text()
    shipped = yaml.safe_load((ROOT / "config/portals.yaml").read_text())["portals"]
    formats = {entry["date_format"] for entry in shipped.values()}
    formats |= {line.split('"')[1] for line in guide.splitlines() if line.strip().startswith("date_format:")}
    formats |= {app.DATE_FORMAT for app in (bluestem_app, harbor_app, juniper_app, sagebrush_app)}  # cedar: bluestem's
    assert formats == set(DATE_FORMATS)
