"""What the review pages show and accept, apart from the routes: the queue's filters read from a
query string, a task's facts laid out for reading, and the proposal form turned into a Proposal
or into the named problems of the form as typed (so the page comes back with the input kept)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError

from bots.core.money import format_cents
from bots.denials import NextAction
from bots.evidence.index import EvidenceIndex
from bots.review import OPEN_STATES, Proposal, QueueFilter, State, Task

IMAGES = ("png", "jpg")
MAX_AGE_DAYS = 36_500  # the evidence store's image extensions
STATE_TABS = {
    "open": (State.PENDING, State.RETURNED, State.APPLY_FAILED),
    "approved": (State.APPROVED,),
    "closed": (State.APPLIED, State.REJECTED, State.RESOLVED),
}
ACTION_LABELS = {
    NextAction.CORRECTED_CLAIM: "Corrected claim (frequency 7)",
    NextAction.APPEAL: "Reconsideration / appeal",
    NextAction.NEW_ORIGINAL_CLAIM: "New original claim (billing system)",
    NextAction.SEND_RECORDS: "Send records",
    NextAction.RETRO_AUTHORIZATION: "Retro-authorization",
    NextAction.FIX_COB: "Fix coordination of benefits",
    NextAction.VERIFY_ELIGIBILITY: "Verify eligibility",
    NextAction.WRITE_OFF_REVIEW: "Write-off review",
    NextAction.NONE: "Nothing to submit (resolve by hand)",
}


def number(text: str, most: int = 2**62) -> int | None:
    """A whole number typed or sent as ASCII digits, at most `most`; None for anything else
    (str.isdigit admits '²' and '٣', which int() refuses or reads as another number)."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or int(text) > most:
        return None
    return int(text)


@dataclass
class QueueQuery:
    """The queue's filters as the query string carries them (no PHI: ids, codes and names of
    payers, categories and users only)."""

    tab: str = "open"
    payer: str = ""
    category: str = ""
    assignee: str = ""
    older: int | None = None
    after: tuple[int, int] | None = None

    @classmethod
    def parse(cls, params: dict[str, str]) -> QueueQuery:
        priority, _, task_id = params.get("after", "").partition(":")
        after = number(priority), number(task_id)
        return cls(
            tab=params.get("tab", "open") if params.get("tab") in STATE_TABS else "open",
            payer=params.get("payer", "")[:32],
            category=params.get("category", "")[:40],
            assignee=params.get("assignee", "")[:64],
            older=number(params.get("older", ""), MAX_AGE_DAYS),
            after=(after[0], after[1]) if after[0] is not None and after[1] is not None else None,
        )

    @property
    def filter(self) -> QueueFilter:
        return QueueFilter(
            states=STATE_TABS[self.tab],
            payer_id=self.payer or None,
            category=self.category or None,
            assignee=self.assignee or None,
            older_than_days=self.older,
        )

    def query(self, **changes: Any) -> str:
        """This query string with `changes` (None removes a key), for links and the pager."""
        values = {"tab": self.tab, "payer": self.payer, "category": self.category, "assignee": self.assignee}
        values |= {"older": str(self.older) if self.older is not None else ""}
        values |= {k: "" if v is None else str(v) for k, v in changes.items()}
        return urlencode({k: v for k, v in values.items() if v and not (k == "tab" and v == "open")})


def sla(task: Task, now: dt.datetime) -> tuple[str, str]:
    """(badge class, words) for the task's due date at a glance."""
    if task.state not in OPEN_STATES:
        return "muted", "done"
    left = task.due_at - now
    hours = left.total_seconds() / 3600
    if hours < 0:
        return "bad", f"overdue {int(-hours // 24)}d {int(-hours % 24)}h"
    if hours < 24:
        return "warn", f"due in {int(hours)}h"
    return "ok", f"due in {int(hours // 24)}d"


def split_evidence(index: EvidenceIndex, shas: list[str]) -> tuple[list[str], list[str]]:
    """(screenshots, snapshots) among a check's evidence, by the stored file's kind."""
    found = index.find_many(shas)
    images = [sha for sha in shas if sha in found and found[sha].media_type.startswith("image/")]
    return images, [sha for sha in shas if sha not in images]


def proposed(task: Task) -> str:
    """The proposed action in words, for the queue."""
    return ACTION_LABELS[Proposal.model_validate_json(task.proposal_json).action]


def days_left(task: Task, today: dt.date) -> int | None:
    return None if task.filing_deadline is None else (task.filing_deadline - today).days


@dataclass
class Facts:
    """What the check read, for the task page (portal text stays text: the template escapes it)."""

    status_text: str | None
    category: str | None
    status_code: str | None
    outcome: str
    amounts: list[tuple[str, str]]
    lines: list[dict[str, Any]]
    adjustments: list[dict[str, Any]]

    @classmethod
    def of(cls, task: Task) -> Facts:
        facts = json.loads(task.facts_json or "{}")
        detail = facts.get("detail") or {}
        amounts = [
            (label, format_cents(detail[key]))
            for label, key in (
                ("Billed", "billed_cents"),
                ("Allowed", "allowed_cents"),
                ("Paid", "paid_cents"),
                ("Patient responsibility", "patient_resp_cents"),
            )
            if detail.get(key) is not None
        ]
        return cls(
            status_text=facts.get("status_text"),
            category=facts.get("category"),
            status_code=facts.get("status_code"),
            outcome=facts.get("outcome", ""),
            amounts=amounts,
            lines=detail.get("lines", []),
            adjustments=detail.get("adjustments", []),
        )


@dataclass
class ProposalForm:
    """The proposal as typed, and what is wrong with it by field."""

    values: dict[str, str]
    problems: dict[str, str] = field(default_factory=dict)
    proposal: Proposal | None = None

    FIELDS = ("action", "line_no", "procedure_code", "modifiers", "note")

    @classmethod
    def of(cls, proposal: Proposal) -> ProposalForm:
        return cls(
            values={
                "action": proposal.action.value,
                "line_no": "" if proposal.line_no is None else str(proposal.line_no),
                "procedure_code": proposal.procedure_code or "",
                "modifiers": ", ".join(proposal.modifiers),
                "note": proposal.note,
            },
            proposal=proposal,
        )

    @classmethod
    def read(cls, form: dict[str, str]) -> ProposalForm:
        values = {name: str(form.get(name, "")).strip() for name in (*cls.FIELDS, "edit_reason")}
        found = cls(values)
        line = number(values["line_no"], 999)
        if values["line_no"] and line is None:
            found.problems["line_no"] = "a line number, such as 1 or 2"
        data = {
            "action": values["action"],
            "line_no": line,
            "procedure_code": values["procedure_code"].upper() or None,
            "modifiers": [m.strip().upper() for m in values["modifiers"].split(",") if m.strip()],
            "note": values["note"],
        }
        try:
            found.proposal = Proposal.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors():
                name = str(error["loc"][0]) if error["loc"] else "action"
                found.problems.setdefault(name, _plain(error))
        if found.proposal is not None:
            for name, problem in found.proposal.problems().items():
                found.problems.setdefault(name, problem)
        if found.problems:
            found.proposal = None
        return found


def _plain(error: Any) -> str:
    """A pydantic error in words for the form."""
    field_name = str(error["loc"][0]) if error["loc"] else ""
    if field_name == "procedure_code":
        return "a CPT code (5 digits) or a HCPCS code (a letter and 4 digits)"
    if field_name == "action":
        return "choose one of the listed actions"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")
