"""Evidence capture: a screenshot and an HTML snapshot of the current page, with every field
the selector map lists for masking (and every password or one-time-code input) hidden."""

from __future__ import annotations

import asyncio
import functools
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
# Blanking the marked elements is not enough: their values are often elsewhere on the page too
# (a pager link repeating the search, an input's value, a title or data-* attribute, a script, a
# comment; upper-cased, or URL-encoded). So every value a marked element holds (its text, the
# text of each of its parts, its inputs' values) is replaced wherever it occurs in the clone:
# every attribute of every element, every text node (script and style text too) and comment,
# case-insensitively, as shown and URL-encoded (a space also as + or %20); a date also as dates
# are written elsewhere (02 Mar 1975 also as 1975-03-02, 03/02/1975...). The words of a value
# without digits (a name) are replaced too, as whole words, since a portal may also write
# "THORNBURY, Avery"; not the words of other values, or "02 Mar 1975" would mask every "Mar" and
# "1975" of the page. Values and words shorter than 3 characters are left alone (masking every
# "1" would mask the page). One combined RegExp, one walk over the clone: linear in its size.
# A search's value may be on no element of the screen at all (a page of results that does not
# show the member ID searched by) while the page's links repeat it from the page's address: the
# address's query values that the page does not show as text are masked where a link carries
# one as a query value, and in an input's value. Shown ones stay (the claim number searched for
# is evidence), as does visible text.
_SNAPSHOT_JS = r"""([MARK, MASK]) => {
  const MIN = 3, CONTROLS = 'input, textarea, select, option';
  const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September',
                  'October', 'November', 'December'];
  const marked = Array.from(document.querySelectorAll(`[${MARK}]`));
  try {
    // A date (a date of birth) in the other ways pages and links write dates.
    const dateForms = (v) => {
      let y, m, d, hit;
      if ((hit = v.match(/^(\d{4})-(\d{1,2})-(\d{1,2})$/))) [, y, m, d] = hit;
      else if ((hit = v.match(/^(\d{1,2})\/(\d{1,2})\/(\d{4})$/))) [, m, d, y] = hit;
      else if ((hit = v.match(/^(\d{1,2}) ([a-z]{3})[a-z]*\.? (\d{4})$/i))) [, d, m, y] = hit;
      else if ((hit = v.match(/^([a-z]{3})[a-z]*\.? (\d{1,2}),? (\d{4})$/i))) [, m, d, y] = hit;
      else return [];
      const n = /\d/.test(m) ? Number(m) : 1 + MONTHS.findIndex(x => x.slice(0, 3).toLowerCase() === m.toLowerCase());
      const day = Number(d), p2 = x => String(x).padStart(2, '0');
      if (!(n >= 1 && n <= 12 && day >= 1 && day <= 31)) return [];
      const [mon, month] = [MONTHS[n - 1].slice(0, 3), MONTHS[n - 1]];
      return [`${y}-${p2(n)}-${p2(day)}`, `${y}${p2(n)}${p2(day)}`, `${p2(n)}/${p2(day)}/${y}`, `${n}/${day}/${y}`,
              `${p2(day)}/${p2(n)}/${y}`, `${p2(n)}-${p2(day)}-${y}`, `${p2(day)}.${p2(n)}.${y}`,
              `${p2(day)} ${mon} ${y}`, `${day} ${mon} ${y}`, `${day} ${month} ${y}`,
              `${mon} ${day}, ${y}`, `${month} ${day}, ${y}`];
    };
    // What to mask: the values the marked elements hold (a date in its other forms too), and the
    // words of those without digits.
    const values = new Set(), words = new Set();
    const add = (raw) => {
      const value = String(raw ?? '').replace(/\s+/g, ' ').trim();
      if (value.length < MIN) return;
      values.add(value);
      dateForms(value).forEach(form => values.add(form));
      if (!/\d/.test(value)) value.split(/[\s,;]+/).forEach(w => { if (w.length >= MIN) words.add(w); });
    };
    for (const el of marked) {
      add(el.textContent);
      for (const control of [el, ...el.querySelectorAll(CONTROLS)].filter(e => e.matches(CONTROLS))) {
        add(control.value);
        add(control.getAttribute('value'));
      }
      const texts = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
      for (let n = texts.nextNode(); n; n = texts.nextNode()) add(n.data);
    }
    // The page address's query values (a single-page app's route's too) not shown on the page.
    const shown = (document.body?.innerText ?? '').toLowerCase(), query = new Set();
    for (const part of [location.search, location.hash.split('?')[1] || '']) {
      new URLSearchParams(part).forEach(raw => {
        const v = raw.trim();
        if (v.length >= MIN && !shown.includes(v.toLowerCase())) query.add(v);
      });
    }

    // Each value as patterns: as shown (a run of spaces also as + or %20), and URL-encoded
    // (encodeURIComponent, and with !'()* encoded too, as servers' encoders do).
    const escape = s => s.replace(/[.*+?^${}()|[\]\\\/]/g, '\\$&');
    const strict = s => encodeURIComponent(s).replace(/[!'()*]/g, c => '%' + c.charCodeAt(0).toString(16));
    const forms = v => [v, encodeURIComponent(v), strict(v)]
      .map(f => f.split(/(?:\s|\+|%20)+/).filter(Boolean).map(escape).join('(?:\\s|\\+|%20)+'))
      .filter(Boolean);  // a value of separators only ("+++") would mask every space
    const longestFirst = list => [...new Set(list.flatMap(forms))].sort((a, b) => b.length - a.length);
    const alternatives = [  // whole values before words: "Avery Thornbury" masked as one
      ...longestFirst([...values]),
      ...longestFirst([...words]).map(w => `(?:(?<!\\p{L})|(?<=%[0-9a-f]{2}))${w}(?!\\p{L})`),
    ];
    const anywhere = alternatives.length ? new RegExp(alternatives.join('|'), 'giu') : null;
    const queried = longestFirst([...query]).join('|');
    const inLinks = query.size ? new RegExp(`([?&;][^=&#;]*=)(?:${queried})(?=[&#;]|$)`, 'giu') : null;
    const asValue = query.size ? new RegExp(`^\\s*(?:${queried})\\s*$`, 'iu') : null;

    const clone = document.documentElement.cloneNode(true);
    const scrub = (root) => {
      const elements = Array.from(root.querySelectorAll('*'));
      if (root.nodeType === Node.ELEMENT_NODE) elements.unshift(root);
      for (const el of elements) {
        for (const attr of Array.from(el.attributes)) {
          let value = anywhere ? attr.value.replace(anywhere, MASK) : attr.value;
          if (inLinks) value = value.replace(inLinks, `$1${MASK}`);
          if (asValue && attr.name === 'value' && asValue.test(value)) value = MASK;
          if (value !== attr.value) attr.value = value;
        }
        if (el.localName === 'template') scrub(el.content);
      }
      if (!anywhere) return;
      // Text nodes (script and style text included) and comments.
      const nodes = document.createTreeWalker(root, NodeFilter.SHOW_TEXT | NodeFilter.SHOW_COMMENT);
      for (let n = nodes.nextNode(); n; n = nodes.nextNode()) {
        const value = n.data.replace(anywhere, MASK);
        if (value !== n.data) n.data = value;
      }
    };
    scrub(clone);

    for (const el of Array.from(clone.querySelectorAll(`[${MARK}]`))) {
      el.removeAttribute(MARK);
      if (el.matches('input, textarea, select')) el.removeAttribute('value');
      el.textContent = MASK;
    }
    clone.querySelectorAll('input[type=password], input[autocomplete=one-time-code], input[name*=otp i]')
         .forEach(el => el.removeAttribute('value'));
    return '<!doctype html>\n' + clone.outerHTML;
  } finally {
    marked.forEach(el => el.removeAttribute(MARK));
  }
}"""

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
    masks = await _masks(page, resolver)
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
    masks = await _masks(page, resolver)
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


async def _masks(page: Page, resolver: Resolver) -> Locator | None:
    """One locator for every masked element on the page: marking them and masking them in the
    screenshot are then one browser query each, not one per element."""
    found = await resolver.mask_locators(page)
    return functools.reduce(Locator.or_, found) if found else None


async def _snapshot(page: Page, masks: Locator | None) -> bytes:
    if masks is not None:
        await masks.evaluate_all(f"els => els.forEach(e => e.setAttribute('{MARK}', ''))")
    return str(await page.evaluate(_SNAPSHOT_JS, [MARK, MASKED_TEXT])).encode("utf-8")


async def _screenshot(
    page: Page, masks: Locator | None, settings: BrowserSettings, clip: dict[str, float] | None = None
) -> tuple[bytes, str]:
    options = screenshot_options(settings)
    if clip:  # page coordinates, with full_page so rows below the fold are reachable
        options["clip"] = clip
    secrets = page.locator(_SECRET_INPUTS)
    mask = secrets if masks is None else masks.or_(secrets)
    image = await page.screenshot(mask=[mask], mask_color="#202020", **options)
    if settings.screenshot_format == "png8":  # off the event loop: ~30 ms of CPU per screen
        image = await asyncio.to_thread(to_palette_png, image, settings.screenshot_colors)
    return image, "image/jpeg" if settings.screenshot_format == "jpeg" else "image/png"
