"""Alerts: the only code that reads and writes alerts and their deliveries.

One alert per incident: raising a key that already has an open (unresolved) alert only moves its
`last_seen_at` and `times_seen`; nothing is sent again. A new incident's row is committed before
anything is sent (a crash while sending loses nothing: `retry_undelivered` sends it later), then
it goes through every configured channel, each attempt recorded. A channel that fails is recorded
with its reason and logged, never raised: a sweep must not fail because the mail server is down.

Subjects and texts pass through the redactor (bots.core.logs) before they are stored, so what is
kept, shown and sent is the same redacted text. Keys are not redacted (an incident must keep its
key, and a run id can look like a long number to the redactor's safety net): they are checked to
be `<kind>:<about>` and must only ever name portals, flows and runs. Sending blocks (up to each channel's timeout):
from async code, call `raise_alert` in a thread (`asyncio.to_thread`)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import ColumnElement, Engine, Select, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bots.alerts.channels import Channel, ChannelError, channels_from
from bots.alerts.models import KEY, NAME, Alert, AlertKind, Delivery, incident_key
from bots.alerts.schema import AlertDeliveryRow, AlertRow
from bots.core.logs import get_logger, redactor
from bots.core.settings import Settings

__all__ = ["Alerts"]

log = get_logger(__name__)

SUBJECT_MAX = 200
TEXT_MAX = 4000
BY_MAX = 100
TEST_SUBJECT = "Test alert from rcmbot"
TEST_TEXT = "A test of rcmbot's alert channels (`rcmbot alerts test`): if you read this, alerts reach you."


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Alerts:
    """Alerts in the worklist database (migrations: bots.worklist.db), sent through the channels
    `settings.alerts` configures. Opening it does no I/O; `clock` is injected for tests."""

    def __init__(self, settings: Settings, engine: Engine, clock: Callable[[], dt.datetime] = now_utc) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.channels: list[Channel] = channels_from(settings)
        self._warned = False

    @property
    def channel_names(self) -> list[str]:
        """The channels configured, in the order they are tried."""
        return [channel.name for channel in self.channels]

    # -- raising and resolving -----------------------------------------------------------------

    def raise_alert(
        self,
        kind: AlertKind | str,
        key: str,
        subject: str,
        text: str,
        portal: str | None = None,
        run_id: str | None = None,
    ) -> Alert:
        """The open alert of incident `key` (`<kind>:<about>`, see `incident_key`): a new one,
        sent through every channel, or the one already open, seen once more and not sent again.
        Once a channel delivers a new alert, earlier open alerts it never delivered follow.
        A bad kind, key, portal or run id is a ValueError (a caller's bug); a failing channel never raises."""
        kind = AlertKind(kind)
        found = KEY.match(key)
        if not found or found["kind"] != kind.value:
            raise ValueError(f"not an incident key of kind {kind.value}: {key[:160]!r} (see incident_key)")
        for name, value in (("portal", portal), ("run_id", run_id)):
            if value is not None and not NAME.match(value):
                raise ValueError(f"{name}: not a portal key or run id: {value[:80]!r}")
        subject = redactor.text(" ".join(subject.split()))[:SUBJECT_MAX] or kind.value.replace("_", " ")
        text = redactor.text(text.strip())[:TEXT_MAX]
        alert_id, new = self._record(kind, key, subject, text, portal, run_id)
        alert = self.alert(alert_id)
        assert alert is not None
        if not new:
            log.info("alert_seen_again", alert_id=alert_id, kind=kind.value, times_seen=alert.times_seen)
            return alert
        report = log.info if kind is AlertKind.TEST else log.warning
        report("alert_raised", alert_id=alert_id, kind=kind.value, portal=portal, run_id=run_id)
        if not self.channels:
            if not self._warned:
                log.warning("alerts_not_sent", reason="no alert channel configured (alerts.webhook_url, smtp_host)")
                self._warned = True
            return alert
        attempts = [self._attempt(channel, alert) for channel in self.channels]
        working = [c for c, d in zip(self.channels, attempts, strict=True) if d.ok]
        if working:
            self._retry(working, skip={alert_id})
        return self.alert(alert_id) or alert

    def resolve(self, key: str, by: str) -> Alert | None:
        """Close incident `key`'s open alert (the next raise of the key is a new incident, sent
        again); None when it has none open. `by`: who (a console user name, a command)."""
        return self._resolve(AlertRow.key == key, by)

    def resolve_alert(self, alert_id: int, by: str) -> Alert | None:
        """Close alert `alert_id` if it is still open (a page shown before someone else resolved
        it cannot close the incident's next alert); None when it is not."""
        return self._resolve(AlertRow.id == alert_id, by)

    def _resolve(self, which: ColumnElement[bool], by: str) -> Alert | None:
        """Resolve the open alert `which` picks; whoever resolves it first, once."""
        with self.engine.begin() as conn:
            alert_id = conn.scalar(select(AlertRow.id).where(which, AlertRow.resolved_at.is_(None)))
            if alert_id is None:
                return None
            done = conn.execute(
                update(AlertRow)
                .where(AlertRow.id == alert_id, AlertRow.resolved_at.is_(None))
                .values(resolved_at=self.clock(), resolved_by=by[:BY_MAX])
            )
            if not done.rowcount:
                return None
        log.info("alert_resolved", alert_id=alert_id)
        return self.alert(alert_id)

    def send_test(self, by: str = "rcmbot alerts test") -> Alert:
        """A `test` alert through every configured channel, resolved at once (kept, shown under
        recent alerts); its deliveries say how each channel did."""
        key = incident_key(AlertKind.TEST, secrets.token_hex(4))
        self.raise_alert(AlertKind.TEST, key, TEST_SUBJECT, TEST_TEXT)
        resolved = self.resolve(key, by)
        assert resolved is not None
        return resolved

    def retry_undelivered(self) -> list[Delivery]:
        """Send every open alert that a configured channel never delivered, oldest first, through
        that channel; a channel that fails again is left for the next call. The attempts made."""
        return self._retry(self.channels, skip=set())

    # -- reading ---------------------------------------------------------------------------------

    def alert(self, alert_id: int) -> Alert | None:
        with Session(self.engine) as session:
            row = session.get(AlertRow, alert_id)
            return self._views(session, [row])[0] if row is not None else None

    def open_alerts(self) -> list[Alert]:
        """Unresolved alerts, the most recently seen first."""
        query = select(AlertRow).where(AlertRow.resolved_at.is_(None))
        return self._select(query.order_by(AlertRow.last_seen_at.desc(), AlertRow.id.desc()))

    def recent(self, limit: int = 50) -> list[Alert]:
        """The newest `limit` alerts, open or resolved, newest raised first."""
        return self._select(select(AlertRow).order_by(AlertRow.id.desc()).limit(max(limit, 0)))

    # -- inside ----------------------------------------------------------------------------------

    def _record(
        self, kind: AlertKind, key: str, subject: str, text: str, portal: str | None, run_id: str | None
    ) -> tuple[int, bool]:
        """(alert id, whether it is new), committed. The partial unique index on open keys decides
        a race between two processes: the loser counts a sighting of the winner's alert."""
        open_key = (AlertRow.key == key) & AlertRow.resolved_at.is_(None)
        for _ in range(3):
            now = self.clock()
            with self.engine.begin() as conn:
                seen = conn.execute(
                    update(AlertRow).where(open_key).values(times_seen=AlertRow.times_seen + 1, last_seen_at=now)
                )
                if seen.rowcount:
                    alert_id = conn.scalar(select(AlertRow.id).where(open_key))
                    assert alert_id is not None
                    return alert_id, False
            try:
                with self.engine.begin() as conn:
                    values = {
                        "key": key,
                        "kind": kind.value,
                        "portal": portal,
                        "run_id": run_id,
                        "subject": subject,
                        "text": text,
                        "raised_at": now,
                        "last_seen_at": now,
                        "times_seen": 1,
                    }
                    created = conn.execute(insert(AlertRow).values(**values)).inserted_primary_key
                    assert created is not None
                    return int(created[0]), True
            except IntegrityError:  # opened by another process between the two statements
                continue
        raise RuntimeError(f"could not record incident {key}: it kept being opened and resolved meanwhile")

    def _attempt(self, channel: Channel, alert: Alert) -> Delivery:
        """Send `alert` through `channel` once and record how it went (in its own transaction)."""
        self._register_secrets()
        try:
            channel.send(alert)
            ok, error = True, None
        except ChannelError as exc:
            ok, error = False, str(exc)
        except Exception as exc:  # a bug in a channel must not fail the sweep that raised the alert
            ok, error = False, f"{type(exc).__name__} (unexpected; see the log)"
            log.exception("alert_channel_crashed", alert_id=alert.id, channel=channel.name)
        if not ok:
            log.warning("alert_not_delivered", alert_id=alert.id, channel=channel.name, error=error)
        at = self.clock()
        with Session(self.engine) as session, session.begin():
            row = AlertDeliveryRow(alert_id=alert.id, channel=channel.name, attempted_at=at, ok=ok, error=error)
            session.add(row)
            session.flush()
            return Delivery(row.id, alert.id, channel.name, at, ok, error)

    def _retry(self, channels: Sequence[Channel], skip: set[int]) -> list[Delivery]:
        attempts: list[Delivery] = []
        if not channels:
            return attempts
        query = select(AlertRow).where(AlertRow.resolved_at.is_(None)).order_by(AlertRow.id)
        pending = [a for a in self._select(query) if a.id not in skip]
        for channel in channels:
            for alert in pending:
                if alert.delivered.get(channel.name):
                    continue
                attempt = self._attempt(channel, alert)
                attempts.append(attempt)
                if not attempt.ok:
                    break  # still down: the rest wait for the next call
        return attempts

    def _register_secrets(self) -> None:
        """The webhook URL (it may carry a token) and the channels' credentials are redacted from
        every log line, whatever a library puts in an error."""
        s = self.settings.alerts
        redactor.register([s.webhook_url, s.webhook_token, s.smtp_password])

    def _select(self, query: Select[tuple[AlertRow]]) -> list[Alert]:
        with Session(self.engine) as session:
            return self._views(session, session.scalars(query))

    @staticmethod
    def _views(session: Session, rows: Iterable[AlertRow]) -> list[Alert]:
        rows = list(rows)
        deliveries: dict[int, list[Delivery]] = {row.id: [] for row in rows}
        if rows:
            query = select(AlertDeliveryRow).where(AlertDeliveryRow.alert_id.in_(list(deliveries)))
            for d in session.scalars(query.order_by(AlertDeliveryRow.id)):
                deliveries[d.alert_id].append(Delivery(d.id, d.alert_id, d.channel, d.attempted_at, d.ok, d.error))
        return [
            Alert(
                id=row.id,
                key=row.key,
                kind=AlertKind(row.kind),
                portal=row.portal,
                run_id=row.run_id,
                subject=row.subject,
                text=row.text,
                raised_at=row.raised_at,
                last_seen_at=row.last_seen_at,
                times_seen=row.times_seen,
                resolved_at=row.resolved_at,
                resolved_by=row.resolved_by,
                deliveries=tuple(deliveries[row.id]),
            )
            for row in rows
        ]
