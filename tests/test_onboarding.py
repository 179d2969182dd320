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
from bots.sim.dataset import build_dataset
from bots.sweep.runner import Sweep, SweepDeps
from tests.conftest import CLAIMS, ROOT, SEED, check_selectors_shared, run_sweep, seed_worklist
from tests.test_sweep import pick

BLOCK = re.compile(r"```yaml\n# file: (\S+)[^\n]*\n(.*?)```", re.S)
HOOK = re.compile(r"```python\n# file: (\S+)\n(.*?)```", re.S)


def guide_files() -> dict[str, list[str]]:
    """The guide's YAML blocks by the file they go in (the registry has one block per portal)."""
    files: dict[str, list[str]] = {}
    for name, text in BLOCK.findall((ROOT / "docs/onboarding.md").read_text()):
        files.setdefault(name, []).append(text)
    return files


def onboard(tmp_path: Path, key: str = "cedar", **entry: Any) -> Path:
    """Write the guide's three files of portal `key` into tmp_path; a registry holding only it."""
    files = guide_files()
    (tmp_path / f"{key}-selectors.yaml").write_text(*files[f"selectors/{key}.yaml"])
    (tmp_path / f"{key}-status.yaml").write_text(*files[f"config/status/{key}.yaml"])
    registry = next(r for r in map(yaml.safe_load, files["config/portals.yaml"]) if key in r)
    registry[key] |= {
        "selector_map": str(tmp_path / f"{key}-selectors.yaml"),
        "status_map": str(tmp_path / f"{key}-status.yaml"),
        "maintenance": [],
        **entry,
    }
    path = tmp_path / "portals.yaml"
    path.write_text(yaml.safe_dump({"portals": registry}, sort_keys=False))
    return path


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_portal_unlike_the_shapes_defaults_is_onboarded_by_data_alone(tmp_path, settings, sagebrush) -> None:
    settings.portals_file = onboard(tmp_path, "sagebrush")
    data = build_dataset(SEED, CLAIMS, "SGBR1")
    # Rows searched by member whose results tie on the dates of service (another claim of the
    # member on the same dates): told apart on the claims' details.
    ties = [
        r
        for r in data.worklist
        if r.payer_claim_number is None
        and r.kind != "ambiguous"
        and sum(c.member_id == r.member_id and (c.dos_from, c.dos_to) == (r.dos_from, r.dos_to) for c in data.claims)
        > 1
    ]
    rows = pick(data, 3)
    rows += [r for r in ties[:2] if r not in rows]
    assert ties
    seed_worklist(settings, rows)
    sweep = Sweep(SweepDeps.load(settings), base_urls={"sagebrush": sagebrush.url})
    summary = run_sweep(sweep, sweep.due(), 2)
    assert summary.errors == 0 and summary.by_portal == {"sagebrush": len(rows)}
    for item in sweep.store.items():
        row = next(r for r in rows if r.account_number == item.account_number and r.dos_from == item.dos_from)
        # What the data set built for the row, though the cards show only claim number and dates.
        expected = {"not_found": "not_found", "ambiguous": "ambiguous", "unmapped": "unmapped"}.get(row.kind, "status")
        assert item.outcome == expected, (row.kind, row.payer_claim_number is None)
        if expected in ("status", "unmapped"):  # read off a definition list, through patterns, in its own formats
            claim = next(c for c in data.claims if c.account_number == row.account_number)
            assert (item.status_text, item.paid_cents, item.payer_claim_number) == (
                claim.status_text,
                claim.paid_cents,
                claim.claim_number,
            )
            assert item.status_date == claim.status_date and item.check_date == claim.check_date
            assert sweep.store.lines(item.id) == []  # the portal shows no service lines
    coding = next(i for i in sweep.store.items() if i.status_category == "F2" and i.carc_codes)
    assert coding.carc_codes  # adjustments read from the reason-code table
    assert {row.kind for row in rows} >= {"ambiguous", "not_found", "unmapped", "denied_coding"}

    report = check_selectors_shared(settings, "sagebrush", sagebrush.url)
    assert report.passed, (report.canaries, report.broken)
    absent = {k for k, e in report.elements.items() if e["status"] == "absent"}
    assert absent == {"results.account_number", "results.billed", "detail.lines", "adjustment.line_no"}
    assert report.counts["drift"] == 0 and report.counts["broken"] == 0
