"""`rcmbot portal validate`: everything about one portal that can be checked without a browser
(its registry entry, selector map, status map, hook and credentials), every problem at once."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from bots.browser.pages import load_selector_map, reachable
from bots.browser.selectors import SelectorMap
from bots.claimstatus.hooks import bot_class
from bots.claimstatus.statusmap import StatusMap
from bots.core.errors import ConfigError, InputError
from bots.core.registry import PortalEntry, PortalRegistry
from bots.core.settings import Settings
from bots.core.yamlfile import key_line, line_of, load_model

T = TypeVar("T")
PARTS = ("registry", "selector map", "status map", "hook", "credentials")


@dataclass
class PortalValidation:
    """The problems found with one portal, and the parts that could not be checked (part -> why)."""

    portal: str
    problems: list[ConfigError] = field(default_factory=list)
    not_checked: dict[str, str] = field(default_factory=dict)
    other_entries: int = 0  # problems of other portals' registry entries (theirs to validate)

    @property
    def valid(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """e.g. `cedar: 3 problems (registry, selector map, status map, hook, credentials checked)`."""
        checked = ", ".join(part for part in PARTS if part not in self.not_checked)
        if self.valid:
            verdict = "valid"
        else:
            verdict, checked = f"{len(self.problems)} problem{'s' * (len(self.problems) != 1)}", f"{checked} checked"
        by_reason: dict[str, list[str]] = {}
        for part, why in self.not_checked.items():
            by_reason.setdefault(why, []).append(part)
        skipped = [f"{', '.join(parts)} not checked: {why}" for why, parts in by_reason.items()]
        elsewhere = [f"{self.other_entries} problem(s) in other portals' entries"] if self.other_entries else []
        return f"{self.portal}: {verdict} ({'; '.join([checked, *skipped, *elsewhere])})"

    def check(self, load: Callable[[], T]) -> T | None:
        """What `load` returns, or None with its problems kept."""
        try:
            return load()
        except ConfigError as exc:
            self.problems.extend(exc.problems)
            return None


class _Entries(BaseModel):
    """The registry's entries, unvalidated: to find one portal's entry when another's is broken."""

    portals: dict[str, Any]


def validate_portal(settings: Settings, key: str) -> PortalValidation:
    """Check one portal as far as its files allow; ConfigError if the registry cannot be read,
    InputError if the portal is not in it."""
    registry_file = settings.path(settings.portals_file)
    entries = _entries(registry_file, key)
    report = PortalValidation(key)
    report.check(lambda: PortalRegistry.load(registry_file))
    mine = [p for p in report.problems if not _of_another_entry(p, key)]
    report.other_entries, report.problems = len(report.problems) - len(mine), mine
    try:
        entry = PortalEntry.model_validate(entries[key])
    except ValidationError:  # its problems are the registry's, reported above with their lines
        _check_maps_alone(report, settings, entries[key])
        return report
    map_file = settings.path(entry.selector_map)
    smap = report.check(lambda: load_selector_map(map_file, entry))
    if smap is not None:
        report.problems += unknown_reaches(entry, smap, registry_file, key)
        if smap.portal != key:
            report.problems.append(
                ConfigError(
                    str(map_file), key_line(map_file, ("portal",)), "portal", f"says {smap.portal!r}, not {key!r}"
                )
            )
    report.check(lambda: StatusMap.load(settings.path(entry.status_map)))
    report.check(lambda: bot_class(key, entry, registry_file, settings.project_root))
    _check_credentials(report, entry, registry_file)
    return report


def unknown_reaches(entry: PortalEntry, smap: SelectorMap, registry_file: Path, key: str) -> list[ConfigError]:
    """A problem for each canary whose `reaches` names something the portal cannot show: not a
    screen, an outcome or an element of its selector map."""
    known = reachable(smap)
    problems = []
    for n, canary in enumerate(entry.canaries):
        unknown = [word for word in canary.reaches if word not in known]
        if unknown:
            problems.append(
                ConfigError(
                    str(registry_file),
                    line_of(registry_file, ("portals", key, "canaries", n)),
                    f"portals.{key}.canaries.{n}.reaches",
                    f"{', '.join(map(repr, unknown))}: not a screen, outcome or element of its selector map"
                    + "".join(f" (did you mean {c[0]!r}?)" for w in unknown if (c := _closest(w, known))),
                )
            )
    return problems


def _closest(word: str, known: set[str]) -> list[str]:
    return difflib.get_close_matches(word, sorted(known), n=1)


def _of_another_entry(problem: ConfigError, key: str) -> bool:
    parts = problem.key.split(".")
    return len(parts) > 1 and parts[0] == "portals" and parts[1] != key


def _check_maps_alone(report: PortalValidation, settings: Settings, entry: Any) -> None:
    """With the entry invalid, the maps it names are still checked as files, so that a typo in
    each file shows in one run; what depends on a valid entry is not checked."""
    named = entry if isinstance(entry, dict) else {}
    invalid = "the registry entry is invalid"
    for part, name, load in (
        ("selector map", "selector_map", SelectorMap.load),
        ("status map", "status_map", StatusMap.load),
    ):
        if isinstance(named.get(name), str):
            report.check(partial(load, settings.path(Path(named[name]))))
        else:
            report.not_checked[part] = invalid
    report.not_checked |= dict.fromkeys(("elements the entry needs", "hook", "credentials"), invalid)


def _entries(registry_file: Path, key: str) -> dict[str, Any]:
    """The registry's entries by key, unvalidated; ConfigError if the file cannot be read or has
    no `portals:`, InputError (with the closest key) if `key` is not one of them."""
    entries = load_model(registry_file, _Entries).portals
    if key not in entries:
        close = difflib.get_close_matches(key, list(entries), n=1)
        raise InputError(
            f"no portal {key!r} in {registry_file}"
            + (f" (did you mean {close[0]!r}?)" if close else "")
            + f"; it has: {', '.join(entries) or 'none'}"
        )
    return entries


def _check_credentials(report: PortalValidation, entry: PortalEntry, registry_file: Path) -> None:
    """Whether the secrets the login needs are there: missing ones are a problem at the entry's
    `credentials:`. Prefect Secret blocks are read through the reader the orchestration layer
    sets up (use_secret_blocks); without one they are not checked."""
    where = f"portals.{report.portal}.credentials"
    try:
        entry.resolve_credentials(report.portal)
    except ConfigError as exc:
        if exc.key != where:  # no block reader in this process: resolve_credentials names the block
            report.not_checked["credentials"] = "Prefect Secret block"
            return
        line = line_of(registry_file, ("portals", report.portal, "credentials"))
        report.problems.append(ConfigError(str(registry_file), line, where, exc.problem))
