"""Evidence capture: a screenshot and an HTML snapshot of the current page, with every field
the selector map lists for masking (and every password or one-time-code input) hidden."""

from __future__ import annotations

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


async def capture(page: Page, screen: str, resolver: Resolver,
                  settings: BrowserSettings) -> tuple[bytes, str, bytes]:
    """(image bytes, image media type, html bytes) of `screen` as it is now."""
    masks = await resolver.mask_locators(page, screen)
    for locator in masks:
        await locator.evaluate_all(f"els => els.forEach(e => e.setAttribute('{MARK}', ''))")
    html = await page.evaluate(_SNAPSHOT_JS)
    masks.append(page.locator(_SECRET_INPUTS))
    jpeg = settings.screenshot_format == "jpeg"
    image = await page.screenshot(
        full_page=True, type=settings.screenshot_format,
        quality=settings.screenshot_quality if jpeg else None,
        mask=masks, mask_color="#202020", animations="disabled", caret="hide",
    )
    return image, "image/jpeg" if jpeg else "image/png", html.encode("utf-8")
