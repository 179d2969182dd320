"""Portal faults against real sweeps, judged by the portal's own witness log: refused credentials
tried once and held until a person resumes the portal (alert sent), transient faults retried
with backoff or the portal's Retry-After, the circuit breaker, hung pages timing out together,
and every selected item ending with an outcome of its kind."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import update

from bots.alerts import Alerts
from bots.sim.dataset import build_dataset
from bots.sweep.runner import Sweep, SweepDeps
from bots.worklist.schema import Item
from tests.conftest import CLAIMS, SEED, Hooks, rcmbot_in_process, run_sweep, sweep_rows
from tests.test_portals import sweep
from tests.test_sweep import pick


def paid(dataset: Any, n: int) -> list[Any]:
    return [r for r in dataset.worklist if r.kind == "paid"][:n]


def logins(server: Any) -> list[tuple[str, str]]:
    return [(x["step"], x["result"]) for x in server.witness()["logins"]]


def later(sweep: Sweep) -> list[Any]:
    """Every open item, due now: as a later sweep selects them once their follow-up time has come."""
    with sweep.store.session() as s, s.begin():
        s.execute(update(Item).where(Item.closed_at.is_(None)).values(next_follow_up_at=dt.datetime.now(dt.UTC)))
    return sweep.due()


def test_a_refused_password_is_tried_once_held_alerted_and_resumed_by_a_person(
    settings, portal, dataset, hooks: Hooks, monkeypatch
) -> None:
    monkeypatch.setenv("RCMBOT_BLUESTEM_PASSWORD", "not-the-password")
    settings.alerts.webhook_url = SecretStr(f"{hooks.url}/rcm")
    run, summary = sweep_rows(settings, portal, paid(dataset, 6), concurrency=3)
    assert logins(portal.server) == [("password", "refused")]  # one attempt, whatever the pages and claims
    assert summary.by_category == {"deferred": 6} and summary.by_failure == {"credentials_refused": 6}
    assert summary.checked == 0 and summary.unaccounted == 0
    assert "rcmbot portal resume bluestem" in summary.needs_person["bluestem"]
    [alert] = hooks.wait(1)
    assert alert.body["kind"] == "credentials_refused" and alert.body["portal"] == "bluestem"

    again = Sweep(SweepDeps.load(settings), base_urls={"bluestem": portal.url})
    second = run_sweep(again, later(again))  # a later sweep: the portal is held, nobody signs in
    assert logins(portal.server) == [("password", "refused")]
    assert second.by_failure == {"portal_held": 6} and "resume bluestem" in again.store.history(1)[-1].error
    assert len(hooks.received) == 1  # one alert per incident
    assert Alerts(settings, again.store.engine).open_alerts()[0].times_seen == 1

    code, out, _ = rcmbot_in_process("--state-dir", str(settings.state_path), "portal", "resume", "bluestem")
    assert code == 0 and "6 items are due at the next sweep" in out
    assert len(again.store.due()) == 6 and Alerts(settings, again.store.engine).open_alerts() == []
    code, out, _ = rcmbot_in_process("--state-dir", str(settings.state_path), "portal", "resume", "bluestem")
    assert code == 1 and "not held" in out


def test_a_refused_mfa_code_is_not_retried(settings, portal, dataset) -> None:
    portal.server.faults(mfa_reject_once=True)  # the next code would pass: the bot must not find out
    _, summary = sweep_rows(settings, portal, paid(dataset, 3))
    assert logins(portal.server) == [("password", "ok"), ("mfa", "refused")]
    assert summary.by_failure == {"credentials_refused": 3}


def test_a_refused_mailbox_token_is_not_retried_nor_waited_on(fleet_settings, fleet, monkeypatch) -> None:
    monkeypatch.setenv("RCMBOT_HARBOR_MAILBOX_TOKEN", "not-the-mailbox-token")
    fleet_settings.sweep.mailbox_wait_s = 60  # a refusal is not a code still on its way
    rows = pick(build_dataset(SEED, CLAIMS, "MDWST"), 1)[:2]
    run, summary = sweep(fleet_settings, fleet, rows)
    assert summary.by_category == {"deferred": 2} and summary.by_failure == {"credentials_refused": 2}
    assert logins(fleet.servers["harbor"]) == [("password", "ok"), ("mailbox", "refused")]
    assert "mailbox token refused" in run.store.history(run.store.items()[0].id)[-1].error


def fault_after_first(portal: Any, **faults: Any) -> Any:
    """A sweep step: the first claim checked as it is (the session signed in), then `faults` on."""
    calls = itertools.count()

    async def step(sweep: Sweep, bot: Any, batch: Any) -> Any:
        results = await sweep.check_and_record(bot, batch)
        if next(calls) == 0:
            await asyncio.to_thread(portal.server.faults, **faults)
        return results

    return step


@pytest.mark.parametrize(("fault", "status"), [("http_500", 500), ("http_502", 502), ("http_503", 503)])
def test_a_failing_portal_is_retried_then_the_claim_fails_with_its_kind(
    settings, portal, dataset, fault, status
) -> None:
    settings.sweep.retry_attempts = 2
    rows = paid(dataset, 2)
    step = fault_after_first(portal, profile="flaky", rate=1.0, mix={fault: 1})
    _, summary = sweep_rows(settings, portal, rows, concurrency=1, step=step)
    assert summary.checked == 1 and summary.by_failure == {"portal_error": 1}, summary
    second = [c["status"] for c in portal.server.witness()["claims"] if c["claim_number"] == rows[1].payer_claim_number]
    assert second == [status, status]  # asked once per try, each answered with the fault


def test_the_circuit_breaker_opens_after_failed_claims_in_a_row(settings, portal, dataset) -> None:
    settings.sweep.retry_attempts, settings.sweep.circuit_failures = 1, 2
    portal.server.faults(profile="flaky", rate=1.0, mix={"http_500": 1})
    run, summary = sweep_rows(settings, portal, paid(dataset, 6), concurrency=1)
    assert summary.by_failure == {"portal_error": 2, "circuit_open": 4}, summary
    assert "circuit breaker open after 2 failed checks" in summary.needs_person["bluestem"]
    [alert] = Alerts(settings, run.store.engine).open_alerts()
    assert alert.kind == "circuit_open" and alert.portal == "bluestem"


def test_retry_after_is_honoured_and_one_too_long_stops_the_portal(settings, portal, dataset) -> None:
    settings.sweep.retry_attempts, settings.sweep.retry_after_max_s = 2, 5
    portal.reset(retry_after_s=1)
    rows = paid(dataset, 2)
    step = fault_after_first(portal, profile="rate_limited", rate=1.0)
    _, summary = sweep_rows(settings, portal, rows, concurrency=1, step=step)
    assert summary.checked == 1 and summary.by_failure == {"rate_limited": 1}, summary
    tries = [c for c in portal.server.witness()["claims"] if c["claim_number"] == rows[1].payer_claim_number]
    assert [c["status"] for c in tries] == [429, 429]
    at = [dt.datetime.fromisoformat(c["at"]) for c in tries]
    assert at[1] - at[0] >= dt.timedelta(seconds=1)  # waited as the portal asked

    portal.reset(retry_after_s=600)  # longer than anyone waits: the portal stops for this run
    portal.server.faults(profile="rate_limited", rate=1.0)
    again = Sweep(SweepDeps.load(settings), base_urls={"bluestem": portal.url})
    summary = run_sweep(again, later(again))
    assert summary.by_category == {"deferred": 1} and summary.by_failure == {"rate_limited": 1}, summary
    assert portal.server.stats()["pages"] == 1 and summary.needs_person == {}  # one request, no retry


def test_a_maintenance_page_defers_without_calling_anyone(settings, portal, dataset) -> None:
    portal.server.faults(profile="maintenance")
    run, summary = sweep_rows(settings, portal, paid(dataset, 3))
    assert summary.by_category == {"deferred": 3} and summary.by_failure == {"maintenance": 3}
    assert "come back in" in run.store.history(1)[-1].error
    assert Alerts(settings, run.store.engine).open_alerts() == []


def test_hung_pages_time_out_together_not_one_after_another(settings, portal, dataset) -> None:
    # Timeouts apart enough that the first claim's sign-in is not cut short on a loaded machine
    settings.browser.navigation_timeout_s, settings.sweep.retry_attempts = 3, 1
    portal.reset(hang_s=8)
    signed_in, calls = asyncio.Event(), itertools.count()

    async def hang_once_signed_in(sweep: Sweep, bot: Any, batch: Any) -> Any:
        if next(calls):
            await signed_in.wait()  # the other pages start together once the first has signed in
            return await sweep.check_and_record(bot, batch)
        results = await sweep.check_and_record(bot, batch)
        await asyncio.to_thread(portal.server.faults, profile="hung", rate=1.0)
        signed_in.set()
        return results

    _, summary = sweep_rows(settings, portal, paid(dataset, 4), concurrency=4, step=hang_once_signed_in)
    assert summary.checked == 1 and summary.by_failure == {"timeout": 3}, summary
    assert portal.server.stats()["max_in_flight"] == 3  # the three hung pages waited at once


@pytest.mark.slow  # each sign-in after the first waits for a TOTP code not yet sent (up to 30 s)
def test_ended_sessions_are_healed_by_one_login_and_every_claim_is_checked(settings, portal, dataset) -> None:
    portal.server.faults(profile="expiring_sessions", rate=0.15)  # draws reseeded by the reset: one ends
    _, summary = sweep_rows(settings, portal, paid(dataset, 4), concurrency=1)
    assert summary.checked == 4, summary
    ended = [c for c in portal.server.witness()["claims"] if c["fault"] == "session_expired"]
    assert ended, "the seeded draws ended no session: pick another number of claims"
    signed_in = logins(portal.server).count(("mfa", "ok"))
    assert signed_in >= 2  # logged in again after an ended session


def test_a_detail_page_missing_fields_fails_as_unreadable(settings, portal, dataset) -> None:
    settings.sweep.retry_attempts = 1
    portal.server.faults(profile="missing_fields", rate=1.0)
    _, summary = sweep_rows(settings, portal, paid(dataset, 4), concurrency=1)
    assert summary.errors >= 1 and summary.by_failure == {"unreadable": summary.errors}, summary
    assert summary.checked + summary.errors == 4
