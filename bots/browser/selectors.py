"""Selector maps: for each element an ordered list of candidate locators, kept as data in
selectors/<portal>.yaml. The first candidate that resolves wins; a later one is drift, logged
once per element so someone fixes the map before the portal breaks it completely.

Priority is decided by counting matches candidate by candidate, never with `locator.or_()`,
whose `.first` follows document order rather than priority."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from pathlib import Path

from playwright.async_api import Locator, Page
from pydantic import BaseModel, Field, model_validator

from bots.core.errors import ApplicationError, ConfigError
from bots.core.logs import get_logger
from bots.core.yamlfile import load_model

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
    candidates: list[Candidate] = Field(min_length=1)
    optional: bool = False
    within: str | None = Field(None, description="key of the element this one is found inside")


class SelectorMap(BaseModel, extra="forbid"):
    portal: str
    elements: dict[str, Element]
    mask: list[str] = Field(default_factory=list, description="elements masked in evidence")

    @model_validator(mode="after")
    def _references(self) -> SelectorMap:
        for key, el in self.elements.items():
            if not KEY.match(key):
                raise ValueError(f"element key {key!r} must look like screen.element")
            if el.within and el.within not in self.elements:
                raise ValueError(f"{key}: within names unknown element {el.within!r}")
        for key in self.mask:
            if key not in self.elements:
                raise ValueError(f"mask names unknown element {key!r}")
        return self

    @classmethod
    def load(cls, path: Path, required: Iterable[str] = ()) -> SelectorMap:
        smap = load_model(path, cls)
        missing = [k for k in required if k not in smap.elements]
        if missing:
            raise ConfigError(
                str(path),
                _line_of_key(path, "elements"),
                f"elements.{missing[0]}",
                f"missing element(s) the portal shape needs: {', '.join(missing)}",
            )
        return smap


def _line_of_key(path: Path, key: str) -> int | None:
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith(f"{key}:"):
            return n
    return None


class SelectorNotFoundError(ApplicationError):
    """No candidate of a required element matched: the portal changed or the page is wrong."""


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
            raise SelectorNotFoundError(f"{self.map.portal}: no candidate of {key} matched")
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

    async def text(self, scope: Scope, key: str) -> str | None:
        """Inner text of an element; None when an optional element is absent. One browser round
        trip when the first candidate matches: reading all texts doubles as the presence test.
        An element the map does not list counts as an absent optional one."""
        element = self.map.elements.get(key)
        if element is None:
            return None
        for index, candidate in enumerate(element.candidates):
            texts = await candidate.locate(scope).all_inner_texts()
            if texts:
                self.note(key, index)
                return texts[0].strip()
        if element.optional:
            return None
        raise SelectorNotFoundError(f"{self.map.portal}: no candidate of {key} matched")

    async def column(self, rows: Locator, key: str, attribute: str | None = None) -> list[str] | None:
        """The text (or an attribute) of `key` inside every row matched by `rows`, in one browser
        call: [] when nothing matches, None when the map does not list the element."""
        element = self.map.elements.get(key)
        if element is None:
            return None
        for index, candidate in enumerate(element.candidates):
            found = candidate.locate(rows)
            values = await (
                found.all_inner_texts()
                if attribute is None
                else found.evaluate_all("(els, a) => els.map(e => e.getAttribute(a) || '')", attribute)
            )
            if values:
                self.note(key, index)
                return [v.strip() for v in values]
        return []

    async def texts(self, scope: Scope, keys: Iterable[str]) -> dict[str, str | None]:
        """text() of several elements at once: the reads travel to the browser together."""
        keys = list(keys)
        return dict(zip(keys, await asyncio.gather(*(self.text(scope, k) for k in keys)), strict=True))
