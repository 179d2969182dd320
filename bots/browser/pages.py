"""Page objects for the claim-status portal shape: login, MFA, terms, search, results, detail.
They speak only in selector-map keys; the map decides how each element is found."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from playwright.async_api import Locator, Page

from bots.browser.selectors import Resolver
from bots.core.errors import ApplicationError
from bots.core.models import Adjustment, ClaimDetail, ResultRow, ServiceLine
from bots.core.money import parse_cents

# Screen -> element keys whose presence identifies it, in the order screens are told apart.
SCREENS: dict[str, tuple[str, ...]] = {
    "unavailable": ("page.unavailable",),
    "login": ("login.username",),
    "mfa": ("mfa.code",),
    "terms": ("terms.agree",),
    "detail": ("detail.heading",),
    "results": ("results.table", "results.empty"),
    "search": ("search.submit",),
}

# Every element the shape needs; a selector map without one fails at load.
REQUIRED_KEYS = (
    "login.username", "login.password", "login.submit", "mfa.code", "mfa.submit", "terms.agree",
    "terms.continue", "search.claim_number", "search.member_id", "search.dos_from",
    "search.dos_to", "search.submit", "results.table", "results.empty", "results.row",
    "results.claim_number", "results.open", "results.account_number", "results.dos_from",
    "results.dos_to", "results.billed", "results.status", "detail.heading", "detail.claim_number",
    "detail.account_number", "detail.dos_from", "detail.dos_to", "detail.status_text",
    "detail.status_date", "detail.billed", "detail.lines", "detail.line_row", "line.line_no",
    "line.procedure_code", "line.modifiers", "line.diagnosis_pointers", "line.units",
    "line.billed", "line.paid", "page.unavailable", "nav.new_search",
)


@dataclass
class PortalPage:
    """One browser page working one portal."""

    page: Page
    resolver: Resolver
    date_format: str
    timeout_ms: float

    # -- screens ------------------------------------------------------------------------------
    async def screen(self) -> str:
        """Wait for a known screen and say which it is."""
        keys = [k for keys in SCREENS.values() for k in keys]
        try:
            await self.resolver.any_of(self.page, keys).wait_for(timeout=self.timeout_ms)
        except Exception as exc:
            raise ApplicationError(f"no known screen appeared at {self.page.url}") from exc
        for name, markers in SCREENS.items():
            for key in markers:
                if await self.resolver.find(self.page, key) is not None:
                    return name
        raise ApplicationError("screen vanished while being identified")

    async def submit(self, button_key: str) -> str:
        """Click a button that loads a new page; return the screen it leads to."""
        button = await self.resolver.get(self.page, button_key)
        async with self.page.expect_navigation(wait_until="domcontentloaded", timeout=self.timeout_ms):
            await button.click()
        return await self.screen()

    async def fill(self, key: str, value: str) -> None:
        await (await self.resolver.get(self.page, key)).fill(value)

    # -- values -------------------------------------------------------------------------------
    def _date(self, text: str | None) -> dt.date | None:
        return dt.datetime.strptime(text, self.date_format).date() if text else None

    @staticmethod
    def _cents(text: str | None) -> int | None:
        return parse_cents(text) if text else None

    async def _text(self, scope: Page | Locator, key: str) -> str | None:
        return await self.resolver.text(scope, key) or None

    async def rows(self, table: Locator, key: str) -> list[Locator]:
        """Every match of a repeated element (table rows) inside `table`."""
        found = await self.resolver.find(table, key)
        return await found.all() if found is not None else []

    # -- results ------------------------------------------------------------------------------
    async def result_rows(self) -> list[tuple[ResultRow, str]]:
        """Rows of the current results page with the link that opens each claim."""
        out = []
        for row in await self.rows(await self.resolver.get(self.page, "results.table"), "results.row"):
            t = {k: await self._text(row, f"results.{k}") or "" for k in
                 ("claim_number", "account_number", "dos_from", "dos_to", "billed", "status")}
            href = await (await self.resolver.get(row, "results.open")).get_attribute("href")
            out.append((ResultRow(
                claim_number=t["claim_number"], account_number=t["account_number"],
                dos_from=self._date(t["dos_from"]), dos_to=self._date(t["dos_to"]),
                billed_cents=self._cents(t["billed"]), status_text=t["status"],
            ), href or ""))
        return out

    # -- detail -------------------------------------------------------------------------------
    async def claim_detail(self) -> ClaimDetail:
        p, t = self.page, self._text
        lines = []
        for row in await self.rows(await self.resolver.get(p, "detail.lines"), "detail.line_row"):
            mods = await t(row, "line.modifiers") or ""
            lines.append(ServiceLine(
                line_no=int(await t(row, "line.line_no") or 0),
                procedure_code=await t(row, "line.procedure_code") or "",
                modifiers=[m.strip() for m in mods.split(",") if m.strip()],
                diagnosis_pointers=await t(row, "line.diagnosis_pointers") or "",
                units=int(await t(row, "line.units") or 1),
                billed_cents=self._cents(await t(row, "line.billed")) or 0,
                paid_cents=self._cents(await t(row, "line.paid")) or 0,
            ))
        adjustments = []
        adj_table = await self.resolver.find(p, "detail.adjustments")
        if adj_table is not None:
            for row in await self.rows(adj_table.first, "detail.adjustment_row"):
                line_no = await t(row, "adjustment.line_no")
                adjustments.append(Adjustment(
                    line_no=int(line_no) if line_no else None,
                    group_code=await t(row, "adjustment.group_code") or "",
                    carc=await t(row, "adjustment.carc") or "",
                    carc_description=await t(row, "adjustment.carc_description") or "",
                    rarc=await t(row, "adjustment.rarc"),
                    rarc_description=await t(row, "adjustment.rarc_description"),
                    amount_cents=self._cents(await t(row, "adjustment.amount")) or 0,
                ))
        return ClaimDetail(
            payer_claim_number=await t(p, "detail.claim_number") or "",
            account_number=await t(p, "detail.account_number") or "",
            dos_from=self._date(await t(p, "detail.dos_from")),
            dos_to=self._date(await t(p, "detail.dos_to")),
            status_text=await t(p, "detail.status_text") or "",
            status_date=self._date(await t(p, "detail.status_date")),
            billed_cents=self._cents(await t(p, "detail.billed")) or 0,
            allowed_cents=self._cents(await t(p, "detail.allowed")),
            paid_cents=self._cents(await t(p, "detail.paid")),
            patient_resp_cents=self._cents(await t(p, "detail.patient_resp")),
            check_number=await t(p, "detail.check_number"),
            check_date=self._date(await t(p, "detail.check_date")),
            lines=lines, adjustments=adjustments,
        )
