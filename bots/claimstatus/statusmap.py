"""Per-portal status vocabulary -> X12 277 claim status category, kept as data.
Text the mapping does not know stays unmapped with its raw text: never guessed."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, Field

from bots.core.models import CATEGORY_PATTERN
from bots.core.yamlfile import load_model


def normalize(text: str) -> str:
    """Case, spacing and dash style do not change a status' meaning."""
    return re.sub(r"\s+", " ", re.sub(r"[‐-―−]", "-", text)).strip().casefold()


class Mapping(BaseModel, extra="forbid"):
    category: str = Field(pattern=CATEGORY_PATTERN)
    code: str | None = Field(None, description="STC01-2 claim status code, when the text implies one")


class StatusMap(BaseModel, extra="forbid"):
    portal: str
    statuses: dict[str, Mapping] = Field(min_length=1)

    @classmethod
    def load(cls, path: Path) -> StatusMap:
        return load_model(path, cls)

    def lookup(self, text: str) -> Mapping | None:
        wanted = normalize(text)
        return next((m for t, m in self.statuses.items() if normalize(t) == wanted), None)
