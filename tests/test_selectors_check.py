"""`rcmbot selectors check` against every simulated portal, in its normal and its drift layout,
and a map broken on purpose: reported, non-zero exit, and the sweep skips that portal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bots.evidence import evidence_store
from bots.sim.fleet import SIMULATED, Fleet
from tests.conftest import ROOT, SimPortals, check_selectors_shared, rcmbot_in_process, sweep_rows

# What each portal's drift layout renames, so that only a fallback candidate still matches.
DRIFTED = {
    "bluestem": {"login.username", "search.claim_number", "results.table", "detail.status_text"},
    "juniper": {"login.username", "search.claim_number", "results.table", "results.open", "detail.heading"},
    "harbor": {"login.username", "mfa.code", "batch.line", "batch.table"},
}


def smap_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


@pytest.fixture(params=["normal", "drift"])
def layout_fleet(request: pytest.FixtureRequest, sims: SimPortals) -> tuple[str, Fleet]:
    """Every simulated portal in one layout (the "drift" one renames what the maps try first):
    the session's fleet of that layout, reset for the test."""
    fleet = sims.fleet(request.param)
    fleet.reset()
    return request.param, fleet


@pytest.mark.parametrize("key", list(SIMULATED))
def test_check_reports_every_element(layout_fleet, key, settings, monkeypatch) -> None:
    layout, fleet = layout_fleet
    for name, value in fleet.env.items():
        monkeypatch.setenv(name, value)
    report = check_selectors_shared(settings, key, fleet.urls[key])
    status = {key: e["status"] for key, e in report.elements.items()}
    assert all(c["error"] is None and c["passed"] and not c["missed"] for c in report.canaries), report.canaries
    assert {c["outcome"] for c in report.canaries} == {"status", "not_found"} and report.passed
    drifted = DRIFTED[key] if layout == "drift" else set()
    assert {k for k, s in status.items() if s == "drift"} == drifted
    assert not report.broken
    # An outage page is a screen no canary reached; a refused login's alert, one not shown.
    assert status["page.unavailable"] == "not reached" and status["login.error"] == "not shown"
    # Every element the shape needs was seen, including a denial's adjustment details; only the
    # optional ones and (once accepted today) the terms page's may not be.
    elements = yaml.safe_load((ROOT / f"selectors/{key}.yaml").read_text())["elements"]
    optional = {k for k, e in elements.items() if e.get("optional")}
    assert {k for k, s in status.items() if s == "not shown"} <= optional
    # A check submits no request: the confirmation of one is never reached.
    unreached = {"page.unavailable", "terms.agree", "terms.continue", "received.reference"}
    assert {k for k, s in status.items() if s == "not reached"} <= unreached
    if key in ("bluestem", "juniper"):  # portals that take requests: their form and list were seen
        assert status["request.submit"] == "ok" and status["requests.table"] == "ok"
    if key != "harbor":
        assert status["adjustment.carc"] in ("ok", "drift") and status["results.next_page"] == "ok"
    assert (settings.state_path / "selector-checks" / f"{key}.json").is_file()


@pytest.mark.slow
def test_a_broken_map_fails_the_check_and_the_sweep_skips_the_portal(
    tmp_path: Path, make_portal, settings, dataset, monkeypatch
) -> None:
    portal = make_portal(layout="drift")
    for name, value in portal.env().items():
        monkeypatch.setenv(name, value)
    # A map whose only candidate for the status field is the one the drift layout renamed.
    smap = yaml.safe_load((ROOT / "selectors/bluestem.yaml").read_text())
    smap["elements"]["detail.status_text"]["candidates"] = [{"label": "Claim status"}]
    (tmp_path / "bluestem.yaml").write_text(yaml.safe_dump(smap, sort_keys=False))
    registry = yaml.safe_load((ROOT / "config/portals.yaml").read_text())
    registry["portals"]["bluestem"]["selector_map"] = str(tmp_path / "bluestem.yaml")
    registry["portals"]["harbor"]["payer_ids"].remove("BSTM1")  # no fallback: the items must wait
    (tmp_path / "portals.yaml").write_text(yaml.safe_dump(registry, sort_keys=False))

    # The command, in this process, with the settings fixture's short retry backoff.
    monkeypatch.setenv("RCMBOT_PORTALS_FILE", str(tmp_path / "portals.yaml"))
    monkeypatch.setenv("RCMBOT_SWEEP__BACKOFF_INITIAL_S", str(settings.sweep.backoff_initial_s))
    monkeypatch.setenv("RCMBOT_SWEEP__BACKOFF_MAX_S", str(settings.sweep.backoff_max_s))
    code, out, err = rcmbot_in_process(
        "--state-dir", str(settings.state_path), "selectors", "check", "bluestem", "--portal-url", portal.url, "--json"
    )
    assert code == 1, err[-2000:]
    report = json.loads(out.strip().splitlines()[-1])
    broken = report["elements"]["detail.status_text"]
    line = 1 + smap_lines(tmp_path / "bluestem.yaml").index("  detail.status_text:")
    assert broken == {
        "status": "broken",
        "detail": f"{tmp_path / 'bluestem.yaml'}:{line}: none of label='Claim status' matched at /claims/"
        + broken["detail"].rsplit("/", 1)[-1],
    }
    assert report["elements"]["login.username"]["status"] == "drift" and report["counts"]["broken"] == 1
    # The canaries that open a claim cannot read it: they fail too, the page they could not read kept.
    failed = [c for c in report["canaries"] if not c["passed"]]
    assert [c["canary"] for c in failed] == [1, 2] and {c["outcome"] for c in failed} == {"error"}
    assert all("detail.status_text" in c["error"] and len(c["evidence"]) == 2 for c in failed), failed
    cli_store = settings.model_copy(update={"evidence_dir": settings.state_path / "evidence"})  # --state-dir's
    stored = {r.sha256 for r in evidence_store(cli_store).records()}
    assert all(e in stored for c in failed for e in c["evidence"])

    settings.portals_file = tmp_path / "portals.yaml"
    sweep, summary = sweep_rows(settings, portal, dataset.worklist[:3])
    assert summary.by_category == {"deferred": 3} and summary.by_portal == {}
    reason = sweep.store.history(sweep.store.items()[0].id)[-1].error
    assert "selectors check" in reason and "detail.status_text" in reason
