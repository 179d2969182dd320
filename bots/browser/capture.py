"""Evidence capture: a screenshot and an HTML snapshot of the current page, with every field
the selector map lists for masking (and every password or one-time-code input) hidden."""

from __future__ import annotations

import asyncio
import io
from typing import Any

from PIL import Image, ImageDraw, ImageFont
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page

from bots.browser.selectors import Resolver, Snapshot
from bots.core.settings import BrowserSettings

MARK = "data-rcmbot-mask"
MASKED_TEXT = "[masked]"
CAPTION_PX = 16  # text height of a caption strip above a screenshot
JPEG_CAPTION_QUALITY = 80

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
    return {
        "full_page": True,
        "type": "jpeg" if jpeg else "png",
        "quality": settings.screenshot_quality if jpeg else None,
        "animations": "disabled",
        "caret": "hide",
    }


def to_palette_png(png: bytes, colors: int) -> bytes:
    """Reduce a screenshot to a small palette. Portal screens are flat colours and text, so a
    few dozen colours keep every glyph crisp (unlike JPEG) at about a third of the bytes."""
    with Image.open(io.BytesIO(png)) as image:
        reduced = image.convert("RGB").quantize(colors, method=Image.Quantize.FASTOCTREE)
    out = io.BytesIO()
    reduced.save(out, "PNG", compress_level=6)
    return out.getvalue()


async def snapshot(page: Page, resolver: Resolver, settings: BrowserSettings) -> Snapshot | None:
    """capture() of a page that may be in trouble: None when it cannot be taken (closed, or
    navigating away)."""
    try:
        image, media_type, html = await capture(page, resolver, settings)
    except PlaywrightError:
        return None
    return image, media_type, html, page.url


async def capture(page: Page, resolver: Resolver, settings: BrowserSettings) -> tuple[bytes, str, bytes]:
    """(image bytes, image media type, html bytes) of the page as it is now."""
    masks = await resolver.mask_locators(page)
    html = await _snapshot(page, masks)
    image, media_type = await _screenshot(page, masks, settings)
    return image, media_type, html


def captioned(
    image: bytes, media_type: str, html: bytes, caption: str, palette: int | None = None
) -> tuple[bytes, bytes]:
    """The image with `caption` in a strip above the page, and the HTML with it as a comment
    before the page: what rcmbot did, told beside the portal's own screen, never inside it (a
    not-found screen looks the same whatever was searched)."""
    with Image.open(io.BytesIO(image)) as page:
        font = ImageFont.load_default(size=CAPTION_PX)
        strip = CAPTION_PX * 2
        out = Image.new("RGB", (page.width, page.height + strip), "#fff4c2")
        out.paste(page.convert("RGB"), (0, strip))
        ImageDraw.Draw(out).text((CAPTION_PX // 2, CAPTION_PX // 2), caption, fill="#202020", font=font)
        if palette:  # a png8 screenshot stays one
            out = out.quantize(palette, method=Image.Quantize.FASTOCTREE)
    buffer = io.BytesIO()
    if media_type == "image/jpeg":
        out.save(buffer, "JPEG", quality=JPEG_CAPTION_QUALITY)
    else:
        out.save(buffer, "PNG", compress_level=6)
    comment = f"<!-- {caption.replace('--', '- -')} -->\n".encode()
    return buffer.getvalue(), comment + html


async def capture_rows(
    page: Page, resolver: Resolver, settings: BrowserSettings, rows: list[list[Locator]]
) -> tuple[list[tuple[bytes, str]], bytes]:
    """One image per group of rows (clipped to them) and the HTML of the whole page: a batch
    answer's evidence, where each claim has its own rows on one shared page."""
    masks = await resolver.mask_locators(page)
    html = await _snapshot(page, masks)
    images = []
    for group in rows:
        boxes = [box for box in await asyncio.gather(*(r.bounding_box() for r in group)) if box]
        if not boxes:
            raise ValueError("a result row to capture has no size on the page")
        scroll = await page.evaluate("() => [window.scrollX, window.scrollY]")
        left, top = min(b["x"] for b in boxes), min(b["y"] for b in boxes)
        clip = {
            "x": left + scroll[0],
            "y": top + scroll[1],
            "width": max(b["x"] + b["width"] for b in boxes) - left,
            "height": max(b["y"] + b["height"] for b in boxes) - top,
        }
        images.append(await _screenshot(page, masks, settings, clip))
    return images, html


async def _snapshot(page: Page, masks: list[Locator]) -> bytes:
    for locator in masks:
        await locator.evaluate_all(f"els => els.forEach(e => e.setAttribute('{MARK}', ''))")
    return str(await page.evaluate(_SNAPSHOT_JS)).encode("utf-8")


async def _screenshot(
    page: Page, masks: list[Locator], settings: BrowserSettings, clip: dict[str, float] | None = None
) -> tuple[bytes, str]:
    options = screenshot_options(settings)
    if clip:  # page coordinates, with full_page so rows below the fold are reachable
        options["clip"] = clip
    image = await page.screenshot(mask=[*masks, page.locator(_SECRET_INPUTS)], mask_color="#202020", **options)
    if settings.screenshot_format == "png8":  # off the event loop: ~30 ms of CPU per screen
        image = await asyncio.to_thread(to_palette_png, image, settings.screenshot_colors)
    return image, "image/jpeg" if settings.screenshot_format == "jpeg" else "image/png"
