"""The request bot: submits one approved review decision through a payer portal's
corrected-claim / reconsideration form, exactly once.

Every request carries its task's apply key in the form's "your reference". A try that may have
reached the portal before (an earlier attempt whose outcome was never recorded, or a retry after
trouble mid-submission) first looks for that key on the portal's submitted-requests page, and
only submits when the portal has no such request: the portal's own list decides, not our memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from bots.browser.capture import capture
from bots.browser.pages import PortalPage
from bots.claimstatus.bot import PortalBot
from bots.core.errors import ApplicationError, BusinessError
from bots.core.logs import get_logger, redactor

__all__ = ["PortalRequest", "RequestBot", "Submitted"]

log = get_logger(__name__)
AFTER_SUBMIT = ("request_received", "request")


@dataclass(frozen=True)
class PortalRequest:
    """One approved decision, as a portal's request form takes it."""

    task_id: int
    item_id: int
    apply_key: str  # goes into "your reference": how the request is recognised later
    claim_number: str
    kind: Literal["corrected", "reconsideration"]
    line_no: int
    procedure_code: str | None
    modifiers: tuple[str, ...]
    reason: str
    may_have_landed: bool  # an earlier attempt's outcome is unknown: look before submitting


@dataclass(frozen=True)
class Submitted:
    """The portal's answer: its reference number, or why it refused; evidence either way."""

    reference: str | None
    error: str | None
    evidence: list[str]
    found_earlier: bool = False  # the request was already on the portal's list


class RequestBot(PortalBot):
    """Submits requests on one page of a portal's browser context, sharing its login."""

    async def submit(self, request: PortalRequest) -> Submitted:
        """Submit `request` unless the portal already has it; never raises for portal trouble
        (after the last retry the answer carries the error and a snapshot)."""
        redactor.register([request.claim_number])
        tries = 0

        async def attempt(pp: PortalPage) -> Submitted:
            nonlocal tries
            tries += 1
            if request.may_have_landed or tries > 1:
                earlier = await self.find_submitted(pp, request)
                if earlier is not None:
                    return earlier
            return await self.fill_and_send(pp, request)

        try:
            return await self.with_retries(attempt, request.item_id)
        except (ApplicationError, BusinessError) as exc:
            error = redactor.text(str(exc))
            log.warning("request not submitted", task_id=request.task_id, error=error)
            evidence = await self.store_snapshot(request.item_id, exc)
            return Submitted(reference=None, error=error, evidence=evidence)

    async def find_submitted(self, pp: PortalPage, request: PortalRequest) -> Submitted | None:
        """The portal's record of this request (by its apply key), with the list as evidence; None
        if the portal has none."""
        pages = self.portal.entry.requests
        assert pages is not None
        path = pages.list_page.replace("{claim_number}", quote(request.claim_number, safe=""))
        self.expect_screen(await pp.goto(self.portal.url(path), ("requests",)), "requests")
        table = await self.resolver.get(pp.page, "requests.table")
        rows = await self.resolver.get_all(table, "requests.row")
        for index in range(await rows.count()):
            cells = await self.resolver.texts(rows.nth(index), ("requests.your_reference", "requests.reference"))
            if (cells["requests.your_reference"] or "").strip() == request.apply_key:
                reference = (cells["requests.reference"] or "").strip()
                log.info("request found on the portal; not submitted again", task_id=request.task_id)
                return Submitted(reference, None, await self._evidence(pp, request), found_earlier=True)
        return None

    async def fill_and_send(self, pp: PortalPage, request: PortalRequest) -> Submitted:
        """Open the form, fill it, send it; the portal's reference number, or its refusal (a
        BusinessError: a form the portal refuses is not retried, a person reads why)."""
        pages = self.portal.entry.requests
        assert pages is not None
        nav = await self.resolver.find(pp.page, "nav.new_request") if pp.page.url != "about:blank" else None
        screen = await (
            pp.follow(nav.first, ("request",)) if nav else pp.goto(self.portal.url(pages.form_page), ("request",))
        )
        self.expect_screen(screen, "request")
        await (await self.resolver.get(pp.page, "request.kind")).select_option(request.kind)
        fields = {
            "claim_number": request.claim_number,
            "line": str(request.line_no),
            "procedure_code": request.procedure_code or "",
            "modifiers": ",".join(request.modifiers),
            "reason": request.reason,
            "your_reference": request.apply_key,
        }
        for name, value in fields.items():
            await pp.fill(f"request.{name}", value)
        screen = await pp.submit("request.submit", AFTER_SUBMIT)
        if screen == "request":
            refusal = await self.resolver.text(pp.page, "request.error")
            raise BusinessError(f"the portal refused the request: {refusal or 'the form came back without a reason'}")
        self.expect_screen(screen, "request_received")
        reference = (await self.resolver.text(pp.page, "received.reference") or "").strip()
        if not reference:
            raise ApplicationError("the confirmation shows no reference number")
        return Submitted(reference, None, await self._evidence(pp, request))

    async def _evidence(self, pp: PortalPage, request: PortalRequest) -> list[str]:
        image, media_type, html = await capture(pp.page, self.resolver, self.settings.browser)
        return await self.store(request.item_id, pp.page.url, (image, media_type), (html, "text/html"))
