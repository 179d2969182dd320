"""Reading a portal by data: element patterns and attributes, elements a portal does not have,
`match_on`, where sign-in is, and what a screen that cannot be read or recognised leaves behind
(a plain reason naming the element and the page, and a snapshot)."""

from __future__ import annotations

import datetime as dt
import gc
import json
import warnings
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from structlog.testing import capture_logs

from bots.browser.pages import PortalPage, load_selector_map
from bots.browser.selectors import Element, Resolver, SelectorMap, SelectorNotFoundError, UnreadableError
from bots.claimstatus.hooks import bot_class
from bots.core.errors import ConfigError
from bots.core.models import ItemRef, ResultRow
from bots.core.registry import PortalEntry, PortalRegistry
from bots.evidence import evidence_store
from bots.sim.dataset import build_dataset
from bots.sweep.checks import broken_portals
from bots.sweep.runner import Sweep, SweepDeps
from tests.conftest import (
    CLAIMS,
    ROOT,
    SEED,
    check_selectors_shared,
    run_async,
    run_sweep,
    seed_worklist,
    shared_browser,
)
from tests.test_onboarding import onboard

ITEM = ItemRef(
    id=1,
    payer_id="SGBR1",
    account_number="PA1",
    member_id="M1",
    dos_from=dt.date(2026, 8, 17),
    dos_to=dt.date(2026, 8, 18),
    billed_cents=11500,
)


def test_element_settings_are_checked_when_the_map_loads() -> None:
    assert Element(pattern=r"Claim (?P<value>\d+)", candidates=[{"css": "p"}]).value("Claim 42 · x") == "42"
    assert Element(pattern=r"Claim (?P<value>\d+)", candidates=[{"css": "p"}]).value("Account 42") is None
    for bad, problem in (
        ({"pattern": r"Claim (\d+)", "candidates": [{"css": "p"}]}, "group named value"),
        ({"pattern": r"Claim (?P<value>\d+", "candidates": [{"css": "p"}]}, "not a regular expression"),
        ({"absent": True, "candidates": [{"css": "p"}]}, "absent element takes no other setting"),
        ({}, "give candidates, or absent: true"),
    ):
        with pytest.raises(ValidationError, match=problem):
            Element.model_validate(bad)
    with pytest.raises(ValidationError, match="which is absent"):
        SelectorMap.model_validate(
            {
                "portal": "t",
                "elements": {
                    "detail.lines": {"absent": True},
                    "detail.line_row": {"within": "detail.lines", "candidates": [{"css": "tr"}]},
                },
            }
        )


def test_match_on_decides_what_identifies_a_claim_among_results() -> None:
    row = ResultRow(claim_number="9", dos_from=ITEM.dos_from, dos_to=ITEM.dos_to)  # no account, no amount
    assert not row.is_item(ITEM)  # today's rule compares account and amount, which this row lacks
    assert row.is_item(ITEM, ["claim_number", "dos"])
    assert not row.is_item(ITEM.model_copy(update={"payer_claim_number": "8"}), ["claim_number", "dos"])
    assert not ResultRow(claim_number="9").is_item(ITEM, ["claim_number", "dos"])  # nothing to compare
    entry = PortalRegistry.load(ROOT / "config/portals.yaml").portals["bluestem"].model_dump()
    for match_on, problem in ((["claim_number"], "add account_number, dos or billed"), (["dos", "dos"], "twice")):
        with pytest.raises(ValidationError, match=problem):
            PortalEntry.model_validate(entry | {"match_on": match_on})
    with pytest.raises(ValidationError, match="path starting with /"):
        PortalEntry.model_validate(entry | {"login_url": "signin"})


def test_the_elements_a_map_must_have_follow_the_shape_and_match_on(tmp_path) -> None:
    entry = PortalRegistry.load(ROOT / "config/portals.yaml").portals["bluestem"]
    smap = yaml.safe_load((ROOT / "selectors/bluestem.yaml").read_text())
    for key in ("results.billed", "results.account_number", "detail.lines", "detail.line_row"):
        smap["elements"][key] = {"absent": True}
    for key in [k for k in smap["elements"] if k.startswith("line.")]:
        del smap["elements"][key]
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump(smap, sort_keys=False))
    with pytest.raises(ConfigError) as err:  # today's match_on compares account number and amount
        load_selector_map(path, entry)
    assert {(p.key, p.problem) for p in err.value.problems} == {
        ("elements.results.account_number", "missing or absent: the portal needs it"),
        ("elements.results.billed", "missing or absent: the portal needs it"),
    }
    assert load_selector_map(path, entry.model_copy(update={"match_on": ["claim_number", "dos"]})).present(
        "detail.heading"
    )


def test_patterns_and_attributes_read_values_and_a_mismatch_names_the_element_not_the_value() -> None:
    smap = SelectorMap.model_validate(
        {
            "portal": "t",
            "elements": {
                "results.row": {"candidates": [{"css": "article"}]},
                "results.claim_number": {
                    "within": "results.row",
                    "pattern": r"Claim SG-(?P<value>\d+)",
                    "candidates": [{"css": "p"}],
                },
                "results.status": {"within": "results.row", "attribute": "title", "candidates": [{"css": "p"}]},
                "results.billed": {"absent": True},
                "detail.claim_number": {
                    "pattern": r"SG-(?P<value>\d+)",
                    "candidates": [{"css": "dt:text-is('Claim') + dd"}],
                },
            },
        }
    )

    async def scenario() -> tuple[Any, ...]:
        context = await (await shared_browser()).new_context()
        try:
            page = await context.new_page()
            await page.set_content(
                "<article><p title='DN10 Denied'>Claim SG-111 · DOS 04 Jul 2026</p></article>"
                "<article><p title='PD01 Paid'>Claim SG-222 · DOS 05 Jul 2026</p></article>"
                "<dl><dt>Claim</dt><dd>SG-333</dd><dt>Claim note</dt><dd>x</dd></dl>"
            )
            resolver = Resolver(smap)
            rows = await resolver.get_all(page, "results.row")
            read = (
                await resolver.column(rows, "results.claim_number"),
                await resolver.column(rows, "results.status"),
                await resolver.column(rows, "results.billed"),
                await resolver.text(page, "detail.claim_number"),
                await resolver.text(page, "results.billed"),
            )
            await page.set_content("<article><p title=''>Account 4471 · DOS 04 Jul 2026</p></article>")
            with pytest.raises(UnreadableError) as err:
                await resolver.column(await resolver.get_all(page, "results.row"), "results.claim_number")
            return *read, str(err.value)
        finally:
            await context.close()

    claims, statuses, billed, detail, absent, error = run_async(scenario())
    assert (claims, statuses, billed, detail, absent) == (
        ["111", "222"],
        ["DN10 Denied", "PD01 Paid"],
        None,
        "333",
        None,
    )
    assert (
        error
        == "could not read results.claim_number at about:blank: its text does not match the selector map's pattern"
    )
    assert "4471" not in error


def test_a_sign_in_page_away_from_the_root_is_found_by_login_url_and_its_absence_is_told_plainly(
    tmp_path, settings, sagebrush
) -> None:
    settings.browser.navigation_timeout_s = 2  # how long the bot waits for a screen it knows
    settings.portals_file = onboard(tmp_path, "sagebrush", login_url="/")
    registry = yaml.safe_load(settings.portals_file.read_text())
    del registry["portals"]["sagebrush"]["canaries"][1:]
    settings.portals_file.write_text(yaml.safe_dump(registry))
    with capture_logs() as logs:
        report = check_selectors_shared(settings, "sagebrush", sagebrush.url)
    # The home page is no screen the map knows: the canary fails, saying what it saw instead.
    assert not report.passed and [c["outcome"] for c in report.canaries] == ["error"]
    error = report.canaries[0]["error"]
    assert error == (
        "no known screen appeared at / (HTTP 200); the page showed title 'Provider Connect · Sagebrush "
        "Benefit Partners', heading 'Sagebrush Benefit Partners — Provider Connect'"
    )
    # What the page showed may name a patient on a real portal: the item's history says it, the
    # log does not.
    assert all("Provider Connect" not in str(e) for e in logs if e["event"] == "check failed")
    store = evidence_store(settings)
    kept = {r.media_type: r for r in store.records() if r.sha256 in report.canaries[0]["evidence"]}
    assert sorted(kept) == ["image/png", "text/html"]
    assert "Quick sign-in" in store.read(kept["text/html"]).decode()
    # The screens after sign-in were never reached: not reported as broken, nor as not shown.
    assert report.elements["search.submit"]["status"] == "not reached"
    assert "failed canaries (1)" in broken_portals(settings, ["sagebrush"])["sagebrush"]  # the sweep waits


def test_an_unreadable_screen_is_an_error_naming_element_and_page_with_its_snapshot_kept(
    tmp_path, settings, sagebrush
) -> None:
    settings.portals_file = onboard(tmp_path, "sagebrush", date_format="%m/%d/%Y")  # the portal writes 04 Jul 2026
    rows = build_dataset(SEED, CLAIMS, "SGBR1").worklist
    seed_worklist(settings, [next(r for r in rows if r.payer_claim_number == "2026844286091")])
    sweep = Sweep(SweepDeps.load(settings), base_urls={"sagebrush": sagebrush.url})
    summary = run_sweep(sweep, sweep.due(), 1)
    assert summary.errors == 1
    item = sweep.store.items()[0]
    last = sweep.store.history(item.id)[-1]
    assert last.error.startswith("could not read detail.dos_from at /claims/view/")
    assert last.error.endswith(": its text is not a date like %m/%d/%Y") and "Jul" not in last.error
    kept = json.loads(last.evidence)
    records = {r.sha256: r for r in sweep.evidence.records()}
    # the screen it could not read, and a trace of the tries (sign-in excluded)
    assert sorted(records[h].media_type for h in kept) == ["application/zip", "image/png", "text/html"]
    snapshot = next(records[h] for h in kept if records[h].media_type == "text/html")
    assert "Claim summary" in sweep.evidence.read(snapshot).decode()


def test_map_mistakes_that_would_pass_silently_are_refused_each_with_its_line(tmp_path) -> None:
    entry = PortalRegistry.load(ROOT / "config/portals.yaml").portals["bluestem"]
    text = (ROOT / "selectors/bluestem.yaml").read_text()
    text = text.replace("  detail.paid:\n", "  detail.payed:\n").replace(
        "    within: results.table\n", "    within: results.open\n"
    )
    path = tmp_path / "map.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:  # a row inside its own link: a circle
        load_selector_map(path, entry)
    assert "results.row: within goes round in a circle (results.row -> results.open -> results.row)" in str(err.value)
    path.write_text(text.replace("    within: results.open\n", "    within: results.table\n", 1))
    with pytest.raises(ConfigError) as err:  # nothing reads detail.payed: the sweep would never see what is paid
        load_selector_map(path, entry)
    (problem,) = err.value.problems
    lines = path.read_text().splitlines()
    assert (problem.line, problem.key) == (lines.index("  detail.payed:") + 1, "elements.detail.payed")
    assert problem.problem.startswith("no such element (did you mean 'detail.paid'?)")
    path.write_bytes(b"portal: caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_selector_map(path, entry)


def test_portal_keys_are_plain_words_and_a_hook_that_fails_on_import_is_named(tmp_path, monkeypatch) -> None:
    registry = yaml.safe_load((ROOT / "config/portals.yaml").read_text())
    registry["portals"][".."] = registry["portals"].pop("bluestem")  # would name a directory outside the state
    (tmp_path / "portals.yaml").write_text(yaml.safe_dump(registry))
    with pytest.raises(ConfigError) as err:
        PortalRegistry.load(tmp_path / "portals.yaml")
    assert err.value.key == "portals..." and err.value.problem.startswith("the key itself: String should match pattern")

    (tmp_path / "broken_hook.py").write_text("raise RuntimeError('no licence file')\n")
    entry = (
        PortalRegistry.load(ROOT / "config/portals.yaml")
        .portals["juniper"]
        .model_copy(update={"bot": "broken_hook:Bot"})
    )
    with pytest.raises(ConfigError) as err:
        bot_class("juniper", entry, ROOT / "config/portals.yaml", tmp_path)
    assert err.value.problem == "cannot load broken_hook:Bot: importing it raised RuntimeError: no licence file"


SCREEN_PAGES = {
    "results": "<main><table class=grid aria-label='Claim search results'><tr><td>1</td></tr></table></main>",
    "detail": "<main><h1>Claim detail</h1><table class=grid aria-label='Service lines'></table></main>",
    "results and detail (a single-page app)": "<h1>Claim detail</h1><table aria-label='Claim search results'></table>",
    "results, drifted (only the CSS fallback matches)": "<main><table class=grid aria-label='Results'></table></main>",
    "login": "<form><label for=u>User ID</label><input id=u><label for=p>Password</label><input id=p></form>",
    "search": "<form action='/search'><button>Search</button></form>",
}
HINTS = [("results",), ("detail",), ("detail", "results", "search"), ("search",), ("inquiry",)]


@pytest.mark.parametrize("shown", list(SCREEN_PAGES))
def test_a_hinted_screen_is_the_one_asking_every_marker_finds(shown) -> None:
    smap = SelectorMap.load(ROOT / "selectors/bluestem.yaml")

    async def scenario() -> list[tuple[str, dict[str, int]]]:
        context = await (await shared_browser()).new_context()
        try:
            page = await context.new_page()
            await page.set_content(SCREEN_PAGES[shown])
            answers = []
            for hint in [(), *HINTS]:
                resolver = Resolver(smap)
                answers.append((await PortalPage(page, resolver, "%m/%d/%Y", 2000).screen(likely=hint), resolver.drift))
            return answers
        finally:
            await context.close()

    (full, *hinted) = run_async(scenario())
    assert all(answer == full for answer in hinted), (full, hinted)


def test_a_detail_missing_a_required_table_fails_plainly_with_no_stray_warning() -> None:
    smap = SelectorMap.load(ROOT / "selectors/bluestem.yaml")

    async def scenario() -> str:
        context = await (await shared_browser()).new_context()
        try:
            page = await context.new_page()
            await page.set_content("<h1>Claim detail</h1><p id=status-text>Paid</p>")  # no service lines
            with pytest.raises(SelectorNotFoundError) as err:
                await PortalPage(page, Resolver(smap), "%m/%d/%Y", 2000).claim_detail()
            return str(err.value)
        finally:
            await context.close()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        error = run_async(scenario())
        gc.collect()
    assert error == "bluestem: no candidate of detail.lines matched at about:blank"
    assert not [w for w in caught if "never awaited" in str(w.message)], [str(w.message) for w in caught]


TABLE_MAP = {
    "portal": "t",
    "elements": {
        "results.table": {"candidates": [{"css": "table"}]},
        "results.row": {"within": "results.table", "candidates": [{"css": "tbody tr"}]},
        "results.claim_number": {"within": "results.row", "candidates": [{"css": "td.c"}]},
        "results.billed": {"within": "results.row", "candidates": [{"css": "td.b"}, {"css": "td.b2"}]},
        "results.status": {"within": "results.row", "optional": True, "candidates": [{"css": "td.s"}]},
        "results.open": {"within": "results.row", "optional": True, "candidates": [{"role": "link"}]},
        "results.account_number": {"absent": True},
    },
}
TABLE_COLUMNS = [(f"results.{n}", None) for n in ("claim_number", "billed", "status", "account_number")]
ROW = "<tr><td class=c>{0}</td><td class={1}>${0}.00</td><td>{2}</td></tr>"


@pytest.mark.parametrize(
    ("cell", "shadowed"),
    [
        ("td.c", False),
        ("td.c:visible", False),  # Playwright's own CSS: the table is read by locators
        ("td.c, span.c", True),  # a cell in a shadow root, which only Playwright's CSS sees into
    ],
)
def test_a_table_is_read_row_by_row_by_candidate_priority_whichever_way_its_selectors_are_asked(cell, shadowed) -> None:
    """One browser call reads a table whose rows and cells plain CSS finds, locators read any
    other; both give what reading each row's cells in candidate order gives."""
    smap = SelectorMap.model_validate(
        TABLE_MAP | {"elements": TABLE_MAP["elements"] | {"results.claim_number": {"candidates": [{"css": cell}]}}}
    )
    links = ["<a href='/c/1'>open</a>", "<a href='/c/2'>open</a>", ""]
    rows = "".join(ROW.format(n, "b2" if n == 2 else "b", link) for n, link in zip((1, 2, 3), links, strict=True))

    async def scenario() -> tuple[Any, ...]:
        context = await (await shared_browser()).new_context()
        try:
            page = await context.new_page()
            await page.set_content(f"<table><tbody>{rows}</tbody></table>")
            if shadowed:
                await page.evaluate(
                    "() => { const td = document.querySelector('td.c'); td.className = '';"
                    " const host = document.createElement('x-cell'); td.replaceChildren(host);"
                    " host.attachShadow({mode: 'open'}).innerHTML = '<span class=c>1</span>'; }"
                )
            resolver = Resolver(smap)
            read = await resolver.rows(page.locator("table"), "results.row", [*TABLE_COLUMNS, ("results.open", "href")])
            await page.set_content(f"<table><tbody>{ROW.format(4, 'b', '')}<tr><td>no cells</td></tr></tbody></table>")
            with pytest.raises(SelectorNotFoundError) as err:
                await resolver.rows(page.locator("table"), "results.row", TABLE_COLUMNS)
            empty = await resolver.rows(page.locator("table"), "results.nothing", TABLE_COLUMNS)
            return read, resolver.drift, str(err.value), empty
        finally:
            await context.close()

    smap.elements["results.nothing"] = Element(within="results.table", candidates=[{"css": "tfoot tr"}])
    read, drift, error, empty = run_async(scenario())
    assert read == [
        ["1", "$1.00", None, None, "/c/1"],
        ["2", "$2.00", None, None, "/c/2"],
        ["3", "$3.00", None, None, None],
    ]
    assert drift == {"results.billed": 1}  # the second row's amount only by the fallback
    assert error == "t: no candidate of results.claim_number matched at about:blank"
    assert empty == []


def test_a_cell_selector_reaches_no_higher_than_its_row_and_several_tables_are_read_whole() -> None:
    """As Playwright's CSS, not the DOM's: "tbody td.note" inside a row finds nothing (the tbody is
    above the row), so the fallback reads the row; a locator matching two tables reads both."""
    smap = SelectorMap.model_validate(
        {
            "portal": "t",
            "elements": {
                "results.row": {"candidates": [{"css": "tr"}]},
                "results.status": {"within": "results.row", "candidates": [{"css": "tbody td.note"}, {"css": "td"}]},
            },
        }
    )
    table = "<table><tbody><tr><td>{0}</td><td class=note>note {0}</td></tr></tbody></table>"

    async def scenario() -> tuple[Any, ...]:
        context = await (await shared_browser()).new_context()
        try:
            page = await context.new_page()
            await page.set_content(table.format("A") + table.format("B"))
            resolver = Resolver(smap)
            columns = [("results.status", None)]
            return (
                await resolver.rows(page.locator("table").first, "results.row", columns),
                await resolver.rows(page.locator("table"), "results.row", columns),
                resolver.drift,
            )
        finally:
            await context.close()

    one, both, drift = run_async(scenario())
    assert (one, both, drift) == ([["A"]], [["A"], ["B"]], {"results.status": 1})
