"""The denial categorizer: what a claim-status check found (the 277 category, the remittance's
adjustments) becomes one denial category and a proposed next action.

The rules are versioned data (config/denials.yaml), not code, because payers and coders change
their minds more often than releases happen, and because every decision must name the rule and
the rules version it came from, so a reviewer can tell later why a claim was routed where it was.
Each adjustment is categorized on its own (first matching rule wins); the claim takes the most
important category among them (the file's `precedence`), because one real denial among routine
contractual adjustments is what somebody has to work.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field, field_validator, model_validator

from bots.core.models import CATEGORY_PATTERN, Adjustment
from bots.core.yamlfile import load_model

__all__ = ["PORTAL_CHANGING", "Categorization", "DenialCategory", "DenialRules", "NextAction"]


class DenialCategory(StrEnum):
    """What kind of problem a claim has, in the words of the brief's CARC table."""

    CODING = "coding"
    MISSING_INFORMATION = "missing_information"
    DOCUMENTATION = "documentation"
    ELIGIBILITY = "eligibility"
    AUTHORIZATION = "authorization"
    TIMELY_FILING = "timely_filing"
    DUPLICATE = "duplicate"
    MEDICAL_NECESSITY = "medical_necessity"
    COVERAGE = "coverage"
    PAYMENT_POLICY = "payment_policy"
    COORDINATION_OF_BENEFITS = "coordination_of_benefits"
    REJECTION = "rejection"
    CONTRACTUAL_OR_PATIENT = "contractual_or_patient_responsibility"
    OTHER = "other"


class NextAction(StrEnum):
    """The proposed next step; a person may choose another (a coder may appeal instead of
    correcting), which is why this is a proposal and not a command."""

    CORRECTED_CLAIM = "corrected_claim"
    NEW_ORIGINAL_CLAIM = "new_original_claim"
    APPEAL = "appeal"  # appeal or reconsideration
    SEND_RECORDS = "send_records"
    RETRO_AUTHORIZATION = "retro_authorization"
    FIX_COB = "fix_cob"
    VERIFY_ELIGIBILITY = "verify_eligibility"
    WRITE_OFF_REVIEW = "write_off_review"
    NONE = "none"


# Actions that change a claim at the payer: these need a person's approval before a bot acts.
PORTAL_CHANGING: frozenset[NextAction] = frozenset(
    {NextAction.CORRECTED_CLAIM, NextAction.NEW_ORIGINAL_CLAIM, NextAction.APPEAL}
)


def _code(kind: str, pattern: str, shape: str) -> Callable[[object], str]:
    """A check for one code written in the rules file. Numbers are refused rather than coerced:
    YAML reads an unquoted 010 as 8 and 1_0 as 10, so a coerced CARC could silently be another."""
    regex = re.compile(pattern)

    def check(value: object) -> str:
        if not isinstance(value, str):
            raise ValueError(
                f'write the {kind} {value!r} as a quoted string ("{value}"): unquoted, YAML reads a number'
            )
        if not regex.fullmatch(value):
            raise ValueError(f"{value!r} is not a {kind} ({shape})")
        return value

    return check


GroupCode = Annotated[str, BeforeValidator(_code("group code", r"CO|PR|OA|PI|CR", "one of CO, PR, OA, PI, CR"))]
Carc = Annotated[str, BeforeValidator(_code("CARC", r"\d{1,3}|[A-Z]\d{1,2}", "1-3 digits, or a letter and digits"))]
Rarc = Annotated[str, BeforeValidator(_code("RARC", r"[A-Z]{1,2}\d{1,4}", "letters and digits, e.g. M20, MA130"))]
Category277 = Annotated[
    str, BeforeValidator(_code("277 category code", CATEGORY_PATTERN.strip("^$"), "e.g. A7, F2, R4"))
]
StatusCode = Annotated[str, BeforeValidator(_code("277 status code", r"\d{1,3}", "1-3 digits, e.g. 54"))]
Version = Annotated[str, BeforeValidator(_code("version", r"\S+", "no spaces, e.g. 2026.11.1"))]


class When(BaseModel, extra="forbid"):
    """AND across keys, OR within a list; an empty `when` matches everything."""

    groups: list[GroupCode] = Field(default_factory=list)
    carcs: list[Carc] = Field(default_factory=list)
    rarcs: list[Rarc] = Field(default_factory=list)
    categories: list[Category277] = Field(default_factory=list)
    statuses: list[StatusCode] = Field(default_factory=list)
    adjustments: bool | None = Field(
        None, description="false: only when the check saw no adjustments (a clearinghouse 277 has none)"
    )

    @model_validator(mode="after")
    def _can_match(self) -> When:
        if self.adjustments is False and self.on_adjustment:
            raise ValueError("adjustments: false with groups, carcs or rarcs can never match")
        return self

    @property
    def on_adjustment(self) -> bool:
        return bool(self.groups or self.carcs or self.rarcs)

    @property
    def on_claim(self) -> bool:
        return bool(self.categories or self.statuses)

    @property
    def catch_all(self) -> bool:
        return not (self.on_adjustment or self.on_claim) and self.adjustments is None


class Rule(BaseModel, extra="forbid"):
    name: str = Field(min_length=1)
    when: When = When()
    category: DenialCategory


class Categorization(BaseModel, frozen=True):
    """One claim's category and proposed action, with the rule and rules version that decided
    it, so the decision can be explained and re-run after the rules change."""

    category: DenialCategory
    action: NextAction
    rule: str
    version: str
    codes: list[str]  # e.g. ["CO-4", "M20"] or ["A7"]: codes only, never PHI

    @property
    def coding(self) -> bool:
        """Whether a human coder should see the claim first."""
        return self.category is DenialCategory.CODING

    @property
    def changes_portal(self) -> bool:
        return self.action in PORTAL_CHANGING


@dataclass(frozen=True)
class _Seen:
    """One adjustment as the rules compare it: upper-case, trimmed, RARCs split (a portal may
    show several RARCs in one cell)."""

    group: str
    carc: str
    rarcs: tuple[str, ...]

    @classmethod
    def of(cls, adjustment: Adjustment) -> _Seen:
        rarcs = tuple(r for r in re.split(r"[\s,;]+", (adjustment.rarc or "").upper()) if r)
        return cls(adjustment.group_code.strip().upper(), adjustment.carc.strip().upper(), rarcs)

    @property
    def codes(self) -> list[str]:
        return [f"{self.group}-{self.carc}", *self.rarcs]


class DenialRules(BaseModel, extra="forbid"):
    """The loaded config/denials.yaml."""

    version: Version
    precedence: list[DenialCategory]
    actions: dict[DenialCategory, NextAction]
    rules: list[Rule] = Field(min_length=1)

    @field_validator("precedence")
    @classmethod
    def _every_category_once(cls, value: list[DenialCategory]) -> list[DenialCategory]:
        twice = [c.value for c, n in Counter(value).items() if n > 1]
        missing = [c.value for c in DenialCategory if c not in value]
        if twice or missing:
            parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
                [f"more than once: {', '.join(twice)}"] if twice else []
            )
            raise ValueError(f"precedence must name every category exactly once ({'; '.join(parts)})")
        return value

    @field_validator("actions")
    @classmethod
    def _every_category_has_action(cls, value: dict[DenialCategory, NextAction]) -> dict[DenialCategory, NextAction]:
        missing = [c.value for c in DenialCategory if c not in value]
        if missing:
            raise ValueError(f"every category needs an action; missing: {', '.join(missing)}")
        return value

    @field_validator("rules")
    @classmethod
    def _named_once_catch_all_last(cls, rules: list[Rule]) -> list[Rule]:
        twice = [name for name, n in Counter(r.name for r in rules).items() if n > 1]
        if twice:
            raise ValueError(f"rule names must be unique; used more than once: {', '.join(map(repr, twice))}")
        catch_alls = [i for i, r in enumerate(rules) if r.when.catch_all]
        if not catch_alls:
            raise ValueError(
                f"the last rule must be a catch-all (when: {{}}) so every adjustment gets a category; "
                f"the last is {rules[-1].name!r}"
            )
        if catch_alls[0] != len(rules) - 1:
            first = rules[catch_alls[0]]
            raise ValueError(
                f"rule {first.name!r} (rules[{catch_alls[0]}]) matches everything, so the rules after it never "
                "match: put the catch-all last"
            )
        return rules

    @classmethod
    def load(cls, path: Path) -> DenialRules:
        return load_model(path, cls)

    def categorize(
        self, category: str | None, adjustments: Sequence[Adjustment], status_code: str | None = None
    ) -> Categorization:
        """Categorize one claim from its 277 category code (None when unknown), the remittance's
        adjustments (empty when the check saw none) and the 277 status code, if known."""
        category = (category or "").strip().upper() or None
        status_code = (status_code or "").strip() or None
        if not adjustments:
            rule = self._first(category, status_code, None)
            return self._result(rule, self._codes(rule.when, category, status_code, None))
        decided = [(seen, self._first(category, status_code, seen)) for seen in map(_Seen.of, adjustments)]
        rank = {c: i for i, c in enumerate(self.precedence)}
        winner = min((rule.category for _, rule in decided), key=rank.__getitem__)
        deciding = [(seen, rule) for seen, rule in decided if rule.category is winner]
        codes = [code for seen, rule in deciding for code in self._codes(rule.when, category, status_code, seen)]
        return self._result(deciding[0][1], list(dict.fromkeys(codes)))

    def _result(self, rule: Rule, codes: list[str]) -> Categorization:
        return Categorization(
            category=rule.category,
            action=self.actions[rule.category],
            rule=rule.name,
            version=self.version,
            codes=codes,
        )

    def _first(self, category: str | None, status: str | None, seen: _Seen | None) -> Rule:
        # The catch-all last (checked at load) means this always finds one.
        return next(r for r in self.rules if _matches(r.when, category, status, seen))

    @staticmethod
    def _codes(when: When, category: str | None, status: str | None, seen: _Seen | None) -> list[str]:
        """The codes the rule looked at; for the catch-all, what it was given."""
        codes = [c for c, used in ((category, bool(when.categories)), (status, bool(when.statuses))) if c and used]
        if seen is not None and (when.on_adjustment or not codes):
            codes += seen.codes
        if not codes and category:
            codes.append(category)
        return codes


def _matches(when: When, category: str | None, status: str | None, seen: _Seen | None) -> bool:
    if when.categories and category not in when.categories:
        return False
    if when.statuses and status not in when.statuses:
        return False
    if when.adjustments is not None and when.adjustments != (seen is not None):
        return False
    if not when.on_adjustment:
        return True
    if seen is None:
        return False
    return (
        (not when.groups or seen.group in when.groups)
        and (not when.carcs or seen.carc in when.carcs)
        and (not when.rarcs or any(r in when.rarcs for r in seen.rarcs))
    )
