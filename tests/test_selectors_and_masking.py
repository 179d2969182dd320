"""Selector maps: validation errors name file, line and key; fallbacks are reported as drift.
Evidence masking: masked fields are painted over in screenshots and blanked in snapshots, and
their values masked wherever else a snapshot holds them (tests/test_snapshot_privacy.py sweeps
every portal for them)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from bots.browser.capture import MASKED_TEXT, capture
from bots.browser.pages import load_selector_map, required_keys
from bots.browser.selectors import Resolver, SelectorMap
from bots.claimstatus.login import SharedLogin
from bots.claimstatus.runtime import PortalRuntime
from bots.core.errors import ConfigError
from bots.core.registry import PortalRegistry
from bots.sim.dataset import build_dataset
from tests.conftest import CLAIMS, ROOT, SEED, run_async, shared_browser

GOOD = (ROOT / "selectors/bluestem.yaml").read_text()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "portal.yaml"
    path.write_text(text)
    return path


REGISTRY = PortalRegistry.load(ROOT / "config/portals.yaml")
REQUIRED_KEYS = required_keys(REGISTRY.portals["bluestem"])


def test_shipped_maps_are_valid_and_complete() -> None:
    for key, entry in REGISTRY.portals.items():
        smap = load_selector_map(ROOT / entry.selector_map, entry)
        needed = required_keys(entry, smap)
        assert smap.portal == key and set(needed) <= set(smap.elements)
        # Every table a portal shows is read with its rows and key cells.
        assert "detail.line_row" in needed or entry.shape == "batch"


def test_selectors_folder_is_data_only() -> None:
    # A selectors/__init__.py would shadow the standard library module and break asyncio.
    assert not list((ROOT / "selectors").glob("*.py"))


@pytest.mark.parametrize(
    ("mutation", "line_of", "key", "problem"),
    [
        (
            (
                'candidates: [{label: Password}, {css: "input[type=password]"}]',
                'candidates: [{label: Password, css: "#pw"}, {css: "input[type=password]"}]',
            ),
            "{label: Password, css",
            "elements.login.password.candidates.0",
            "exactly one of",
        ),
        (("    within: results.table\n", "    within: results.tabel\n"), None, "(top level)", "unknown element"),
        (("  login.submit:\n", "  login.submitt:\n"), "elements:", "elements.login.submit", "missing or absent"),
        (
            ("  mfa.code:\n    candidates:", "  mfa.code:\n    candidate:"),
            "    candidate:",
            "elements.mfa.code.candidate",
            "unknown key 'candidate' (did you mean 'candidates'?)",
        ),
        (("portal: bluestem", "portal: [bluestem"), "elements:", "(syntax)", ""),
    ],
)
def test_bad_map_fails_naming_file_line_and_key(tmp_path, mutation, line_of, key, problem) -> None:
    old, new = mutation
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    path = write(tmp_path, text)
    line = (
        None
        if line_of is None
        else 1
        + next(
            i for i, text_line in enumerate(text.splitlines()) if text_line.startswith(line_of) or line_of in text_line
        )
    )
    with pytest.raises(ConfigError) as err:
        SelectorMap.load(path, REQUIRED_KEYS)
    assert err.value.file == str(path) and err.value.key == key
    if line is not None:
        assert err.value.line == line
    assert problem in err.value.problem
    assert str(path) in str(err.value)


def test_fallback_candidate_is_logged_as_drift_once() -> None:
    smap = SelectorMap.model_validate(
        {
            "portal": "t",
            "elements": {
                "detail.status": {"candidates": [{"label": "Claim status"}, {"css": "#status"}]},
                "detail.paid": {"candidates": [{"label": "Paid"}]},
            },
        }
    )

    async def scenario() -> tuple[str, str, dict[str, int]]:
        context = await (await shared_browser()).new_context()
        try:
            page = await context.new_page()
            # The portal renamed the label: only the CSS fallback still matches.
            await page.set_content(
                "<dl><dt id=l>Status now</dt><dd id=status aria-labelledby=l>Paid</dd>"
                "<label>Paid <input value=1></label></dl>"
            )
            resolver = Resolver(smap)
            first = await resolver.text(page, "detail.status")
            second = await resolver.text(page, "detail.status")
            return first, second, resolver.drift
        finally:
            await context.close()

    with capture_logs() as logs:
        first, second, drift = run_async(scenario())
    assert first == second == "Paid"
    assert drift == {"detail.status": 1}
    drift_logs = [e for e in logs if e["event"] == "selector drift"]
    assert len(drift_logs) == 1 and drift_logs[0]["element"] == "detail.status"


def test_masked_fields_are_painted_over_and_blanked(settings, portal, dataset) -> None:
    claim = next(c for c in dataset.claims if c.status_text == "Paid")
    settings.browser.screenshot_format = "png"  # exact colours for the pixel check

    async def scenario() -> tuple[bytes, bytes, dict[str, float], list[int], list[int]]:
        runtime = PortalRuntime.load(settings, "bluestem", portal.url)
        resolver = Resolver(runtime.selectors)
        context = await (await shared_browser()).new_context(viewport={"width": 1100, "height": 900})
        try:
            await SharedLogin(runtime, settings).refresh(context, resolver, 0)
            page = await context.new_page()
            await page.goto(f"{portal.url}/claims/{claim.claim_key}")
            image, _, html = await capture(page, resolver, settings.browser)
            box = await page.get_by_label("Patient name").bounding_box()
            status_box = await page.get_by_label("Claim status").bounding_box()
            viewer = await context.new_page()
            await viewer.set_content(f'<img id=i src="data:image/png;base64,{base64.b64encode(image).decode()}">')
            # The pixels of a row of the screenshot, [x, x + width) at height y: RGBA each.
            probe = """([x, y, width]) => { const i = document.getElementById('i');
                const c = document.createElement('canvas'); c.width = i.naturalWidth; c.height = i.naturalHeight;
                const g = c.getContext('2d'); g.drawImage(i, 0, 0);
                const d = Array.from(g.getImageData(x, y, width, 1).data);
                return Array.from({length: width}, (_, n) => d.slice(4 * n, 4 * n + 4)); }"""
            masked = (await viewer.evaluate(probe, [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, 1]))[0]
            status = await viewer.evaluate(
                probe, [status_box["x"], status_box["y"] + status_box["height"] / 2, int(status_box["width"])]
            )
            return image, html, box, masked, status
        finally:
            await context.close()

    image, html, box, masked, status = run_async(scenario())
    assert masked[:3] == [0x20, 0x20, 0x20]  # the mask colour, not the name's text or background
    assert any(px[:3] != [0x20, 0x20, 0x20] and px[:3] != [255, 255, 255] for px in status)  # legible text
    text = html.decode()
    for secret in (claim.patient_name, claim.member_id, claim.patient_dob.strftime("%m/%d/%Y")):
        assert secret not in text
    assert text.count(MASKED_TEXT) == 3
    assert claim.claim_number in text and claim.status_text in text
    assert "data-rcmbot-mask" not in text


# A portal page whose masked values (name, member ID, date of birth) are also elsewhere: in links,
# attributes, an input, a script, a comment, a template, upper-cased, "Last, First", URL-encoded.
# The member searched by (BSM999999999) is in the page's address and its pager, on no element.
LEAKY_PAGE = """<!doctype html><html><head><title>Claim 2026123456789</title>
<style>/* avery thornbury */</style>
<script>const state = {"member": "BSM123456789", "dob": "02 Mar 1975", "who": "Avery%20Thornbury"};</script>
</head><body data-patient="THORNBURY, Avery">
<!-- patient Avery Thornbury, BSM123456789 -->
<dl>
  <dt>Claim</dt><dd id=claim>2026123456789</dd>
  <dt>Patient</dt><dd id=name title="Avery Thornbury">Avery   Thornbury</dd>
  <dt>Member</dt><dd id=member data-value="BSM123456789">BSM123456789</dd>
  <dt>Born</dt><dd id=dob>02 Mar 1975</dd>
  <dt>Initials</dt><dd id=initials>AT</dd>
  <dt>Service</dt><dd id=dos>04 Mar 2026</dd>
</dl>
<p id=status>Paid at Averyville Clinic, initials AT</p>
<form><input name=member value="BSM123456789"><select name=m><option value="bsm123456789">mine</option></select>
<input id=searched name=searched value="BSM999999999"></form>
<a id=who href="/people?name=Avery+Thornbury&amp;dob=02%20Mar%201975&amp;born=1975-03-02">x</a>
<a id=pager href="/claims?claim=2026123456789&amp;member=BSM999999999&amp;page=2" rel=next>Next</a>
<a id=requests href="/requests?claim=2026123456789">Requests</a>
<template><p>Avery Thornbury</p></template>
</body></html>"""


def test_masked_values_are_masked_everywhere_in_the_snapshot_and_nothing_else(settings) -> None:
    smap = SelectorMap.model_validate(
        {
            "portal": "t",
            "elements": {
                "detail.patient_name": {"candidates": [{"css": "#name"}]},
                "detail.member_id": {"candidates": [{"css": "#member"}]},
                "detail.patient_dob": {"candidates": [{"css": "#dob"}]},
                "detail.initials": {"candidates": [{"css": "#initials"}]},
            },
            "mask": ["detail.patient_name", "detail.member_id", "detail.patient_dob", "detail.initials"],
        }
    )

    async def scenario() -> tuple[str, list[str]]:
        context = await (await shared_browser()).new_context()
        try:
            page = await context.new_page()
            await page.route(
                "http://portal.test/**", lambda route: route.fulfill(body=LEAKY_PAGE, content_type="text/html")
            )
            await page.goto("http://portal.test/claims?claim=2026123456789&member=BSM999999999&from=2026-02-01")
            _, _, html = await capture(page, Resolver(smap), settings.browser)
            marks = await page.evaluate("() => document.querySelectorAll('[data-rcmbot-mask]').length")
            live = await page.evaluate("() => document.getElementById('pager').getAttribute('href')")
            return html.decode(), [str(marks), live]
        finally:
            await context.close()

    text, live = run_async(scenario())
    for secret in ("thornbury", "bsm123456789", "1975", "bsm999999999"):
        assert secret not in text.lower(), secret
    assert not re.search(r"\bavery\b", text, re.I)
    # The words of a name are masked as whole words; words of other values (a date) are not.
    assert "Paid at Averyville Clinic" in text and "04 Mar 2026" in text
    # Values shorter than 3 characters are not masked elsewhere (the element itself still is).
    assert "initials AT</p>" in text and ">AT</dd>" not in text
    # The claim number searched for is shown, so it stays, in text and links; the member searched
    # for is shown nowhere, so it goes from the links and the input repeating it.
    assert text.count("2026123456789") == 4
    assert f'href="/claims?claim=2026123456789&amp;member={MASKED_TEXT}&amp;page=2"' in text
    assert f'<input id="searched" name="searched" value="{MASKED_TEXT}">' in text
    assert f'data-patient="{MASKED_TEXT}, {MASKED_TEXT}"' in text and f'title="{MASKED_TEXT}"' in text
    # The page itself is left as it was.
    assert live == ["0", "/claims?claim=2026123456789&member=BSM999999999&page=2"]


# portal: (payer, the masked element of the member ID typed, its input's name)
SEARCH_FORMS = {
    "bluestem": ("BSTM1", "search.member_id", "member_id"),
    "juniper": ("JNPR1", "search.member_id", "member"),
    "harbor": ("MDWST", "batch.member_id", "member_id_1"),
}


@pytest.mark.parametrize("key", list(SEARCH_FORMS))
def test_a_refused_search_shown_again_keeps_no_member_id(key, settings, fleet, monkeypatch) -> None:
    """A portal shows a refused search again with what was typed: the member ID in its input is
    painted over in the screenshot and gone from the snapshot (the selector maps mask the search
    form's member ID too; Juniper's also repeats it from the page's address)."""
    for name, value in fleet.env.items():
        monkeypatch.setenv(name, value)
    settings.sweep.mailbox_poll_s = 0.2
    url, (payer, masked, field_name) = fleet.urls[key], SEARCH_FORMS[key]
    member = build_dataset(SEED, CLAIMS, payer).worklist[0].member_id

    async def scenario() -> tuple[str, list[str]]:
        runtime = PortalRuntime.load(settings, key, url)
        resolver = Resolver(runtime.selectors)
        context = await (await shared_browser()).new_context()
        try:
            await SharedLogin(runtime, settings).refresh(context, resolver, 0)
            page = await context.new_page()
            if key == "juniper":  # the app's search address: refused without dates
                await page.goto(f"{url}/app/claims?claim=&member={member}&from=&to=")
            else:  # the form, posted: the page's address does not hold the search
                await page.goto(f"{url}{'/search' if key == 'bluestem' else '/inquiry'}")
                if key == "harbor":
                    await page.get_by_label("Payer", exact=True).select_option(payer)
                await page.locator(f"input[name={field_name}]").fill(member)  # no dates: refused
                await page.locator("form button").click()
            await page.get_by_role("alert").wait_for()
            assert await (await resolver.get(page, masked)).input_value() == member
            painted = [
                mark
                for locator in await resolver.mask_locators(page)
                for mark in await locator.evaluate_all("els => els.map(e => e.name)")
            ]
            return (await capture(page, resolver, settings.browser))[2].decode(), painted
        finally:
            await context.close()

    text, painted = run_async(scenario())
    assert f'name="{field_name}"' in text and member.lower() not in text.lower()
    assert field_name in painted
