"""Evidence capture: a screenshot and an HTML snapshot of the current page, with every field
the selector map lists for masking (and every password or one-time-code input) hidden."""

from __future__ import annotations

import asyncio
import io
from typing import Any

from PIL import Image
from playwright.async_api import Page

from bots.browser.selectors import Resolver
from bots.core.settings import BrowserSettings

MARK = "data-rcmbot-mask"
MASKED_TEXT = "[masked]"

# Serialise a clone of the page with marked elements and secret inputs blanked, then unmark.
_SNAPSHOT_JS = f"""() => {{
  const clone = document.documentElement.cloneNode(true);
  clone.querySelectorAll('[{MARK}]').forEach(el => {{
    el.textContent = '{MASKED_TEXT}'; el.removeAttribute('{MARK}');
  }});
  clone.querySelectorAll('input[type=password], input[autocomplete=one-time-code], input[name*=otp i]')
       .forEach(el => el.removeAttribute('value'));
  clone.querySelectorAll('input[{MARK}]').forEach(el => el.removeAttribute('value'));
  document.querySelectorAll('[{MARK}]').forEach(el => el.removeAttribute('{MARK}'));
  return '<!doctype html>\\n' + clone.outerHTML;
}}"""

_SECRET_INPUTS = "input[type=password], input[autocomplete=one-time-code]"


def screenshot_options(settings: BrowserSettings) -> dict[str, Any]:
    """page.screenshot() options for evidence (also used by the benchmark's baselines)."""
    jpeg = settings.screenshot_format == "jpeg"
    return {"full_page": True, "type": "jpeg" if jpeg else "png",
            "quality": settings.screenshot_quality if jpeg else None,
            "animations": "disabled", "caret": "hide"}


def to_palette_png(png: bytes, colors: int) -> bytes:
    """Reduce a screenshot to a small palette. Portal screens are flat colours and text, so a
    few dozen colours keep every glyph crisp (unlike JPEG) at about a third of the bytes."""
    with Image.open(io.BytesIO(png)) as image:
        reduced = image.convert("RGB").quantize(colors, method=Image.Quantize.FASTOCTREE)
    out = io.BytesIO()
    reduced.save(out, "PNG", compress_level=6)
    return out.getvalue()


async def capture(page: Page, screen: str, resolver: Resolver,
                  settings: BrowserSettings) -> tuple[bytes, str, bytes]:
    """(image bytes, image media type, html bytes) of `screen` as it is now."""
    masks = await resolver.mask_locators(page, screen)
    for locator in masks:
        await locator.evaluate_all(f"els => els.forEach(e => e.setAttribute('{MARK}', ''))")
    html = await page.evaluate(_SNAPSHOT_JS)
    masks.append(page.locator(_SECRET_INPUTS))
    image = await page.screenshot(mask=masks, mask_color="#202020", **screenshot_options(settings))
    if settings.screenshot_format == "png8":  # off the event loop: ~20 ms of CPU per screen
        image = await asyncio.to_thread(to_palette_png, image, settings.screenshot_colors)
    media_type = "image/jpeg" if settings.screenshot_format == "jpeg" else "image/png"
    return image, media_type, html.encode("utf-8")
