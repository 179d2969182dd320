"""Onboarding by data alone: the worked example of docs/onboarding.md (a registry entry, a
selector map and a status map for a portal whose labels, ids and structure differ from every
shipped map) is copied out of the page, written at test time, and swept; then a Python hook."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pyotp
import pytest
import yaml

from bots.core.errors import ConfigError
from bots.core.models import ItemRef
from bots.sim.portal import PortalConfig
from bots.sim.server import PortalServer
from bots.sweep.runner import Sweep
from bots.sweep.selectorcheck import check_selectors
from tests.conftest import CLAIMS, ROOT, SEED, run_async, seed_worklist
from tests.test_sweep import pick

BLOCK = re.compile(r"```yaml\n# file: (\S+)[^\n]*\n(.*?)```", re.S)


def onboard(tmp_path: Path, **entry: Any) -> Path:
    """Write the guide's three files into tmp_path; a registry holding only the new portal."""
    blocks = dict(BLOCK.findall((ROOT / "docs/onboarding.md").read_text()))
    (tmp_path / "cedar-selectors.yaml").write_text(blocks["selectors/cedar.yaml"])
    (tmp_path / "cedar-status.yaml").write_text(blocks["config/status/cedar.yaml"])
    registry = yaml.safe_load(blocks["config/portals.yaml"])
    registry["cedar"] |= {"selector_map": str(tmp_path / "cedar-selectors.yaml"),
                          "status_map": str(tmp_path / "cedar-status.yaml"), "maintenance": [], **entry}
    path = tmp_path / "portals.yaml"
    path.write_text(yaml.safe_dump({"portals": registry}, sort_keys=False))
    return path


@pytest.fixture
def cedar(tmp_path: Path, settings, monkeypatch) -> PortalServer:
    server = PortalServer(PortalConfig(db_path=tmp_path / "cedar.db", kind="cedar", seed=SEED, claims=CLAIMS))
    secret = pyotp.random_base32()
    server.add_user("cedar-bot", "cedar-password", secret)
    for name, value in {"RCMBOT_CEDAR_USERNAME": "cedar-bot", "RCMBOT_CEDAR_PASSWORD": "cedar-password",
                        "RCMBOT_CEDAR_TOTP_SECRET": secret}.items():
        monkeypatch.setenv(name, value)
    server.start()
    yield server
    server.stop()


def test_a_portal_onboarded_by_data_alone_is_swept_and_checked(tmp_path, settings, cedar, dataset) -> None:
    settings.portals_file = onboard(tmp_path)
    rows = pick(dataset, 1)
    seed_worklist(settings, rows)
    sweep = Sweep(settings, base_urls={"cedar": cedar.url})
    summary = run_async(sweep.run(sweep.due(), 2))
    assert summary.errors == 0 and summary.by_portal == {"cedar": len(rows)} and summary.drift == {}
    for item in sweep.store.items():
        row = next(r for r in rows if r.account_number == item.account_number)
        expected = {"not_found": "not_found", "ambiguous": "ambiguous", "unmapped": "unmapped"}.get(row.kind, "status")
        assert item.outcome == expected, row
        if expected == "status":
            claim = next(c for c in dataset.claims if c.account_number == row.account_number)
            assert (item.status_text, item.paid_cents) == (claim.status_text, claim.paid_cents)

    report = run_async(check_selectors(settings, "cedar", cedar.url))
    assert not report.broken and report.counts["drift"] == 0
    # The sweep accepted today's terms already, so the check's login no longer meets them.
    assert {k for k, e in report.elements.items() if e["status"] == "not reached"} == {
        "login.error", "page.unavailable", "search.error", "terms.agree", "terms.continue"}


def test_a_python_hook_changes_one_step_and_a_bad_one_fails_at_start(tmp_path, settings, cedar, dataset,
                                                                     monkeypatch) -> None:
    (tmp_path / "cedar_hooks.py").write_text(
        "from bots.claimstatus.bot import ClaimStatusBot\n\n"
        "SEARCHES = []\n\n\n"
        "class CedarBot(ClaimStatusBot):\n"
        "    async def _search(self, pp, item):\n"
        "        SEARCHES.append(item.id)\n"
        "        return await super()._search(pp, item)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.portals_file = onboard(tmp_path, bot="cedar_hooks:CedarBot")
    rows = [r for r in dataset.worklist if r.kind == "paid"][:2]
    seed_worklist(settings, rows)
    sweep = Sweep(settings, base_urls={"cedar": cedar.url})
    summary = run_async(sweep.run(sweep.due(), 1))
    import cedar_hooks  # type: ignore[import-not-found]

    assert summary.by_category == {"F1": 2} and sorted(cedar_hooks.SEARCHES) == [1, 2]

    settings.portals_file = onboard(tmp_path, bot="cedar_hooks:Missing")
    with pytest.raises(ConfigError) as err:  # before any browser opens
        Sweep(settings).preflight([ItemRef(id=1, payer_id="BSTM1", account_number="PA1", member_id="M1",
                                           dos_from=dt.date(2026, 9, 1), dos_to=dt.date(2026, 9, 1), billed_cents=100)])
    line = next(n for n, text in enumerate(settings.portals_file.read_text().splitlines(), 1) if "bot:" in text)
    assert (err.value.file, err.value.line, err.value.key) == (str(settings.portals_file), line, "portals.cedar.bot")
    assert "cannot load cedar_hooks:Missing" in err.value.problem
