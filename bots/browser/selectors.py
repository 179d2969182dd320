"""Selector maps: for each element an ordered list of candidate locators, kept as data in
selectors/<portal>.yaml. The first candidate that resolves wins; a later one is drift, logged
once per element so someone fixes the map before the portal breaks it completely.

Priority is decided by counting matches candidate by candidate, never with `locator.or_()`,
whose `.first` follows document order rather than priority."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import Locator, Page
from pydantic import BaseModel, Field, PrivateAttr, model_validator

from bots.core.errors import ApplicationError, ConfigError
from bots.core.logs import get_logger
from bots.core.models import FailureKind
from bots.core.yamlfile import key_line, load_model

log = get_logger(__name__)
KEY = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")
Scope = Page | Locator


class Candidate(BaseModel, extra="forbid"):
    """One way to find an element. Exactly one of role/label/text/placeholder/testid/css."""

    role: str | None = None
    name: str | None = None  # accessible name, with role
    label: str | None = None
    text: str | None = None
    placeholder: str | None = None
    testid: str | None = None
    css: str | None = None
    exact: bool = True

    @model_validator(mode="after")
    def _one_kind(self) -> Candidate:
        kinds = [k for k in ("role", "label", "text", "placeholder", "testid", "css") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError("give exactly one of role, label, text, placeholder, testid, css")
        if self.name and not self.role:
            raise ValueError("name goes with role")
        return self

    def locate(self, scope: Scope) -> Locator:
        if self.role:
            return scope.get_by_role(self.role, name=self.name, exact=self.exact)  # type: ignore[arg-type]
        if self.label:
            return scope.get_by_label(self.label, exact=self.exact)
        if self.text:
            return scope.get_by_text(self.text, exact=self.exact)
        if self.placeholder:
            return scope.get_by_placeholder(self.placeholder, exact=self.exact)
        if self.testid:
            return scope.get_by_test_id(self.testid)
        assert self.css
        return scope.locator(self.css)

    def describe(self) -> str:
        kind = next(k for k in ("role", "label", "text", "placeholder", "testid", "css") if getattr(self, k))
        return f"{kind}={getattr(self, kind)!r}" + (f" name={self.name!r}" if self.name else "")


class Element(BaseModel, extra="forbid"):
    """One element of a portal's screens: where to find it, and how to read its value (its text,
    or an `attribute`; `pattern` picks the value out of a longer text). `absent` says the portal
    has no such element: it reads as not shown everywhere."""

    candidates: list[Candidate] = Field(default_factory=list)
    optional: bool = False
    absent: bool = False
    within: str | None = Field(None, description="key of the element this one is found inside")
    attribute: str | None = Field(
        None, min_length=1, description="read this attribute (href, title, value...) instead of the text"
    )
    pattern: str | None = Field(None, description="a regular expression whose group `value` is the element's value")

    @model_validator(mode="after")
    def _consistent(self) -> Element:
        if self.absent and (self.candidates or self.optional or self.within or self.attribute or self.pattern):
            raise ValueError("an absent element takes no other setting (the portal does not have it)")
        if not self.absent and not self.candidates:
            raise ValueError("give candidates, or absent: true for an element the portal does not have")
        if self.pattern is not None:
            try:
                compiled = re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a regular expression: {exc}") from None
            if "value" not in compiled.groupindex:
                raise ValueError("pattern needs a group named value, as in 'Claim (?P<value>\\d+)'")
        return self

    def value(self, raw: str) -> str | None:
        """The element's value in its raw text: the text itself, or the pattern's `value` group
        (None when the pattern does not match)."""
        text = raw.strip()
        if self.pattern is None:
            return text
        found = re.search(self.pattern, text)
        return found["value"].strip() if found and found["value"] is not None else None

    async def read(self, locator: Locator) -> list[str]:
        """Raw text (or attribute) of every match of `locator`, in one browser call."""
        if self.attribute is None:  # an element with no innerText (SVG): its text content
            return list(await locator.evaluate_all("els => els.map(e => e.innerText ?? e.textContent)"))
        return list(await locator.evaluate_all("(els, a) => els.map(e => e.getAttribute(a) || '')", self.attribute))


class SelectorMap(BaseModel, extra="forbid"):
    portal: str
    elements: dict[str, Element]
    mask: list[str] = Field(default_factory=list, description="elements masked in evidence")
    _source: Path | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _references(self) -> SelectorMap:
        problems = [p for key in self.elements for p in self._problems_of(key)]
        problems += [f"mask names unknown element {key!r}" for key in self.mask if key not in self.elements]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _problems_of(self, key: str) -> list[str]:
        """What is wrong with how one element refers to others (every problem, not the first)."""
        if not KEY.match(key):
            return [f"element key {key!r} must look like screen.element"]
        within = self.elements[key].within
        if within is None:
            return []
        if within not in self.elements:
            return [f"{key}: within names unknown element {within!r}"]
        if self.elements[within].absent:
            return [f"{key}: within names {within!r}, which is absent: make {key} absent too"]
        chain = [key]
        while (within := self.elements[chain[-1]].within) is not None and within in self.elements:
            if within in chain:
                return [f"{key}: within goes round in a circle ({' -> '.join([*chain, within])})"]
            chain.append(within)
        return []

    @classmethod
    def load(cls, path: Path, required: Iterable[str] = ()) -> SelectorMap:
        """Read a map; ConfigError naming file, line and key, also when an element in `required`
        is missing or absent."""
        smap = load_model(path, cls)
        smap._source = path
        smap.require(required)
        return smap

    def require(self, keys: Iterable[str]) -> None:
        """ConfigError naming the map file, line and keys unless every element of `keys` is
        present (listed and not absent)."""
        missing = [k for k in keys if not self.present(k)]
        if missing:
            path = self._source or Path(self.portal)
            line = key_line(path, ("elements",)) if self._source else None
            raise ConfigError.collect(
                ConfigError(str(path), line, f"elements.{key}", "missing or absent: the portal needs it")
                for key in missing
            )

    def present(self, key: str) -> bool:
        """Whether the portal has this element: listed and not absent."""
        element = self.elements.get(key)
        return element is not None and not element.absent

    def where(self, key: str) -> str:
        """`file:line` of an element in the map, for messages that send someone to fix it."""
        if self._source is None:
            return key
        line = key_line(self._source, ("elements", key))
        return f"{self._source}:{line}" if line else str(self._source)


# (image, its media type, HTML, the page's URL) of a page in trouble, kept as evidence
Snapshot = tuple[bytes, str, bytes, str]


class ScreenError(ApplicationError):
    """A screen the bot could not work: none the map knows appeared (a wrong URL, an error page,
    a changed portal), an element it needs is missing, or one could not be read. The message
    says where, fit for logs; `shown` what the page showed (its title and heading, which may name
    a patient: for the item's history and the person checking, never for logs); its `snapshot`,
    once taken, is kept as the claims' evidence."""

    snapshot: Snapshot | None = None
    failure = FailureKind.UNREADABLE

    def __init__(self, message: str, shown: str | None = None) -> None:
        super().__init__(message)
        self.shown = shown


class SelectorNotFoundError(ScreenError):
    """No candidate of a required element matched: the portal changed or the page is wrong."""


class UnreadableError(ValueError):
    """An element was found but its value cannot be read as the map says (its text does not match
    the pattern, or is not a date or an amount). A plain sentence naming the element and the page,
    never the value itself: the message ends up in a history a biller reads."""

    def __init__(self, key: str, url: str, problem: str) -> None:
        self.key, self.url, self.problem = key, url, problem
        super().__init__(f"could not read {key} at {page_path(url)}: {problem}")


def page_path(url: str) -> str:
    """A page's path for messages: no query (it may carry a claim or member number)."""
    parts = urlsplit(url)
    return (parts.path or "/") if parts.scheme in ("http", "https") else url


def url_of(scope: Scope) -> str:
    return scope.url if isinstance(scope, Page) else scope.page.url


def _css_only(element: Element) -> bool:
    return all(c.css for c in element.candidates)


# Rows and their cells found by CSS candidates, in priority order, inside the one element of
# `tables`, as Playwright's CSS engine finds them; null when that may differ. Playwright matches a
# selector inside its scope, where the DOM's querySelectorAll lets elements above the scope take
# part ("tbody td" from a row), so each query is asked of a detached copy of its scope as well and
# any difference is null; so are a selector only Playwright reads (:has-text, >>...), a shadow
# root (which Playwright's CSS pierces and the DOM's does not), and no table or several. Indexed
# loops, not iterators: the page's own scripts may have replaced Array's. An element with no
# innerText (SVG) reads as its text content.
READ_ROWS_JS = """(tables, spec) => {
  const DIFFERS = {};
  if (tables.length !== 1) return null;
  const table = tables[0];
  const everything = table.getElementsByTagName('*');
  for (let i = 0; i < everything.length; i++) if (everything[i].shadowRoot) return null;
  const copies = new Map();  // a row's copy, made once for all its columns
  const first = (root, candidates) => {
    if (!copies.has(root)) copies.set(root, root.cloneNode(true));
    const copy = copies.get(root), live = root.getElementsByTagName('*'), copied = copy.getElementsByTagName('*');
    for (let index = 0; index < candidates.length; index++) {
      const found = root.querySelectorAll(candidates[index]), inCopy = copy.querySelectorAll(candidates[index]);
      if (found.length !== inCopy.length) throw DIFFERS;
      for (let k = 0, at = 0; k < inCopy.length; k++) {
        while (at < copied.length && copied[at] !== inCopy[k]) at++;
        if (live[at] !== found[k]) throw DIFFERS;
      }
      if (found.length) return [index, found];
    }
    return [null, []];
  };
  try {
    const [row, rows] = first(table, spec.rows), cells = [];
    for (let r = 0; r < rows.length; r++) {
      const values = [];
      for (let c = 0; c < spec.columns.length; c++) {
        const [index, found] = first(rows[r], spec.columns[c][0]), attribute = spec.columns[c][1];
        values.push(index === null ? null : [index, attribute === null
          ? (found[0].innerText ?? found[0].textContent) : (found[0].getAttribute(attribute) || '')]);
      }
      cells.push(values);
    }
    return {row, cells};
  } catch (error) {
    if (error === DIFFERS || (error instanceof DOMException && error.name === 'SyntaxError')) return null;
    throw error;
  }
}"""


class Resolver:
    """Resolves element keys to Playwright locators by candidate priority."""

    def __init__(self, smap: SelectorMap) -> None:
        self.map = smap
        self.drift: dict[str, int] = {}  # element -> index of the candidate that matched

    def note(self, key: str, index: int) -> None:
        """Record which candidate of `key` matched; a fallback is drift, logged once."""
        if index and key not in self.drift:
            self.drift[key] = index
            log.warning(
                "selector drift",
                portal=self.map.portal,
                element=key,
                candidate=f"#{index + 1} {self.map.elements[key].candidates[index].describe()}",
            )

    async def probe(self, scope: Scope, key: str) -> int | None:
        """Index of the first candidate with a match, without noting drift: for telling screens
        apart, where a fallback may match an element of another screen. When a fallback
        matches, the earlier candidates are asked again: a page still rendering (a single-page
        app) may have added the element between two questions."""
        candidates = self.map.elements[key].candidates
        for index, candidate in enumerate(candidates):
            if await candidate.locate(scope).count():
                for earlier, first in enumerate(candidates[:index]):
                    if await first.locate(scope).count():
                        return earlier
                return index
        return None

    async def find(self, scope: Scope, key: str) -> Locator | None:
        """The locator of the first candidate with a match, or None."""
        index = await self.probe(scope, key)
        if index is None:
            return None
        self.note(key, index)
        return self.map.elements[key].candidates[index].locate(scope)

    async def get(self, scope: Scope, key: str) -> Locator:
        return (await self.get_all(scope, key)).first

    async def get_all(self, scope: Scope, key: str) -> Locator:
        """Every match of a required element (the rows of a table)."""
        locator = await self.find(scope, key)
        if locator is None:
            where = page_path(url_of(scope))
            if not self.map.present(key):
                raise SelectorNotFoundError(f"{self.map.portal}: the selector map says the portal has no {key}")
            raise SelectorNotFoundError(f"{self.map.portal}: no candidate of {key} matched at {where}")
        return locator

    async def mask_locators(self, page: Page) -> list[Locator]:
        """Locators of every masked element on the page, whichever screen it belongs to (a
        single-page app shows results and a claim's details together)."""
        found = await asyncio.gather(*(self.nested(page, key) for key in self.map.mask))
        return [hit[1] for hit in found if hit is not None]

    async def nested(self, page: Page, key: str) -> tuple[int, Locator] | None:
        """(candidate index, locator) of an element found inside the elements it is `within`
        (a cell inside the rows of its table), so a fallback never matches some other table's
        cells. None when it, or what it is within, is absent. Drift is not noted here: the
        screen's own reads report it."""
        within = self.map.elements[key].within
        parent: tuple[int, Scope] | None = await self.nested(page, within) if within else (0, page)
        if parent is None:
            return None
        index = await self.probe(parent[1], key)
        return None if index is None else (index, self.map.elements[key].candidates[index].locate(parent[1]))

    async def text(self, scope: Scope, key: str, attribute: str | None = None) -> str | None:
        """The value of an element (its text, or what its `attribute` or `pattern` picks out; or
        the `attribute` asked for); None when an optional element is not shown, or the portal has
        no such element (absent or not listed in the map). One browser round trip when the first
        candidate matches: reading doubles as the presence test."""
        element = self._reading(key, attribute)
        if element is None:
            return None
        for index, candidate in enumerate(element.candidates):
            raw = await element.read(candidate.locate(scope))
            if raw:
                self.note(key, index)
                return self._value(element, key, raw[0], scope)
        if element.optional:
            return None
        raise SelectorNotFoundError(f"{self.map.portal}: no candidate of {key} matched at {page_path(url_of(scope))}")

    async def column(self, rows: Locator, key: str, attribute: str | None = None) -> list[str] | None:
        """The value of `key` (or its `attribute`) inside every row matched by `rows`, in one
        browser call: [] when nothing matches, None when the portal has no such element."""
        element = self._reading(key, attribute)
        if element is None:
            return None
        for index, candidate in enumerate(element.candidates):
            raw = await element.read(candidate.locate(rows))
            if raw:
                self.note(key, index)
                return [self._value(element, key, text, rows) for text in raw]
        return []

    def _reading(self, key: str, attribute: str | None) -> Element | None:
        """The element as read: with `attribute` instead of its own reading, if given; None when
        the portal has no such element."""
        element = self.map.elements.get(key)
        if element is None or element.absent:
            return None
        return element if attribute is None else element.model_copy(update={"attribute": attribute, "pattern": None})

    async def rows(
        self, table: Locator, row_key: str, columns: Sequence[tuple[str, str | None]]
    ) -> list[list[str | None]]:
        """The values of `columns` ((element key, attribute to read or None) pairs) in every row
        of `table` (`row_key`'s matches), a list per row: None where the portal has no such
        element, or an optional one is not in the row; SelectorNotFoundError when a required one
        is not. Each row tries the candidates in order, as `text` would inside it. Rows and cells
        that plain CSS finds are read in one browser call for the whole table (a column at a time
        is a call per column, each finding the table again); any other column is read a column
        at a time, row by row where it does not line up with the rows."""
        elements = [self._reading(key, attribute) for key, attribute in columns]
        by_css = {j: e for j, e in enumerate(elements) if e is not None and _css_only(e)}
        read = await self._read_by_css(table, row_key, list(by_css.values()))
        if read is None:  # the locators read it all
            by_css, rows = {}, await self.find(table, row_key)
            if rows is None:
                return []
            values: list[list[str | None]] = [[None] * len(columns) for _ in range(await rows.count())]
        else:
            row_index, cells = read
            if row_index is None:
                return []
            self.note(row_key, row_index)
            rows = self.map.elements[row_key].candidates[row_index].locate(table)
            values = [[None] * len(columns) for _ in cells]
            for n, (j, element) in enumerate(by_css.items()):
                for row, found in zip(values, cells, strict=True):
                    row[j] = self._cell(element, columns[j][0], found[n], table)
        for j in (j for j, e in enumerate(elements) if e is not None and j not in by_css):
            column: Sequence[str | None] | None = await self.column(rows, *columns[j])
            if column is None or len(column) != len(values):
                column = await asyncio.gather(*(self.text(rows.nth(n), *columns[j]) for n in range(len(values))))
            for row, value in zip(values, column, strict=True):
                row[j] = value
        return values

    async def _read_by_css(
        self, table: Locator, row_key: str, elements: list[Element]
    ) -> tuple[int | None, list[list[tuple[int, str] | None]]] | None:
        """(the row candidate that matched, each row's (candidate, raw value) of each element)
        by READ_ROWS_JS; None when the rows are not found by plain CSS."""
        if not _css_only(self.map.elements[row_key]):
            return None
        spec = {
            "rows": [c.css for c in self.map.elements[row_key].candidates],
            "columns": [[[c.css for c in e.candidates], e.attribute] for e in elements],
        }
        read = await table.evaluate_all(READ_ROWS_JS, spec)
        return None if read is None else (read["row"], read["cells"])

    def _cell(self, element: Element, key: str, cell: tuple[int, str] | None, table: Locator) -> str | None:
        """The value of one cell as READ_ROWS_JS found it ((candidate index, raw value) or None)."""
        if cell is None:
            if element.optional:
                return None
            where = page_path(url_of(table))
            raise SelectorNotFoundError(f"{self.map.portal}: no candidate of {key} matched at {where}")
        self.note(key, cell[0])
        return self._value(element, key, cell[1], table)

    @staticmethod
    def _value(element: Element, key: str, raw: str, scope: Scope) -> str:
        value = element.value(raw)
        if value is None:
            raise UnreadableError(key, url_of(scope), "its text does not match the selector map's pattern")
        return value

    async def texts(self, scope: Scope, keys: Iterable[str]) -> dict[str, str | None]:
        """text() of several elements at once: the reads travel to the browser together."""
        keys = list(keys)
        return dict(zip(keys, await asyncio.gather(*(self.text(scope, k) for k in keys)), strict=True))
