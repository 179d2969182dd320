"""Alerts: one per incident, kept in the worklist database and sent through real channels, each
tested against a receiver this module starts on 127.0.0.1: a webhook (http.server in a thread)
and an SMTP server (aiosmtpd's Controller). A dead channel is a port nothing listens on, or a
webhook answering 500. Then `rcmbot alerts`, and the console's Alerts page in headless Chromium."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from argon2 import PasswordHasher
from playwright.sync_api import Page, expect
from sqlalchemy import Engine, text
from structlog.testing import capture_logs

from bots.accounts import AccountStore
from bots.alerts import Alert, AlertKind, Alerts, incident_key, payload
from bots.console import RunningConsole, create_app
from bots.core.logs import REDACTED, redactor
from bots.core.models import FailureKind, Role
from bots.core.settings import Settings
from bots.worklist.db import open_engine, upgrade
from bots.worklist.runs import PortalHolds
from bots.worklist.store import WorklistStore
from tests.conftest import WAIT_S, Hooks, free_port, rcmbot_in_process

SMTP_USER, SMTP_PASSWORD = "alerts-bot", f"smtp-{secrets.token_hex(8)}"
PASSWORD = "a long enough password"


# -- the receivers ---------------------------------------------------------------------------


@dataclass
class Mailbox:
    """An SMTP receiver: (envelope sender, recipients, message) of each mail, in order. Logging
    in is optional; when it is done, only SMTP_USER with SMTP_PASSWORD gets in."""

    host: str
    port: int
    mails: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.changed:
            self.mails.append((str(envelope.mail_from), list(envelope.rcpt_tos), message))
            self.changed.notify_all()
        return "250 Message accepted for delivery"

    def reset(self) -> None:
        with self.changed:
            self.mails.clear()

    def wait(self, count: int) -> list[tuple[str, list[str], EmailMessage]]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.mails) >= count, WAIT_S), self.mails
            return list(self.mails)


def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (SMTP_USER.encode(), SMTP_PASSWORD.encode())
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 235 or 535 itself


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[Mailbox]:
    mailbox = Mailbox("127.0.0.1", free_port())
    controller = Controller(
        mailbox, hostname=mailbox.host, port=mailbox.port, authenticator=authenticate, auth_require_tls=False
    )
    controller.start()
    yield mailbox
    controller.stop()


@pytest.fixture
def mailbox(smtp_server: Mailbox) -> Mailbox:
    smtp_server.reset()
    return smtp_server


# -- the store -------------------------------------------------------------------------------


class Clock:
    """Time that moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 2, 3, 4, 5, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def dead_port() -> int:
    return free_port()  # bound and let go at once: nothing listens there


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'worklist.db'}"
    upgrade(url)
    engine = open_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def make(tmp_path: Path, engine: Engine) -> Callable[..., Alerts]:
    """Alerts on this test's database with the channels of `alerts` (settings.alerts as a dict)."""

    def make(clock: Callable[[], dt.datetime] | None = None, **alerts: Any) -> Alerts:
        settings = Settings(state_dir=tmp_path / "state", alerts=alerts)
        return Alerts(settings, engine, clock=clock) if clock else Alerts(settings, engine)

    return make


def both(hooks: Hooks, mailbox: Mailbox, **more: Any) -> dict[str, Any]:
    """Settings for a live webhook and a live mail server."""
    return {
        "webhook_url": f"{hooks.url}/hook",
        "smtp_host": mailbox.host,
        "smtp_port": mailbox.port,
        "smtp_to": ["ops@example.org", "oncall@example.org"],
        "smtp_from": "rcmbot@example.org",
        **more,
    }


def refused(alerts: Alerts, portal: str = "juniper") -> Alert:
    return alerts.raise_alert(
        AlertKind.CREDENTIALS_REFUSED,
        incident_key(AlertKind.CREDENTIALS_REFUSED, portal),
        f"{portal}: sign-in refused",
        f"The {portal} portal refused the bot's credentials in run run-1a2b3c; the portal is held.",
        portal=portal,
        run_id="run-1a2b3c",
    )


def test_one_alert_per_incident(make, hooks: Hooks, mailbox: Mailbox) -> None:
    clock = Clock()
    alerts = make(clock, **both(hooks, mailbox))
    first = refused(alerts)
    assert first.times_seen == 1 and first.open
    assert first.delivered == {"webhook": True, "email": True}
    hooks.wait(1), mailbox.wait(1)
    clock.advance(90)
    again = refused(alerts)
    assert (again.id, again.times_seen, again.raised_at) == (first.id, 2, first.raised_at)
    assert again.last_seen_at == first.last_seen_at + dt.timedelta(seconds=90)
    assert len(hooks.received) == 1 and len(mailbox.mails) == 1  # seen again, not sent again
    assert len(again.deliveries) == 2
    assert [a.id for a in alerts.open_alerts()] == [first.id]

    resolved = alerts.resolve(first.key, "sofia")
    assert resolved is not None and resolved.resolved_by == "sofia" and resolved.resolved_at == clock.now
    assert alerts.resolve(first.key, "sofia") is None  # nothing open under the key any more
    assert alerts.open_alerts() == []
    later = refused(alerts)  # the same trouble after a person resolved it: a new incident
    assert later.id != first.id and later.times_seen == 1
    assert len(hooks.wait(2)) == 2 and len(mailbox.wait(2)) == 2
    assert [a.id for a in alerts.recent(10)] == [later.id, first.id]
    other = refused(alerts, "bluestem")  # another portal is another incident
    assert other.id not in (first.id, later.id)
    assert {a.key for a in alerts.open_alerts()} == {"credentials_refused:juniper", "credentials_refused:bluestem"}


def test_the_same_incident_raised_at_once_is_one_alert(make) -> None:
    alerts = make()
    key = incident_key(AlertKind.CIRCUIT_OPEN, "harbor")
    start = threading.Barrier(6)
    ids: list[int] = []

    def raise_one() -> None:
        start.wait(WAIT_S)
        ids.append(alerts.raise_alert(AlertKind.CIRCUIT_OPEN, key, "harbor: circuit open", "8 failed in a row").id)

    threads = [threading.Thread(target=raise_one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert len(ids) == 6 and len(set(ids)) == 1
    [alert] = alerts.open_alerts()
    assert alert.times_seen == 6


def test_the_webhook_gets_the_alert_as_json_with_its_token(make, hooks: Hooks) -> None:
    token = f"hook-token-{secrets.token_hex(6)}"
    alerts = make(webhook_url=f"{hooks.url}/hook", webhook_token=token)
    alert = alerts.raise_alert(
        AlertKind.SELECTORS_BROKEN,
        "selectors_broken:bluestem",
        "bluestem: selector map no longer matches",
        "claims.search_button: no candidate matched",
        portal="bluestem",
    )
    [got] = hooks.wait(1)
    assert got.path == "/hook"
    assert got.headers["authorization"] == f"Bearer {token}"
    assert got.headers["content-type"] == "application/json"
    assert got.body == {
        "kind": "selectors_broken",
        "key": "selectors_broken:bluestem",
        "subject": "bluestem: selector map no longer matches",
        "text": "claims.search_button: no candidate matched",
        "portal": "bluestem",
        "run_id": None,
        "raised_at": alert.raised_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert got.body == payload(alert)
    assert alert.delivered == {"webhook": True}


def test_the_mail_reaches_every_recipient_with_the_subject(make, mailbox: Mailbox) -> None:
    alerts = make(
        smtp_host=mailbox.host,
        smtp_port=mailbox.port,
        smtp_from="rcmbot@example.org",
        smtp_to=["ops@example.org", "oncall@example.org"],
        smtp_username=SMTP_USER,
        smtp_password=SMTP_PASSWORD,
    )
    alert = alerts.raise_alert(
        AlertKind.NEEDS_PERSON,
        "needs_person:bluestem",
        "bluestem: terms page needs a person",
        "New terms of use wait to be accepted by a person.\nThe portal is held until then.",
        portal="bluestem",
        run_id="run-9f8e7d",
    )
    [(sender, recipients, message)] = mailbox.wait(1)
    assert sender == "rcmbot@example.org"
    assert recipients == ["ops@example.org", "oncall@example.org"]
    assert message["Subject"] == "[rcmbot] bluestem: terms page needs a person"
    assert message["To"] == "ops@example.org, oncall@example.org"
    body = message.get_content().replace("\r\n", "\n")  # as it came over the wire
    assert body.startswith("New terms of use wait to be accepted by a person.\nThe portal is held until then.")
    for line in ("incident: needs_person:bluestem", "portal:   bluestem", "run:      run-9f8e7d"):
        assert line in body
    assert alert.delivered == {"email": True}


def test_a_dead_channel_is_recorded_and_logged_and_never_raises(make, hooks: Hooks) -> None:
    alerts = make(
        webhook_url=f"{hooks.url}/fail",
        smtp_host="127.0.0.1",
        smtp_port=dead_port(),
        smtp_to=["ops@example.org"],
        smtp_timeout_s=5,
    )
    with capture_logs() as logs:
        alert = refused(alerts)  # does not raise
    hooks.wait(1)
    assert alert.delivered == {"webhook": False, "email": False}
    webhook, mail = alert.latest("webhook"), alert.latest("email")
    assert webhook is not None and webhook.error == "the webhook answered HTTP 500"
    assert mail is not None and mail.error is not None and "refused" in mail.error.lower()
    failed = [e for e in logs if e["event"] == "alert_not_delivered"]
    assert [(e["channel"], e["alert_id"]) for e in failed] == [("webhook", alert.id), ("email", alert.id)]
    assert alerts.open_alerts()[0].id == alert.id  # kept for the console all the same


def test_no_url_or_credential_in_a_failure(make, mailbox: Mailbox) -> None:
    token = f"secret-{secrets.token_hex(6)}"
    alerts = make(
        webhook_url=f"http://127.0.0.1:{dead_port()}/hook?token={token}",
        smtp_host=mailbox.host,
        smtp_port=mailbox.port,
        smtp_to=["ops@example.org"],
        smtp_username=SMTP_USER,
        smtp_password=f"wrong-{SMTP_PASSWORD}",
    )
    with capture_logs() as logs:
        alert = refused(alerts)
    assert alert.delivered == {"webhook": False, "email": False}
    errors = [d.error or "" for d in alert.deliveries]
    assert "Connect" in errors[0] and "535" in errors[1]  # refused; authentication failed
    everything = json.dumps([errors, logs], default=str)
    for secret in (token, SMTP_PASSWORD, "127.0.0.1:"):
        assert secret not in everything
    assert mailbox.mails == []


def test_undelivered_alerts_are_sent_later(make, hooks: Hooks, mailbox: Mailbox) -> None:
    dead = make(webhook_url=f"http://127.0.0.1:{dead_port()}/hook", webhook_timeout_s=5)
    first = refused(dead, "juniper")
    second = refused(dead, "bluestem")
    gone = refused(dead, "harbor")
    assert dead.resolve(gone.key, "sam") is not None  # resolved: nobody needs telling any more
    assert all(not a.delivered["webhook"] for a in (first, second))

    alive = make(**both(hooks, mailbox))
    sent = alive.retry_undelivered()
    assert {(d.alert_id, d.channel, d.ok) for d in sent} == {
        (first.id, "webhook", True),
        (second.id, "webhook", True),
        (first.id, "email", True),
        (second.id, "email", True),
    }
    assert [r.body["key"] for r in hooks.wait(2)] == [first.key, second.key]  # oldest first
    assert len(mailbox.wait(2)) == 2
    assert alive.retry_undelivered() == []  # each channel delivered each once
    assert len(hooks.received) == 2


def test_a_new_alert_through_a_channel_that_is_back_takes_the_earlier_ones_along(
    make, hooks: Hooks, mailbox: Mailbox
) -> None:
    port = dead_port()
    down = make(smtp_host="127.0.0.1", smtp_port=port, smtp_to=["ops@example.org"])
    early = refused(down, "juniper")
    assert early.delivered == {"email": False}
    up = make(smtp_host=mailbox.host, smtp_port=mailbox.port, smtp_to=["ops@example.org"])
    refused(up, "bluestem")
    subjects = sorted(str(m["Subject"]) for _, _, m in mailbox.wait(2))
    assert subjects == ["[rcmbot] bluestem: sign-in refused", "[rcmbot] juniper: sign-in refused"]
    assert up.alert(early.id).delivered == {"email": True}  # type: ignore[union-attr]


def test_without_channels_alerts_are_kept_and_a_warning_is_logged_once(make) -> None:
    alerts = make()
    assert alerts.channel_names == []
    with capture_logs() as logs:
        refused(alerts, "juniper")
        refused(alerts, "bluestem")
        refused(alerts, "juniper")
    assert [e["event"] for e in logs].count("alerts_not_sent") == 1
    assert len(alerts.open_alerts()) == 2
    assert alerts.retry_undelivered() == []


def test_subject_and_text_are_redacted_before_they_are_kept_or_sent(make, hooks: Hooks, mailbox: Mailbox) -> None:
    secret = f"Zed Q Patient {secrets.token_hex(3)}"
    redactor.register([secret])
    alerts = make(**both(hooks, mailbox))
    alert = alerts.raise_alert(
        AlertKind.RUN_FAILED,
        "run_failed:claim_status_sweep",
        f"sweep failed on {secret}",
        f"Run run-abc failed at claim for {secret}, member W123456789, DOS 2026-09-01.\nTraceback: KeyError",
        run_id="run-abc",
    )
    assert secret not in alert.subject + alert.text
    assert alert.subject == f"sweep failed on {REDACTED}"
    assert alert.text == f"Run run-abc failed at claim for {REDACTED}, member {REDACTED}, DOS {REDACTED}.\n" + (
        "Traceback: KeyError"
    )
    [got] = hooks.wait(1)
    [(_, _, message)] = mailbox.wait(1)
    sent = json.dumps(got.body) + str(message)
    for value in (secret, "W123456789", "2026-09-01"):
        assert value not in sent
    with alerts.engine.connect() as conn:  # and what the database keeps
        kept = conn.execute(text("SELECT subject || text FROM alerts")).scalar_one()
    assert secret not in kept and "W123456789" not in kept


def test_a_bad_kind_key_or_name_is_the_callers_bug(make) -> None:
    alerts = make()
    with pytest.raises(ValueError, match="incident key"):
        alerts.raise_alert(AlertKind.CIRCUIT_OPEN, "credentials_refused:juniper", "s", "t")
    with pytest.raises(ValueError, match="incident key"):
        alerts.raise_alert(AlertKind.CIRCUIT_OPEN, "circuit_open:jun iper", "s", "t")
    with pytest.raises(ValueError):
        alerts.raise_alert("no_such_kind", "no_such_kind:x", "s", "t")
    with pytest.raises(ValueError, match="portal"):
        alerts.raise_alert(AlertKind.CIRCUIT_OPEN, "circuit_open:juniper", "s", "t", portal="Jane Doe")
    with pytest.raises(ValueError, match="incident key"):
        incident_key(AlertKind.NEEDS_PERSON, "")
    assert incident_key("circuit_open", "harbor") == "circuit_open:harbor"
    assert [k.value for k in AlertKind] == [
        "run_failed",
        "circuit_open",
        "credentials_refused",
        "selectors_broken",
        "needs_person",
        "test",
    ]
    assert alerts.recent(10) == []


def test_keys_are_kept_as_given_even_where_the_redactor_would_see_a_number(make) -> None:
    alerts = make()
    key = incident_key(AlertKind.RUN_FAILED, "run-20261102123456")  # redacted, it would merge with any other run
    alert = alerts.raise_alert(AlertKind.RUN_FAILED, key, "sweep failed", "crashed", run_id="run-20261102123456")
    assert (alert.key, alert.run_id) == (key, "run-20261102123456")
    tests = [alerts.send_test() for _ in range(2)]
    assert tests[0].key != tests[1].key and all(t.times_seen == 1 and not t.open for t in tests)
    assert alerts.resolve(key, "sam") is not None


def test_the_deliveries_are_append_only(make) -> None:
    alerts = make(webhook_url=f"http://127.0.0.1:{dead_port()}/hook")
    refused(alerts)
    for statement in ("UPDATE alert_deliveries SET ok = 1", "DELETE FROM alert_deliveries"):
        with pytest.raises(Exception, match="append-only"), alerts.engine.begin() as conn:
            conn.execute(text(statement))


# -- rcmbot alerts ---------------------------------------------------------------------------


def test_rcmbot_alerts_test_and_list(tmp_path: Path, hooks: Hooks, mailbox: Mailbox, monkeypatch) -> None:
    state = ("--state-dir", str(tmp_path / "state"))
    for name in ("WEBHOOK_URL", "SMTP_HOST", "SMTP_PORT", "SMTP_TO"):
        monkeypatch.delenv(f"RCMBOT_ALERTS__{name}", raising=False)
    code, _, err = rcmbot_in_process(*state, "alerts", "test")
    assert code == 2 and "no alert channel is configured" in err

    monkeypatch.setenv("RCMBOT_ALERTS__WEBHOOK_URL", f"{hooks.url}/hook")
    monkeypatch.setenv("RCMBOT_ALERTS__SMTP_HOST", mailbox.host)
    monkeypatch.setenv("RCMBOT_ALERTS__SMTP_PORT", str(mailbox.port))
    monkeypatch.setenv("RCMBOT_ALERTS__SMTP_TO", '["ops@example.org"]')
    code, out, _ = rcmbot_in_process(*state, "alerts", "test", "--json")
    answer = json.loads(out)
    assert code == 0, out
    assert answer["ok"] is True
    assert answer["channels"] == {"webhook": {"ok": True, "error": None}, "email": {"ok": True, "error": None}}
    assert hooks.wait(1)[0].body["kind"] == "test"
    assert str(mailbox.wait(1)[0][2]["Subject"]) == "[rcmbot] Test alert from rcmbot"

    monkeypatch.setenv("RCMBOT_ALERTS__WEBHOOK_URL", f"{hooks.url}/fail")
    code, out, _ = rcmbot_in_process(*state, "alerts", "test")
    assert code == 1
    assert out.splitlines()[:2] == ["webhook  FAILED: the webhook answered HTTP 500", "email    ok"]

    code, out, _ = rcmbot_in_process(*state, "alerts", "list", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 2
    assert [r["delivered"] for r in rows] == [{"webhook": False, "email": True}, {"webhook": True, "email": True}]
    assert {r["kind"] for r in rows} == {"test"} and all(r["resolved_by"] == "rcmbot alerts test" for r in rows)
    code, out, _ = rcmbot_in_process(*state, "alerts", "list", "--open", "--json")
    assert (code, out) == (0, "")
    code, out, _ = rcmbot_in_process(*state, "alerts", "list")
    assert code == 0 and "resolved by rcmbot alerts test" in out and "webhook failed, email ok" in out


# -- the console -----------------------------------------------------------------------------


@dataclass
class Desk:
    url: str
    accounts: AccountStore
    alerts: Alerts
    worklist: WorklistStore

    def sign_in(self, page: Page, role: Role, next_path: str = "/alerts") -> str:
        name = f"{role.value}-{secrets.token_hex(4)}"
        self.accounts.add_user(name, role, PASSWORD)
        page.goto(f"{self.url}/login?next={next_path}")
        page.get_by_label("User name").fill(name)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{self.url}{next_path}")
        return name

    def incident(self, text: str = "8 claims failed in a row") -> Alert:
        portal = f"p{secrets.token_hex(3)}"
        key = incident_key(AlertKind.CIRCUIT_OPEN, portal)
        return self.alerts.raise_alert(AlertKind.CIRCUIT_OPEN, key, f"{portal}: circuit open", text, portal=portal)


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    settings = Settings(state_dir=tmp_path_factory.mktemp("alerts-console") / "state", console={"port": 0})
    upgrade(settings.worklist_url)
    engine = open_engine(settings.worklist_url)
    # cheap hashes: these tests are about the web layer (test_accounts checks the hashing)
    accounts = AccountStore(engine, settings.console, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    alerts, worklist = Alerts(settings, engine), WorklistStore(engine)
    state = {"alerts": alerts, "worklist": worklist}
    running = RunningConsole(create_app(settings, accounts=accounts, state=state), "127.0.0.1", 0)
    running.start()
    yield Desk(running.url, accounts, alerts, worklist)
    running.stop()
    engine.dispose()


def test_a_supervisor_sees_and_resolves_an_alert(page: Page, desk: Desk) -> None:
    alert = desk.incident("<img src=x onerror=alert(1)> 8 claims failed in a row")
    name = desk.sign_in(page, Role.SUPERVISOR)
    expect(page.get_by_role("link", name="Alerts")).to_have_attribute("aria-current", "page")
    row = page.locator("table.alerts-open tbody tr", has_text=alert.subject)
    expect(row).to_contain_text("circuit open")
    expect(row).to_contain_text(alert.key)
    expect(row).to_contain_text("<img src=x onerror=alert(1)> 8 claims failed in a row")  # text, never markup
    expect(page.locator("table.alerts-open img")).to_have_count(0)
    row.get_by_role("button", name=f"Resolve alert {alert.id}").click()
    expect(page).to_have_url(f"{desk.url}/alerts")
    expect(page.get_by_role("status")).to_have_text(f"alert {alert.id} resolved")
    expect(page.locator("table.alerts-open tbody tr", has_text=alert.subject)).to_have_count(0)
    expect(page.locator("table.alerts-resolved tbody tr", has_text=alert.subject)).to_contain_text(f"by {name}")
    resolved = desk.alerts.alert(alert.id)
    assert resolved is not None and resolved.resolved_by == name
    entry = desk.accounts.access_log(1, None, name, None)[0]
    assert (entry.action, entry.what) == ("resolve_alert", f"alert {alert.id}")


def test_an_auditor_reads_alerts_but_may_not_resolve_them(page: Page, desk: Desk) -> None:
    alert = desk.incident()
    desk.sign_in(page, Role.AUDITOR)
    expect(page.locator("table.alerts-open tbody tr", has_text=alert.subject)).to_have_count(1)
    expect(page.get_by_role("button", name=f"Resolve alert {alert.id}")).to_have_count(0)
    token = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    answer = page.request.post(f"{desk.url}/alerts/resolve", form={"alert_id": str(alert.id), "csrftoken": token})
    assert answer.status == 403
    assert desk.alerts.alert(alert.id).open  # type: ignore[union-attr]


def test_a_coder_may_not_see_alerts(page: Page, desk: Desk) -> None:
    desk.sign_in(page, Role.CODER)
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_role("link", name="Alerts")).to_have_count(0)
    answer = page.goto(f"{desk.url}/alerts")
    assert answer is not None and answer.status == 403


def test_a_hand_made_resolve_without_the_csrf_token_is_refused(page: Page, desk: Desk) -> None:
    alert = desk.incident()
    desk.sign_in(page, Role.ADMIN)
    for token in ("", "forged-token"):
        answer = page.request.post(f"{desk.url}/alerts/resolve", form={"alert_id": str(alert.id), "csrftoken": token})
        assert answer.status == 403 and "Request refused" in answer.text()
    assert desk.alerts.alert(alert.id).open  # type: ignore[union-attr]
    token = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    answer = page.request.post(f"{desk.url}/alerts/resolve", form={"alert_id": str(alert.id), "csrftoken": token})
    assert answer.ok  # with the page's token, as the form sends it
    assert not desk.alerts.alert(alert.id).open  # type: ignore[union-attr]


def test_a_held_portal_is_resumed_from_its_alert_by_a_supervisor_only(page: Page, desk: Desk) -> None:
    holds = PortalHolds(desk.worklist)
    holds.hold("bluestem", FailureKind.CREDENTIALS_REFUSED, "bluestem: login refused", "run-1")
    key = incident_key(AlertKind.CREDENTIALS_REFUSED, "bluestem")
    alert = desk.alerts.raise_alert(AlertKind.CREDENTIALS_REFUSED, key, "Bluestem: refused", "", portal="bluestem")
    desk.sign_in(page, Role.AUDITOR)
    expect(page.get_by_role("button", name="Resume portal bluestem")).to_have_count(0)
    token = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    answer = page.request.post(f"{desk.url}/alerts/resume-portal", form={"portal": "bluestem", "csrftoken": token})
    assert answer.status == 403 and "bluestem" in holds.active()

    page.context.clear_cookies()
    name = desk.sign_in(page, Role.SUPERVISOR)
    answer = page.request.post(f"{desk.url}/alerts/resume-portal", form={"portal": "bluestem", "csrftoken": "forged"})
    assert answer.status == 403 and "bluestem" in holds.active()  # no CSRF token, no resume
    page.get_by_role("button", name="Resume portal bluestem").click()
    expect(page.get_by_role("status")).to_have_text("bluestem resumed: 0 items are due at the next sweep")
    assert holds.active() == {} and not desk.alerts.alert(alert.id).open  # type: ignore[union-attr]
    entry = desk.accounts.access_log(1, None, name, None)[0]
    assert (entry.action, entry.what) == ("resume_portal", "bluestem")
