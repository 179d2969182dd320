"""Alerts: the open incidents and the recently resolved ones, for supervisors and admins (auditors
may read them); a supervisor or an admin resolves one. Alerts hold portal keys, run ids, counts and
reasons, never PHI, so viewing them is not logged; resolving one is (who closed which alert)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bots.accounts import CurrentUser as User
from bots.alerts import AlertKind, Alerts, resume_portal
from bots.console.deps import audit, require
from bots.console.pages import flash, render
from bots.console.routes.worklist import Worklist
from bots.core.models import Role
from bots.core.registry import PortalRegistry

router = APIRouter()

RECENT = 50  # resolved alerts shown under the open ones
RESOLVERS = (Role.SUPERVISOR, Role.ADMIN)
Reader = Annotated[User, Depends(require(*RESOLVERS, Role.AUDITOR))]
Resolver = Annotated[User, Depends(require(*RESOLVERS))]


def alerts_store(request: Request) -> Alerts:
    store: Alerts | None = getattr(request.app.state, "alerts", None)
    if store is None:
        raise HTTPException(404, "this console keeps no alerts")
    return store


AlertStore = Annotated[Alerts, Depends(alerts_store)]


@router.get("/alerts", response_class=HTMLResponse)
def alerts(request: Request, user: Reader, store: AlertStore) -> HTMLResponse:
    context = {
        "open_alerts": store.open_alerts(),
        "resolved": [alert for alert in store.recent(RECENT) if not alert.open],
        "can_resolve": user.role in RESOLVERS,
        "channels": store.channel_names,
    }
    return render(request, "alerts/list.html", context)


@router.post("/alerts/resolve")
def resolve(
    request: Request, user: Resolver, store: AlertStore, alert_id: Annotated[int, Form(ge=1, le=2**62)]
) -> Response:
    alert = store.alert(alert_id)
    if alert is not None and alert.kind == AlertKind.CREDENTIALS_REFUSED and alert.open:
        raise HTTPException(400, "a held portal's alert closes when the portal is resumed (Resume)")
    resolved = store.resolve_alert(alert_id, user.username)
    response = RedirectResponse("/alerts", 303)
    if resolved is None:
        flash(request, response, f"alert {alert_id} was not open: nothing changed", "info")
        return response
    audit(request, "resolve_alert", f"alert {alert_id}")
    flash(request, response, f"alert {alert_id} resolved")
    return response


@router.post("/alerts/resume-portal")
def resume(
    request: Request,
    user: Resolver,
    store: AlertStore,
    worklist: Worklist,
    portal: Annotated[str, Form(max_length=32, pattern=r"^[a-z0-9_-]+$")],
) -> Response:
    """The person confirms a held portal's credentials are fixed: its hold released, its waiting
    items due at the next sweep, its alert closed (bots.alerts.resume)."""
    settings = request.app.state.settings
    registry = PortalRegistry.load(settings.path(settings.portals_file))
    if portal not in registry.portals:
        raise HTTPException(400, "no such portal")
    resumed = resume_portal(worklist, store, portal, registry.portals[portal].payer_ids, user.username)
    response = RedirectResponse("/alerts", 303)
    if resumed is None:
        flash(request, response, f"{portal} was not held: nothing changed", "info")
        return response
    audit(request, "resume_portal", portal)
    flash(request, response, f"{portal} resumed: {resumed.items_due} items are due at the next sweep")
    return response
