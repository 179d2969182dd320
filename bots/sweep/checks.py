"""The latest selectors check of each portal, kept in the state directory: a sweep skips a
portal whose latest check found broken elements, deferring its items with the reason, until a
later check passes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bots.core.settings import Settings


def _path(settings: Settings, key: str) -> Path:
    return settings.state_path / "selector-checks" / f"{key}.json"


def save_check(settings: Settings, key: str, report: dict[str, Any]) -> None:
    path = _path(settings, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=1))
    tmp.replace(path)  # never a half-written result for the sweep to read


def broken_portals(settings: Settings, portals: list[str]) -> dict[str, str]:
    """Portals whose latest selectors check found broken elements -> the reason to skip them."""
    out = {}
    for key in portals:
        path = _path(settings, key)
        if not path.is_file():
            continue
        data = json.loads(path.read_text())
        broken = [k for k, v in data["elements"].items() if v["status"] == "broken"]
        if broken:
            out[key] = (
                f"{key}: the selectors check of {data['checked_at']} found broken elements "
                f"({', '.join(broken[:5])}{', …' if len(broken) > 5 else ''}); fix the map and check again"
            )
    return out
