"""The latest selectors check of each portal, kept in the state directory: a sweep skips a
portal whose latest check found broken elements or failed canaries, deferring its items with the
reason, until a later check passes."""

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
    """Portals whose latest selectors check found broken elements or failed canaries -> the
    reason to skip them."""
    out = {}
    for key in portals:
        path = _path(settings, key)
        if not path.is_file():
            continue
        data = json.loads(path.read_text())
        broken = [k for k, v in data["elements"].items() if v["status"] == "broken"]
        failed = [str(c["canary"]) for c in data.get("canaries", []) if not c.get("passed", True)]
        problems = {"broken elements": broken, "failed canaries": failed}
        found = [f"{what} ({_few(names)})" for what, names in problems.items() if names]
        if found:
            out[key] = (
                f"{key}: the selectors check of {data['checked_at']} found {' and '.join(found)}; "
                "fix the map and check again"
            )
    return out


def _few(names: list[str]) -> str:
    return ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
