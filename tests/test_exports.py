"""Each room's public names, kept in step (as httpx's tests/test_exported_members.py does): every
name in a room's `__all__` imports from the room package; what other rooms, the flows and the
tests import from a room is in its `__all__`; importing a room loads nothing its rules forbid;
and docs/onboarding.md's "bot interface" says what the bots' public methods are, exactly."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bots.claimstatus import BatchInquiryBot, ClaimStatusBot, PortalBot
from tests.conftest import ROOT
from tests.test_layout import FORBIDDEN_EXTERNAL, ORDER

ROOMS = [room for room in ORDER if room != "cli"]  # the rooms other rooms import from
BOTS = {cls.__name__: cls for cls in (PortalBot, ClaimStatusBot, BatchInquiryBot)}
GUIDE = ROOT / "docs/onboarding.md"

# What importing a room (and then every name it exports) must not load, beyond the layout's rules:
# Prefect only once its environment is set (bots.orchestration.prefect_env), and the rooms that
# load their names on first use stay light until then.
NOT_LOADED = {"orchestration": {"prefect"}}
NOT_LOADED_BY_PACKAGE = {
    "sim": {"fastapi", "uvicorn"},
    "orchestration": {"playwright", "alembic"},
    "bench": {"playwright", "yappi", "fastapi"},
}


def submodules(room: str) -> set[str]:
    path = ROOT / "bots" / room
    return {p.stem for p in path.glob("*.py") if p.stem != "__init__"} | {
        p.parent.name for p in path.glob("*/__init__.py")
    }


def importer_room(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[1].removesuffix(".py") if rel.parts[0] == "bots" else rel.parts[0]


def imports_from_rooms() -> dict[tuple[str, str, str], list[str]]:
    """(room, module, name) -> files outside the room that import `name` from `module` of it."""
    found: dict[tuple[str, str, str], list[str]] = {}
    for base in ("bots", "flows", "tests"):
        for path in sorted((ROOT / base).rglob("*.py")):
            here = importer_room(path)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module):
                    continue
                parts = node.module.split(".")
                if parts[0] != "bots" or len(parts) < 2 or parts[1] not in ROOMS or parts[1] == here:
                    continue
                for alias in node.names:
                    key = (parts[1], node.module, alias.name)
                    found.setdefault(key, []).append(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("room", ROOMS)
def test_every_exported_name_imports_from_the_room(room: str) -> None:
    package = importlib.import_module(f"bots.{room}")
    exported = package.__all__
    assert exported == sorted(exported), f"bots.{room}.__all__ is not sorted"
    assert len(exported) == len(set(exported)), f"bots.{room}.__all__ has duplicates"
    namespace: dict[str, Any] = {}
    exec(f"from bots.{room} import *", namespace)
    for name in exported:
        assert name in namespace, f"bots.{room}.{name} is in __all__ but cannot be imported"
        assert not inspect.ismodule(namespace[name]), f"bots.{room}.{name} is a module, not a name"
        owner = getattr(namespace[name], "__module__", None)
        if owner is not None and owner.startswith("bots."):  # a re-export of the room's own name
            assert owner.split(".")[1] == room, f"bots.{room}.{name} belongs to {owner}"


@pytest.mark.parametrize("room", ROOMS)
def test_what_other_rooms_import_is_exported(room: str) -> None:
    """A public class or function of this room that another room, a flow or a test imports is in
    `__all__`, and so is every name a module of the room declares public with an `__all__` of its
    own. A name that is also one of the room's module names (`bots.browser.capture`, say) cannot
    be re-exported without hiding its module, and is imported from its module instead."""
    package = importlib.import_module(f"bots.{room}")
    exported, modules = set(package.__all__), submodules(room)
    missing = []
    for (target, module, name), files in sorted(imports_from_rooms().items()):
        if target != room or name.startswith("_") or name in modules:
            continue
        value = getattr(importlib.import_module(module), name, None)  # None: not there (yet), not ours to judge
        defined_here = getattr(value, "__module__", "").split(".")[:2] == ["bots", room]
        if (inspect.isclass(value) or inspect.isfunction(value)) and defined_here and name not in exported:
            missing.append(f"{name} (from {module}, imported by {', '.join(sorted(set(files)))})")
    for stem in sorted(modules):
        declared = getattr(importlib.import_module(f"bots.{room}.{stem}"), "__all__", [])
        missing += [
            f"{name} (in bots.{room}.{stem}.__all__)"
            for name in declared
            if name not in exported and name not in modules
        ]
    assert not missing, f"bots.{room}.__all__ lacks: " + "; ".join(missing)


@pytest.mark.parametrize("room", ROOMS)
def test_importing_a_room_loads_nothing_its_rules_forbid(room: str) -> None:
    script = (
        f"import json, sys\nimport bots.{room} as room\n"
        "first = sorted({m.split('.')[0] for m in sys.modules})\n"
        "[getattr(room, name) for name in room.__all__]\n"
        "print(json.dumps([first, sorted({m.split('.')[0] for m in sys.modules})]))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    package_only, everything = (set(names) for names in json.loads(out.stdout))
    forbidden = FORBIDDEN_EXTERNAL.get(room, set()) | NOT_LOADED.get(room, set())
    assert not forbidden & everything, f"bots.{room} loads {sorted(forbidden & everything)}"
    light = NOT_LOADED_BY_PACKAGE.get(room, set())
    assert not light & package_only, f"importing bots.{room} alone loads {sorted(light & package_only)}"


# -- the guide's "bot interface" --------------------------------------------------------------------

METHOD = re.compile(r"^(\w+)\((.*)\) -> (.+)$")
ATTRIBUTE = re.compile(r"^(\w+): (\w+)$")


def documented() -> dict[str, list[tuple[str, str, str]]]:
    """Class name -> (name, the code span, the text after it) of each entry of the section."""
    text = GUIDE.read_text(encoding="utf-8")
    section = re.search(r"^## [\d. ]*The bot interface\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert section, f"{GUIDE.name} has no section 'The bot interface'"
    classes: dict[str, list[tuple[str, str, str]]] = {}
    for part in re.split(r"^### ", section[1], flags=re.M)[1:]:
        heading = re.match(r"`(\w+)`", part)
        assert heading and heading[1] in BOTS, f"unknown class in the bot interface: {part.splitlines()[0]}"
        entries = re.findall(r"^- `([^`]+)`(.*?)(?=^- |\Z)", part, re.M | re.S)
        classes[heading[1]] = [(re.split(r"[(:]", code)[0], code, " ".join(rest.split())) for code, rest in entries]
    return classes


def annotation(value: Any) -> str:
    return value if isinstance(value, str) else inspect.formatannotation(value)  # str: as in the source


def signature_text(name: str, function: Callable[..., Any]) -> str:
    """`name(param: annotation, …) -> annotation`, as the source writes it."""
    sig = inspect.signature(function)
    params = []
    for p in list(sig.parameters.values())[1:]:  # without self
        star = "*" if p.kind is p.VAR_POSITIONAL else "**" if p.kind is p.VAR_KEYWORD else ""
        default = "" if p.default is p.empty else f" = {p.default!r}"
        params.append(f"{star}{p.name}: {annotation(p.annotation)}{default}")
    return f"{name}({', '.join(params)}) -> {annotation(sig.return_annotation)}"


def test_the_guide_documents_each_bot_method_as_it_is() -> None:
    for class_name, entries in documented().items():
        cls = BOTS[class_name]
        for name, code, _ in entries:
            assert name in vars(cls), f"{class_name}.{name} is documented but {class_name} does not define it"
            value = vars(cls)[name]
            if METHOD.match(code):
                assert inspect.isfunction(value), f"{class_name}.{name} is documented as a method"
                assert signature_text(name, value) == code, f"{class_name}.{name}: the guide says {code}"
            else:
                attribute = ATTRIBUTE.match(code)
                assert attribute, f"{class_name}: cannot read the entry {code!r}"
                assert type(value).__name__ == attribute[2], f"{class_name}.{name}: the guide says {code}"


def test_every_public_bot_method_is_in_the_guide_and_its_class_says_what_hooks_override() -> None:
    docs = documented()
    assert set(docs) == set(BOTS), f"the bot interface documents {sorted(docs)}"
    for class_name, cls in BOTS.items():
        names = {name for name, _, _ in docs[class_name]}
        public = {name for name in vars(cls) if not name.startswith("_")}
        assert public <= names, f"{class_name}: public but not in the guide: {sorted(public - names)}"
        for name, _, text in docs[class_name]:
            assert text.strip(), f"{class_name}.{name} has no description in the guide"
            if inspect.isfunction(vars(cls)[name]):
                assert inspect.getdoc(vars(cls)[name]), f"{class_name}.{name} has no docstring"
            if "hook may override" in text:
                assert f"`{name}`" in (cls.__doc__ or ""), f"{class_name}'s docstring does not name `{name}`"


def test_the_guides_python_imports_only_public_names() -> None:
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    assert blocks, "the guide has no Python example"
    for block in blocks:
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bots"):
                assert node.module in {f"bots.{room}" for room in ROOMS}, f"{node.module}: import from a room package"
                exported = importlib.import_module(node.module).__all__
                assert all(a.name in exported for a in node.names), f"{node.module}: not all in __all__"
