"""Follow-up rules, kept as data (config/followup.yaml): after each check they decide the
item's next action, when to look again, and whether the item is closed. First match wins."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, Field, field_validator, model_validator

from bots.core.models import CheckResult, FailureKind, Outcome
from bots.core.yamlfile import load_model

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_FOLLOW_UP_S = 3650 * 86400  # ten years: beyond it a date overflows, and no claim waits that long


def parse_duration(text: str | float) -> float:
    """'7d', '12h', '30m', '5s' or a number of seconds -> seconds."""
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _DURATION.match(text.strip())
        if not match:
            raise ValueError(f"not a duration: {text!r} (use e.g. 7d, 12h, 30m, 45s)")
        seconds = float(match[1]) * _UNIT_S[match[2]]
    if not 0 < seconds <= MAX_FOLLOW_UP_S:
        raise ValueError(f"{text!r} is not a follow-up time: more than 0 and at most 3650d")
    return seconds


class When(BaseModel, extra="forbid"):
    outcomes: list[Outcome] = Field(default_factory=list)
    failures: list[FailureKind] = Field(default_factory=list, description="why a check failed or was not made")
    categories: list[str] = Field(default_factory=list, description="codes; 'P*' matches a prefix")
    denial: str | None = Field(None, pattern="^(coding|other)$")
    paid_in_full: bool | None = None
    remittance: bool | None = Field(
        None, description=("whether the check saw the remittance's adjustments (a 277 from a clearinghouse does not)")
    )


class Rule(BaseModel, extra="forbid"):
    name: str
    when: When = When()
    next_action: str
    follow_up: float | None = None
    close: bool = False

    _parse = field_validator("follow_up", mode="before")(lambda v: None if v is None else parse_duration(v))

    @model_validator(mode="after")
    def _needs_follow_up(self) -> Rule:
        if not self.close and self.follow_up is None:
            raise ValueError("a rule that does not close the item needs follow_up")
        return self


class Decision(BaseModel):
    rule: str
    next_action: str
    follow_up_s: float | None
    close: bool


class FollowUpRules(BaseModel, extra="forbid"):
    coding_carcs: list[str]
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _ends_with_a_catch_all(self) -> FollowUpRules:
        if self.rules[-1].when != When():
            raise ValueError("end the rules with a catch-all rule (no `when`), so every check has a next step")
        return self

    @classmethod
    def load(cls, path: Path) -> FollowUpRules:
        return load_model(path, cls)

    def decide(self, result: CheckResult) -> Decision:
        for rule in self.rules:
            if self._matches(rule.when, result):
                return Decision(
                    rule=rule.name, next_action=rule.next_action, follow_up_s=rule.follow_up, close=rule.close
                )
        raise LookupError("no follow-up rule matched; end the rules with a catch-all (when: {})")

    def _matches(self, when: When, r: CheckResult) -> bool:
        if when.outcomes and r.outcome not in when.outcomes:
            return False
        if when.failures and r.failure not in when.failures:
            return False
        if when.categories and not any(
            r.category and (r.category == c or (c.endswith("*") and r.category.startswith(c[:-1])))
            for c in when.categories
        ):
            return False
        if when.remittance is not None and when.remittance != bool(r.detail and r.detail.adjustments):
            return False
        carcs = set(r.detail.carcs) - {"45"} if r.detail else set()
        if when.denial is not None:
            is_coding = bool(carcs & set(self.coding_carcs))
            if not carcs or (when.denial == "coding") != is_coding:
                return False
        return when.paid_in_full is None or when.paid_in_full == (r.detail is not None and not carcs)
