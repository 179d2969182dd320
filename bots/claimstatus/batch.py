"""The "batch" shape: a clearinghouse inquiry of up to ten claims of one payer at once, answered
with the 277 category and status codes of each claim found.

The sweep hands a bot its next batch (`begin`), then asks for each item's result as usual: the
first ask submits the whole batch, later asks are answered from it. Each claim's evidence is a
screenshot of its own answer rows plus the HTML snapshot of the batch page (stored once)."""

from __future__ import annotations

import datetime as dt

from bots.browser.capture import capture_rows
from bots.browser.pages import BATCH_LINE_FIELDS, RESPONSE_FIELDS, PortalPage
from bots.claimstatus.bot import PortalBot
from bots.core.errors import BusinessError
from bots.core.models import CheckResult, ClaimDetail, ItemRef, Outcome, ResultRow

NOT_FOUND_CATEGORY = "A4"  # 277 "Acknowledgement/Not Found"


class BatchInquiryBot(PortalBot):
    batch: list[ItemRef]
    answers: dict[int, CheckResult]

    async def begin(self, batch: list[ItemRef]) -> None:
        if len({item.payer_id for item in batch}) > 1:
            raise ValueError("a batch inquiry holds claims of one payer")
        self.batch, self.answers = batch, {}

    async def _check_once(self, item: ItemRef) -> CheckResult:
        if item.id not in self.answers:
            await self._inquire()
        return self.answers.pop(item.id)

    async def _inquire(self) -> None:
        pp = await self._page()
        self.used += len(self.batch)
        nav = await self.resolver.find(pp.page, "nav.new_inquiry") if pp.page.url != "about:blank" else None
        screen = await (pp.follow(nav.first) if nav is not None else pp.goto(self.portal.base_url + "/"))
        await self._expect(screen, "inquiry")
        await (await self.resolver.get(pp.page, "batch.payer")).select_option(value=self.batch[0].payer_id)
        lines = await self.resolver.get_all(pp.page, "batch.line")
        for n, item in enumerate(self.batch):
            line = lines.nth(n)
            for name, value in self._line(item).items():
                if value:
                    await (await self.resolver.get(line, f"batch.{name}")).fill(value)
        screen = await pp.submit("batch.submit")
        if screen == "inquiry":
            raise BusinessError(f"portal rejected the inquiry: {await self.resolver.text(pp.page, 'batch.error')}")
        await self._expect(screen, "responses")
        await self._answer(pp)

    def _line(self, item: ItemRef) -> dict[str, str]:
        fmt, pad = self.portal.entry.date_format, dt.timedelta(days=self.settings.sweep.search_window_days)
        if item.payer_claim_number:
            return dict.fromkeys(BATCH_LINE_FIELDS, "") | {"claim_number": item.payer_claim_number}
        return {"claim_number": "", "member_id": item.member_id,
                "dos_from": (item.dos_from - pad).strftime(fmt), "dos_to": (item.dos_to + pad).strftime(fmt)}

    async def _answer(self, pp: PortalPage) -> None:
        """Read the answer rows; record each item's result with its evidence."""
        table = await self.resolver.get(pp.page, "batch.table")
        rows = await pp.table(table, "batch.row", "response", RESPONSE_FIELDS)
        row_locators = await self.resolver.get_all(table, "batch.row")
        # The rows of claims found, parsed once (a not-found row has no dates to parse).
        found = {i: _detail(pp, r) for i, r in enumerate(rows) if r["category_code"] != NOT_FOUND_CATEGORY}
        per_item: list[list[int]] = []
        for n, item in enumerate(self.batch, 1):
            mine = [i for i, r in enumerate(rows) if r["line"] == str(n)]
            same = [i for i in mine if i in found and _as_row(found[i]).is_item(item)]
            per_item.append(same or mine)
        images, html = await capture_rows(pp.page, self.resolver, self.settings.browser,
                                          [[row_locators.nth(i) for i in group] for group in per_item])
        for item, group, image in zip(self.batch, per_item, images, strict=True):
            evidence = await self._store(item, pp.page.url, image, (html, "text/html"))
            claims = [(rows[i], found[i]) for i in group if i in found]
            self.answers[item.id] = self._result(claims, evidence)

    def _result(self, claims: list[tuple[dict[str, str | None], ClaimDetail]], evidence: list[str]) -> CheckResult:
        """The item's result from the answer rows of the claims found for it."""
        if not claims:
            return CheckResult(outcome=Outcome.NOT_FOUND, evidence=evidence)
        if len(claims) > 1:
            return CheckResult(outcome=Outcome.AMBIGUOUS, matches=len(claims), evidence=evidence)
        row, detail = claims[0]
        mapping = self.portal.statuses.lookup(row["category_code"] or "")
        if mapping is None:
            return CheckResult(outcome=Outcome.UNMAPPED, status_text=detail.status_text, detail=detail,
                               evidence=evidence, matches=1)
        return CheckResult(outcome=Outcome.STATUS, category=mapping.category,
                           status_code=row["status_code"] or mapping.code, status_text=detail.status_text,
                           detail=detail, evidence=evidence, matches=1)



def _detail(pp: PortalPage, row: dict[str, str | None]) -> ClaimDetail:
    return ClaimDetail(
        payer_claim_number=row["claim_number"] or "", account_number=row["account_number"] or "",
        dos_from=_date(pp, row["dos_from"]), dos_to=_date(pp, row["dos_to"]),
        status_text=f"{row['category_code']} {row['category_description']}; "
                    f"{row['status_code']} {row['status_description']}",
        status_date=pp.date(row["status_date"]), billed_cents=pp.cents(row["billed"]) or 0,
        paid_cents=pp.cents(row["paid"]))


def _date(pp: PortalPage, text: str | None) -> dt.date:
    """A date every answer row for a claim found has; without it the screen is unreadable."""
    value = pp.date(text)
    if value is None:
        raise ValueError("an answer row without service dates")
    return value


def _as_row(detail: ClaimDetail) -> ResultRow:
    return ResultRow(claim_number=detail.payer_claim_number, account_number=detail.account_number,
                     dos_from=detail.dos_from, dos_to=detail.dos_to, billed_cents=detail.billed_cents,
                     status_text=detail.status_text)
