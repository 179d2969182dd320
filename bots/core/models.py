"""Domain models shared by every room: what a worklist item is, what a portal says about a claim,
and the closed set of outcomes one check can have."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

# X12 277 Claim Status Category Codes (STC01-1) that a portal status may map to.
CATEGORY_PATTERN = r"^(A[0-8]|P[0-5]|F[0-4]|F3F|F3N|R(1[0-6]|[0-9])|E[0-4]|D0)$"

# Short names for summaries (shared/domain/rcm-brief.md, section 1); R and E codes by family.
CATEGORY_NAMES = {
    "A0": "forwarded",
    "A1": "received",
    "A2": "accepted into adjudication",
    "A3": "returned unprocessable",
    "A4": "not found by payer",
    "A5": "split on acceptance",
    "A6": "rejected: missing information",
    "A7": "rejected: invalid information",
    "A8": "rejected: relational error",
    "P0": "pending",
    "P1": "in process",
    "P2": "payer review",
    "P3": "waiting on provider information",
    "P4": "waiting on patient information",
    "P5": "administrative hold",
    "F0": "finalized",
    "F1": "paid",
    "F2": "denied",
    "F3": "revised",
    "F4": "finalized, no payment",
    "D0": "data search unsuccessful",
    "R": "information requested",
    "E": "request error",
}


def category_name(code: str) -> str:
    family = code[0] if code[0] in "RE" else code
    return CATEGORY_NAMES.get(code, CATEGORY_NAMES.get(family, ""))


class Outcome(StrEnum):
    """Every check ends in exactly one of these."""

    STATUS = "status"  # the portal's status text mapped to a 277 category
    UNMAPPED = "unmapped"  # the claim was read, but its status text is not in the mapping
    NOT_FOUND = "not_found"  # the search returned no claim
    AMBIGUOUS = "ambiguous"  # several claims (or none of several) matched the item
    ERROR = "error"  # the portal could not be worked; retried and gave up
    DEFERRED = "deferred"  # not checked now (maintenance, a terms page for a person); next sweep
    MANUAL = "manual"  # no portal may be automated for this payer: a person checks it


class FailureKind(StrEnum):
    """Why a check failed (ERROR) or was not made (DEFERRED, MANUAL): kept on the history row and
    matched by follow-up rules (`when: {failures: [...]}`), so one kind of trouble is told from another."""

    # application failures: the portal or the machine was in trouble; retried, then failed
    TIMEOUT = "timeout"  # a page did not answer within the navigation timeout
    PORTAL_ERROR = "portal_error"  # HTTP 5xx or the portal's own error page
    RATE_LIMITED = "rate_limited"  # HTTP 429 past the retries
    SESSION = "session"  # the session kept ending
    UNREADABLE = "unreadable"  # a screen could not be read (layout drift, missing fields)
    BROWSER = "browser"  # the browser went away too often
    UNEXPECTED = "unexpected"  # an error nobody foresaw (bad data, a bug): see the run's logs
    # business failures: retrying cannot help; a person acts or the item waits
    REJECTED = "rejected"  # the portal refused the search or the data
    CREDENTIALS_REFUSED = "credentials_refused"  # password, MFA code or mailbox token refused
    NEEDS_PERSON = "needs_person"  # a terms page reserved for a person
    PORTAL_HELD = "portal_held"  # the portal waits for `rcmbot portal resume`
    CIRCUIT_OPEN = "circuit_open"  # too many failed claims in a row: the rest of the run waits
    MAINTENANCE = "maintenance"  # a maintenance window, or a Retry-After too long to wait (429 or 503)
    SELECTORS_BROKEN = "selectors_broken"  # the latest selectors check of the portal failed
    NO_CREDENTIALS = "no_credentials"  # the portal's credentials are not available here
    NO_PORTAL = "no_portal"  # no portal may be automated for the payer now


APPLICATION_FAILURES = frozenset(
    {
        FailureKind.TIMEOUT,
        FailureKind.PORTAL_ERROR,
        FailureKind.RATE_LIMITED,
        FailureKind.SESSION,
        FailureKind.UNREADABLE,
        FailureKind.BROWSER,
        FailureKind.UNEXPECTED,
    }
)


class Role(StrEnum):
    """What a console user may do. Roles are checked on the server for every request."""

    ADMIN = "admin"  # manages users and settings; decides nothing
    SUPERVISOR = "supervisor"  # approves, rejects, returns review tasks
    CODER = "coder"  # edits proposed decisions, answers returned tasks; never approves
    AUDITOR = "auditor"  # reads


def summary_key(outcome: str, category: str | None) -> str:
    """The key a check counts under in summaries: its 277 category, else its outcome."""
    return category if outcome == Outcome.STATUS and category else outcome


class ItemRef(BaseModel):
    """What a bot needs to find one worklist item's claim in a portal."""

    id: int
    payer_id: str
    account_number: str
    member_id: str
    dos_from: dt.date
    dos_to: dt.date
    billed_cents: int
    payer_claim_number: str | None = None


class ServiceLine(BaseModel):
    line_no: int
    procedure_code: str
    modifiers: list[str] = Field(default_factory=list)
    diagnosis_pointers: str = ""
    units: int = 1
    billed_cents: int
    paid_cents: int = 0


class Adjustment(BaseModel):
    """One adjustment from the remittance: group code, CARC and optional RARC."""

    line_no: int | None = None
    group_code: str
    carc: str
    carc_description: str = ""
    rarc: str | None = None
    rarc_description: str | None = None
    amount_cents: int = 0


# What may identify a claim among search results (the registry's `match_on`). The payer claim
# number decides alone when the worklist knows it; the other fields otherwise, together.
MatchField = Literal["claim_number", "account_number", "dos", "billed"]
MATCH_FIELDS: tuple[MatchField, ...] = ("claim_number", "account_number", "dos", "billed")


class ResultRow(BaseModel):
    """One row of a portal's search results; None where the portal does not show a field."""

    claim_number: str | None = None
    account_number: str | None = None
    dos_from: dt.date | None = None
    dos_to: dt.date | None = None
    billed_cents: int | None = None
    status_text: str | None = None

    def is_item(self, item: ItemRef, match_on: Sequence[MatchField] = MATCH_FIELDS) -> bool:
        """Whether this row is the item's claim: by payer claim number when the worklist knows it
        and `match_on` has it, else by every other field of `match_on`."""
        if item.payer_claim_number and "claim_number" in match_on:
            return self.claim_number == item.payer_claim_number
        fields = [self._compare(f, item) for f in match_on if f != "claim_number"]
        return bool(fields) and all(mine == theirs for mine, theirs in fields)

    def shown(self, match_on: Sequence[MatchField]) -> list[MatchField]:
        """The fields of `match_on` this row shows (a detail page may show fewer than results)."""
        return [f for f in match_on if self._compare(f, None)[0] not in (None, (None, None))]

    def _compare(self, field: MatchField, item: ItemRef | None) -> tuple[object, object]:
        """(this row's value, the item's) of one `match_on` field."""
        if field == "claim_number":
            return self.claim_number, item and item.payer_claim_number
        if field == "account_number":
            return self.account_number, item and item.account_number
        if field == "dos":
            return (self.dos_from, self.dos_to), item and (item.dos_from, item.dos_to)
        return self.billed_cents, item and item.billed_cents


class ClaimDetail(BaseModel):
    """The claim detail screen, parsed; None where the portal does not show a field."""

    payer_claim_number: str
    account_number: str | None = None
    dos_from: dt.date | None = None
    dos_to: dt.date | None = None
    status_text: str
    status_date: dt.date | None = None
    billed_cents: int | None = None
    allowed_cents: int | None = None
    paid_cents: int | None = None
    patient_resp_cents: int | None = None
    check_number: str | None = None
    check_date: dt.date | None = None
    lines: list[ServiceLine] = Field(default_factory=list)
    adjustments: list[Adjustment] = Field(default_factory=list)

    def as_row(self) -> ResultRow:
        """The fields a results row would show, to tell whether a detail is an item's claim."""
        return ResultRow(
            claim_number=self.payer_claim_number or None,
            account_number=self.account_number,
            dos_from=self.dos_from,
            dos_to=self.dos_to,
            billed_cents=self.billed_cents,
            status_text=self.status_text,
        )

    @property
    def carcs(self) -> list[str]:
        return sorted({a.carc for a in self.adjustments if a.group_code != "PR"})

    @property
    def rarcs(self) -> list[str]:
        return sorted({a.rarc for a in self.adjustments if a.rarc})


class CheckResult(BaseModel):
    """What one claim-status check found. Evidence is referenced by content hash."""

    outcome: Outcome
    category: str | None = Field(None, pattern=CATEGORY_PATTERN)
    status_code: str | None = None
    status_text: str | None = None
    detail: ClaimDetail | None = None
    evidence: list[str] = Field(default_factory=list)
    matches: int = 0
    error: str | None = None
    failure: FailureKind | None = None  # why it failed or was not made (ERROR, DEFERRED, MANUAL)
