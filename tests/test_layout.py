"""The architecture stays true: rooms depend one way, core imports neither Prefect nor a browser."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

# room -> rooms of bots it must not import (later rooms in the order of bots/__init__.py)
ORDER = [
    "core",
    "sim",
    "evidence",
    "worklist",
    "denials",
    "review",
    "accounts",
    "alerts",
    "browser",
    "claimstatus",
    "apply",
    "sweep",
    "orchestration",
    "console",
    "bench",
    "cli",
]
NO_BROWSER_NO_PREFECT = {"prefect", "playwright"}
FORBIDDEN_EXTERNAL = {
    "core": NO_BROWSER_NO_PREFECT,
    "worklist": NO_BROWSER_NO_PREFECT,
    "evidence": NO_BROWSER_NO_PREFECT,
    "denials": NO_BROWSER_NO_PREFECT,
    "review": NO_BROWSER_NO_PREFECT,
    "accounts": NO_BROWSER_NO_PREFECT,
    "alerts": NO_BROWSER_NO_PREFECT,
    "browser": {"prefect"},
    "claimstatus": {"prefect"},
    "apply": {"prefect"},
    "sweep": {"prefect"},
    "console": {"playwright"},
}


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def room_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "bots" and len(parts) > 1 else None


def test_rooms_depend_one_way() -> None:
    for path in (ROOT / "bots").rglob("*.py"):
        rel = path.relative_to(ROOT / "bots")
        room = rel.parts[0].removesuffix(".py") if rel.parts[0] != "__init__.py" else None
        if room not in ORDER:
            continue
        for module in imports(path):
            target = room_of(module)
            if target in ORDER:
                assert ORDER.index(target) <= ORDER.index(room), f"{rel} imports {module}"
            assert module.split(".")[0] not in FORBIDDEN_EXTERNAL.get(room, set()), f"{rel} imports {module}"
            assert module.split(".")[0] != "flows", f"{rel} imports {module}: flows call bots, not back"


def test_prescribed_layout_exists() -> None:
    for name in ("bots", "flows", "selectors", "config", "evidence", "tests", "pyproject.toml", "prefect.yaml"):
        assert (ROOT / name).exists(), name
