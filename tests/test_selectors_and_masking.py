"""Selector maps: validation errors name file, line and key; fallbacks are reported as drift.
Evidence masking: masked fields are painted over in screenshots and blanked in snapshots."""

from __future__ import annotations

import base64
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
from tests.conftest import ROOT, run_async, shared_browser

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
