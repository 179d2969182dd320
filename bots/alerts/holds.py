"""Holding and resuming a portal, with its alert: refused credentials hold a portal (no sweep or
apply run signs in again, which could lock the account) and raise one alert; a person confirms the
fix, and the hold is released, the items it kept waiting are due now and the alert is closed. Used
by the sweep and the apply run (holding), the console's button and `rcmbot portal resume`."""

from __future__ import annotations

from collections.abc import Sequence

from bots.alerts.models import AlertKind, incident_key
from bots.alerts.store import Alerts
from bots.core.models import FailureKind
from bots.worklist.runs import PortalHolds, Resumed
from bots.worklist.store import WorklistStore

SUBJECT = "credentials refused; the portal is held until a person resumes it"


def hold_portal(store: WorklistStore, alerts: Alerts, portal: str, name: str, reason: str, run_id: str | None) -> None:
    """Hold `portal` (named `name` to people) after its credentials were refused, and raise the
    incident's alert (once, however many runs meet the refusal)."""
    PortalHolds(store).hold(portal, FailureKind.CREDENTIALS_REFUSED, reason, run_id)
    text = f"{reason}; after fixing the credentials: rcmbot portal resume {portal} (or Resume on the Alerts page)"
    key = incident_key(AlertKind.CREDENTIALS_REFUSED, portal)
    alerts.raise_alert(AlertKind.CREDENTIALS_REFUSED, key, f"{name}: {SUBJECT}", text, portal=portal, run_id=run_id)


def resume_portal(
    store: WorklistStore, alerts: Alerts, portal: str, payer_ids: Sequence[str], by: str
) -> Resumed | None:
    """Release `portal`'s hold (its items of `payer_ids` due now) and resolve its alert; None
    when it was not held. `by`: who confirmed the fix (a console user, `cli:<os user>`)."""
    resumed = PortalHolds(store).resume(portal, payer_ids, by)
    if resumed is not None:
        alerts.resolve(incident_key(AlertKind.CREDENTIALS_REFUSED, portal), by)
    return resumed
