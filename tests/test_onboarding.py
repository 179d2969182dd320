"""Onboarding by data alone: the worked example of docs/onboarding.md (a registry entry, a
selector map and a status map for a portal whose labels, ids and structure differ from every
shipped map) is copied out of the page, written at test time, and swept; then the guide's Python
hook (it overrides one public step of the detail shape), copied out of the page too."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bots.browser import PortalPage
from bots.claimstatus import ClaimStatusBot
from bots.core import ConfigError, ItemRef
from bots.sweep.runner import Sweep, SweepDeps
from tests.conftest import ROOT, Portal, check_selectors_shared, run_sweep, seed_worklist
from tests.test_sweep import pick

BLOCK = re.compile(r"```yaml\n# file: (\S+)[^\n]*\n(.*?)```", re.S)
HOOK = re.compile(r"```python\n# file: (\S+)\n(.*?)```", re.S)


def onboard(tmp_path: Path, **entry: Any) -> Path:
    """Write the guide's three files into tmp_path; a registry holding only the new portal."""
    blocks = dict(BLOCK.findall((ROOT / "docs/onboarding.md").read_text()))
    (tmp_path / "cedar-selectors.yaml").write_text(blocks["selectors/cedar.yaml"])
    (tmp_path / "cedar-status.yaml").write_text(blocks["config/status/cedar.yaml"])
    registry = yaml.safe_load(blocks["config/portals.yaml"])
    registry["cedar"] |= {
        "selector_map": str(tmp_path / "cedar-selectors.yaml"),
        "status_map": str(tmp_path / "cedar-status.yaml"),
        "maintenance": [],
        **entry,
    }
    path = tmp_path / "portals.yaml"
    path.write_text(yaml.safe_dump({"portals": registry}, sort_keys=False))
    return path


@pytest.fixture
def cedar(sims, monkeypatch) -> Portal:
    """The session's Cedar Valley portal (a skin of the Bluestem app), reset, its bot user's
    credentials under the names the guide's registry entry gives."""
    portal = sims.portal("cedar").reset()
    for name, value in portal.env().items():
        monkeypatch.setenv(name, value)
    return portal


def test_a_portal_onboarded_by_data_alone_is_swept_and_checked(tmp_path, settings, cedar, dataset) -> None:
    settings.portals_file = onboard(tmp_path)
    rows = pick(dataset, 1)
    seed_worklist(settings, rows)
    sweep = Sweep(SweepDeps.load(settings), base_urls={"cedar": cedar.url})
    summary = run_sweep(sweep, sweep.due(), 2)
    assert summary.errors == 0 and summary.by_portal == {"cedar": len(rows)} and summary.drift == {}
    for item in sweep.store.items():
        row = next(r for r in rows if r.account_number == item.account_number)
        expected = {"not_found": "not_found", "ambiguous": "ambiguous", "unmapped": "unmapped"}.get(row.kind, "status")
        assert item.outcome == expected, row
        if expected == "status":
            claim = next(c for c in dataset.claims if c.account_number == row.account_number)
            assert (item.status_text, item.paid_cents) == (claim.status_text, claim.paid_cents)

    report = check_selectors_shared(settings, "cedar", cedar.url)
    assert report.passed and report.counts["drift"] == 0
    # The sweep accepted today's terms already, so the check's login no longer meets them.
    assert {k for k, e in report.elements.items() if e["status"] == "not reached"} == {
        "page.unavailable",
        "terms.agree",
        "terms.continue",
    }
    assert {k for k, e in report.elements.items() if e["status"] == "not shown"} == {"login.error", "search.error"}


def test_a_python_hook_changes_one_step_and_a_bad_one_fails_at_start(
    tmp_path, settings, cedar, dataset, monkeypatch
) -> None:
    ((path, source),) = HOOK.findall((ROOT / "docs/onboarding.md").read_text())  # the guide's hook
    (tmp_path / path).parent.mkdir(parents=True)
    (tmp_path / path).write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    module, cls = path.removesuffix(".py").replace("/", "."), re.search(r"^class (\w+)\(", source, re.M)
    assert cls is not None
    searched: list[str | None] = []  # the claim number each search ran with, as the framework saw it
    plain_search = ClaimStatusBot.search

    async def spy(self: ClaimStatusBot, pp: PortalPage, item: ItemRef) -> str:
        searched.append(item.payer_claim_number)
        return await plain_search(self, pp, item)

    monkeypatch.setattr(ClaimStatusBot, "search", spy)
    settings.portals_file = onboard(tmp_path, bot=f"{module}:{cls[1]}")
    rows = [r for r in dataset.worklist if r.kind == "paid" and r.payer_claim_number][:2]
    seed_worklist(settings, rows)
    sweep = Sweep(SweepDeps.load(settings), base_urls={"cedar": cedar.url})
    summary = run_sweep(sweep, sweep.due(), 1)
    # The hook changed one step (every search by member and dates) and the claims were still found.
    assert summary.by_category == {"F1": 2} and searched == [None, None]

    item = ItemRef(
        id=1,
        payer_id="BSTM1",
        account_number="PA1",
        member_id="M1",
        dos_from=dt.date(2026, 9, 1),
        dos_to=dt.date(2026, 9, 1),
        billed_cents=100,
    )
    not_detail = "is not a subclass of bots.claimstatus.bot.ClaimStatusBot"
    for bot, problem in (
        (f"{module}:Missing", f"cannot load {module}:Missing"),
        ("bots.claimstatus:BatchInquiryBot", not_detail),
    ):
        settings.portals_file = onboard(tmp_path, bot=bot)
        with pytest.raises(ConfigError) as err:  # before any browser opens
            Sweep(SweepDeps.load(settings)).preflight([item])
        line = next(n for n, text in enumerate(settings.portals_file.read_text().splitlines(), 1) if "bot:" in text)
        where = (err.value.file, err.value.line, err.value.key)
        assert where == (str(settings.portals_file), line, "portals.cedar.bot") and problem in err.value.problem
