"""The "batch" shape: a clearinghouse inquiry of up to ten claims of one payer at once, answered
with the 277 category and status codes of each claim found.

`check_batch` splits its items into inquiries (one payer, at most the registry's `batch_size`
claims each) and runs each inquiry as one attempt, retried as a whole. Each claim's evidence is
a screenshot of its own answer rows plus the HTML snapshot of the batch page (stored once)."""

from __future__ import annotations

import datetime as dt

from bots.browser.capture import capture_rows
from bots.browser.pages import BATCH_LINE_FIELDS, RESPONSE_FIELDS, PortalPage
from bots.claimstatus.bot import PortalBot, read_result
from bots.core.errors import BusinessError
from bots.core.models import CheckResult, ClaimDetail, ItemRef, Outcome

NOT_FOUND_CATEGORY = "A4"  # 277 "Acknowledgement/Not Found"


class BatchInquiryBot(PortalBot):
    """The "batch" shape: an inquiry form (payer, then one line per claim), answered with one or
    more 277 answer rows per line.

    `check_batch` runs one attempt (`inquire`) per inquiry, retried as a whole. A hook may
    override `inquire` (the whole inquiry) or one of its steps: `inquiry_line`, `read_answers`.
    Steps may call `expect_screen`."""

    async def check_batch(self, items: list[ItemRef]) -> list[CheckResult]:
        """Check the items in as few inquiries as the portal allows (the sweep hands in one
        inquiry's worth: one payer, up to `batch_size` claims): a result for each item, in order;
        never raises for portal trouble (a failed inquiry is an ERROR result for each of its
        claims)."""
        by_position: dict[int, CheckResult] = {}
        for positions in self._inquiries(items):
            answers = await self._retried([items[i] for i in positions], self.inquire)
            by_position |= dict(zip(positions, answers, strict=True))
        return [by_position[i] for i in range(len(items))]

    def _inquiries(self, items: list[ItemRef]) -> list[list[int]]:
        """Positions of the items in each inquiry: grouped by payer, in order, `batch_size` a time."""
        by_payer: dict[str, list[int]] = {}
        for i, item in enumerate(items):
            by_payer.setdefault(item.payer_id, []).append(i)
        size = self.portal.entry.batch_size
        return [group[i : i + size] for group in by_payer.values() for i in range(0, len(group), size)]

    async def inquire(self, pp: PortalPage, items: list[ItemRef]) -> list[CheckResult]:
        """One attempt at one inquiry, on a logged-in page: open an empty inquiry form, choose the
        items' payer, fill a line per item (`inquiry_line`), submit, and read the answers
        (`read_answers`): a result for each item, in order. `items` are of one payer, at most
        `batch_size`. Runs inside `check_batch`'s retries; may raise what any step may."""
        self.expect_screen(await self.open_form(pp, "nav.new_inquiry"), "inquiry")
        await (await self.resolver.get(pp.page, "batch.payer")).select_option(value=items[0].payer_id)
        lines = await self.resolver.get_all(pp.page, "batch.line")
        for n, item in enumerate(items):
            line = lines.nth(n)
            for name, value in self.inquiry_line(item).items():
                if value:
                    await (await self.resolver.get(line, f"batch.{name}")).fill(value)
        screen = await pp.submit("batch.submit", ("responses", "inquiry"))
        if screen == "inquiry":
            raise BusinessError(f"portal rejected the inquiry: {await self.resolver.text(pp.page, 'batch.error')}")
        self.expect_screen(screen, "responses")
        return await self.read_answers(pp, items)

    def inquiry_line(self, item: ItemRef) -> dict[str, str]:
        """The fields of the item's inquiry line, by `batch.<name>` element (claim_number,
        member_id, dos_from, dos_to; "" leaves one empty): by claim number when the worklist has
        it, else by member and service dates widened by the search window."""
        fmt, pad = self.portal.entry.date_format, dt.timedelta(days=self.settings.sweep.search_window_days)
        if item.payer_claim_number:
            return dict.fromkeys(BATCH_LINE_FIELDS, "") | {"claim_number": item.payer_claim_number}
        return {
            "claim_number": "",
            "member_id": item.member_id,
            "dos_from": (item.dos_from - pad).strftime(fmt),
            "dos_to": (item.dos_to + pad).strftime(fmt),
        }

    async def read_answers(self, pp: PortalPage, items: list[ItemRef]) -> list[CheckResult]:
        """Runs on the answers screen: a result for each item of the inquiry, in order, each
        with its evidence (a screenshot of its own answer rows and the page's HTML snapshot).
        Of an item's line's rows, those of claims found that match it decide: none NOT_FOUND,
        several AMBIGUOUS, one its 277 category mapped (STATUS or UNMAPPED)."""
        table = await self.resolver.get(pp.page, "batch.table")
        rows = await pp.table(table, "batch.row", "response", RESPONSE_FIELDS)
        row_locators = await self.resolver.get_all(table, "batch.row")
        # The rows of claims found, parsed once (a not-found row has no dates to parse).
        found = {i: _detail(pp, r) for i, r in enumerate(rows) if r["category_code"] != NOT_FOUND_CATEGORY}
        per_item: list[list[int]] = []
        for n, item in enumerate(items, 1):
            mine = [i for i, r in enumerate(rows) if r["line"] == str(n)]
            same = [i for i in mine if i in found and found[i].as_row().is_item(item, self.portal.entry.match_on)]
            per_item.append(same or mine)
        images, html = await capture_rows(
            pp.page, self.resolver, self.settings.browser, [[row_locators.nth(i) for i in group] for group in per_item]
        )
        results = []
        for item, group, image in zip(items, per_item, images, strict=True):
            evidence = await self.store(item.id, pp.page.url, image, (html, "text/html"))
            results.append(self._result([(rows[i], found[i]) for i in group if i in found], evidence))
        return results

    def _result(self, claims: list[tuple[dict[str, str | None], ClaimDetail]], evidence: list[str]) -> CheckResult:
        """The item's result from the answer rows of the claims found for it."""
        if not claims:
            return CheckResult(outcome=Outcome.NOT_FOUND, evidence=evidence)
        if len(claims) > 1:
            return CheckResult(outcome=Outcome.AMBIGUOUS, matches=len(claims), evidence=evidence)
        row, detail = claims[0]
        return read_result(
            self.portal.statuses.lookup(row["category_code"] or ""), detail, evidence, row["status_code"]
        )


def _detail(pp: PortalPage, row: dict[str, str | None]) -> ClaimDetail:
    return ClaimDetail(
        payer_claim_number=row["claim_number"] or "",
        account_number=row["account_number"],
        dos_from=pp.date(row["dos_from"], "response.dos_from"),
        dos_to=pp.date(row["dos_to"], "response.dos_to"),
        status_text=f"{row['category_code']} {row['category_description']}; "
        f"{row['status_code']} {row['status_description']}",
        status_date=pp.date(row["status_date"], "response.status_date"),
        billed_cents=pp.cents(row["billed"], "response.billed"),
        paid_cents=pp.cents(row["paid"], "response.paid"),
    )
