"""The baselines rcmbot is measured against, written the way one would without a framework:
hard-coded CSS selectors for the simulated Bluestem portal, no selector maps, no retries, no
masking, no worklist, no orchestration. Deliberately imports nothing from rcmbot.

- plain: one browser, one login shared by N pages, the portal's search form per claim;
- naive: a new browser and a new login for every claim.

Both take the same screenshot rcmbot does (the detail page, or the results page when no
single claim matches) with the same image settings, so the comparison is like for like."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import pyotp
from playwright.async_api import Browser, Page, Playwright

DATE = "%m/%d/%Y"
WINDOW = dt.timedelta(days=30)


@dataclass
class Job:
    base_url: str
    username: str
    password: str
    totp_secret: str
    items: list[dict[str, Any]]  # claim_number or member_id, account_number, dos_from/to (ISO), billed_cents
    concurrency: int
    executable: str | None
    args: list[str]
    screenshot: dict[str, Any]  # page.screenshot() keyword arguments


@dataclass
class Done:
    outcome: str  # "detail", "not_found" or "ambiguous"
    seconds: float
    evidence_bytes: int


async def login(page: Page, job: Job) -> None:
    await page.goto(job.base_url + "/")
    await page.fill("#username", job.username)
    await page.fill("#password", job.password)
    async with page.expect_navigation():
        await page.click("form[action='/login'] button")
    if await page.locator("#code").count():
        await page.fill("#code", pyotp.TOTP(job.totp_secret).now())
        async with page.expect_navigation():
            await page.click("form[action='/mfa'] button")
    if await page.locator("input[name=agree]").count():
        await page.check("input[name=agree]")
        async with page.expect_navigation():
            await page.click("form[action='/terms'] button")
    await page.wait_for_selector("form[action='/search']")


async def check(page: Page, job: Job, item: dict[str, Any]) -> Done:
    started = time.monotonic()
    await page.goto(job.base_url + "/search")
    if item["claim_number"]:
        await page.fill("#claim_number", item["claim_number"])
    else:
        await page.fill("#member_id", item["member_id"])
        await page.fill("#dos_from", (dt.date.fromisoformat(item["dos_from"]) - WINDOW).strftime(DATE))
        await page.fill("#dos_to", (dt.date.fromisoformat(item["dos_to"]) + WINDOW).strftime(DATE))
    async with page.expect_navigation():
        await page.click("form[action='/search'] button")
    links = []
    while True:
        for row in await page.locator("table.grid tbody tr").all():
            cells = await row.locator("td").all_inner_texts()
            if matches(cells, item):
                links.append(await row.locator("a").get_attribute("href"))
        next_page = page.locator("a[rel=next]")
        if not await next_page.count():
            break
        async with page.expect_navigation():
            await next_page.click()
    outcome = "not_found" if not links else "ambiguous" if len(links) > 1 else "detail"
    if outcome == "detail":
        await page.goto(job.base_url + str(links[0]))
        await page.wait_for_selector("#status-text")
    image = await page.screenshot(**job.screenshot)
    return Done(outcome, time.monotonic() - started, len(image))


def matches(cells: list[str], item: dict[str, Any]) -> bool:
    claim, _patient, account, dos, billed, _status = (c.strip() for c in cells)
    if item["claim_number"]:
        return claim == item["claim_number"]
    start, _, end = dos.partition("–")
    dates = (
        dt.datetime.strptime(start.strip(), DATE).date().isoformat(),
        dt.datetime.strptime(end.strip(), DATE).date().isoformat(),
    )
    cents = round(float(billed.replace("$", "").replace(",", "")) * 100)
    return (account, dates, cents) == (item["account_number"], (item["dos_from"], item["dos_to"]), item["billed_cents"])


async def _launch(pw: Playwright, job: Job) -> Browser:
    return await pw.chromium.launch(executable_path=job.executable, args=job.args)


async def plain(pw: Playwright, job: Job) -> list[Done]:
    browser = await _launch(pw, job)
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    await login(await context.new_page(), job)  # the pages share the context's cookies
    queue = list(job.items)
    done: list[Done] = []

    async def worker() -> None:
        page = await context.new_page()
        while queue:
            done.append(await check(page, job, queue.pop(0)))

    await asyncio.gather(*(worker() for _ in range(job.concurrency)))
    await browser.close()
    return done


async def naive(pw: Playwright, job: Job) -> list[Done]:
    queue = list(job.items)
    done: list[Done] = []

    async def worker() -> None:
        while queue:
            item = queue.pop(0)
            started = time.monotonic()
            browser = await _launch(pw, job)
            page = await browser.new_page(viewport={"width": 1100, "height": 900})
            await login(page, job)
            result = await check(page, job, item)
            await browser.close()
            result.seconds = time.monotonic() - started
            done.append(result)

    await asyncio.gather(*(worker() for _ in range(job.concurrency)))
    return done
