"""The decision a review task asks a person to approve, and what the bot proposes first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from bots.core.models import Adjustment, ServiceLine
from bots.denials import Categorization, NextAction

__all__ = ["SUBMISSIONS", "Proposal", "propose"]

# Proposed actions a portal's request form carries out; any other approved action is done
# outside rcmbot (a new original claim goes through the billing system) and resolves the task.
SUBMISSIONS: dict[NextAction, Literal["corrected", "reconsideration"]] = {
    NextAction.CORRECTED_CLAIM: "corrected",
    NextAction.APPEAL: "reconsideration",
}


class Proposal(BaseModel, extra="forbid"):
    """What would be submitted: the kind of request, the service line, its corrected codes."""

    action: NextAction
    line_no: int | None = Field(None, ge=1, le=999)
    procedure_code: str | None = Field(None, pattern=r"^([0-9]{5}|[A-Z][0-9]{4})$")
    modifiers: list[str] = Field(default_factory=list, max_length=4)
    note: str = Field("", max_length=500)

    @field_validator("modifiers")
    @classmethod
    def _modifiers(cls, value: list[str]) -> list[str]:
        for modifier in value:
            if len(modifier) != 2 or not modifier.isalnum() or modifier != modifier.upper():
                raise ValueError(f"{modifier!r} is not a modifier (two capital letters or digits)")
        return value

    @property
    def submission(self) -> Literal["corrected", "reconsideration"] | None:
        """The portal request this proposal becomes once approved; None: nothing to submit."""
        return SUBMISSIONS.get(self.action)

    def problems(self) -> dict[str, str]:
        """What keeps this proposal from being submitted, by field (empty: it can be)."""
        if self.submission is None:
            return {}
        found = {}
        if self.line_no is None:
            found["line_no"] = "name the service line the request is about"
        if self.submission == "corrected" and not (self.procedure_code or self.modifiers):
            found["procedure_code"] = "a corrected claim changes a procedure code or modifiers"
        if not self.note.strip():
            found["note"] = "say why (the portal asks for a reason)"
        return found


def propose(
    categorization: Categorization, adjustments: Sequence[Adjustment], lines: Sequence[ServiceLine]
) -> Proposal:
    """The bot's first proposal: the categorizer's next action on the line the deciding
    adjustment names (else the first line), with that line's codes as they stand for a coder
    to change."""
    deciding = set(categorization.codes)
    line_no = next(
        (a.line_no for a in adjustments if a.line_no and f"{a.group_code}-{a.carc}" in deciding),
        lines[0].line_no if lines else None,
    )
    line = next((x for x in lines if x.line_no == line_no), None)
    codes = ", ".join(categorization.codes)
    return Proposal(
        action=categorization.action,
        line_no=line_no,
        procedure_code=line.procedure_code if line else None,
        modifiers=list(line.modifiers[:4]) if line else [],
        note=f"{categorization.category.value.replace('_', ' ')} denial ({codes})" if codes else "",
    )
