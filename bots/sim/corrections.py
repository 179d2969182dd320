"""Corrected-claim and reconsideration requests, as every simulated payer portal takes them: a
form checked against the portal's own claims, each accepted form recorded under the portal's
own reference number (never deduplicated), and a list of what a user has sent.

Each portal words the form its own way (`Wording`), and its error messages name fields by the
portal's labels; each makes its own reference numbers (`RequestDesk.reference`). A
server-rendered portal adds its screens with `add_pages` (POST, 303, then the request's page);
the single-page app builds its own over a JSON API."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from bots.sim.portal import SimPortal
from bots.sim.store import Claim, Submission

KINDS = ("corrected", "reconsideration")
FIELDS = ("kind", "claim_number", "line", "procedure_code", "modifiers", "reason", "your_reference")
PROCEDURE_CODE = re.compile(r"[0-9]{5}|[A-Z][0-9]{4}")  # CPT: 5 digits; HCPCS Level II: a letter, 4 digits
MODIFIER = re.compile(r"[A-Z0-9]{2}")
LINE_NUMBER = re.compile(r"0*[1-9][0-9]{0,2}")  # ASCII digits only: int() takes others too
MAX_MODIFIERS, MAX_REASON, MAX_YOUR_REFERENCE = 4, 500, 40
STATUS = "Received"  # no request is worked: the portal only receives them


@dataclass(frozen=True)
class Wording:
    """A portal's words for its form: the label of each field (FIELDS), the text of each
    request type's option, and what its list calls each type."""

    labels: dict[str, str]
    options: dict[str, str]
    kinds: dict[str, str]


@dataclass(frozen=True)
class Accepted:
    """A form that passed every check, its values as they are stored."""

    kind: str
    claim_number: str
    line_no: int
    procedure_code: str | None
    modifiers: str | None
    reason: str
    your_reference: str | None


Problems = list[tuple[str, str]]  # (field, message naming the field by its label)


def form_values(source: Mapping[str, Any]) -> dict[str, str]:
    """The form's fields as text, from a posted form, a query string or a JSON body."""
    return {name: "" if source.get(name) is None else str(source.get(name)) for name in FIELDS}


class RequestDesk:
    """One portal's requests. `reference(id, local time)` makes its reference numbers;
    `claim_number` turns what a user typed into the data set's claim number (a portal whose
    claim references carry a prefix accepts it) and `show_claim` back into the portal's way of
    writing it; `time_format` is how its pages show a time (the portal's time zone)."""

    def __init__(
        self,
        sim: SimPortal,
        wording: Wording,
        reference: Callable[[int, dt.datetime], str],
        time_format: str,
        claim_number: Callable[[str], str] = str.strip,
        show_claim: Callable[[str], str] = str,
    ) -> None:
        self.sim, self.wording, self.reference, self.time_format = sim, wording, reference, time_format
        self.claim_number, self.show_claim = claim_number, show_claim

    # -- checking a form -----------------------------------------------------------------------
    def claim_lines(self, claim_number: str) -> list[int] | None:
        """The line numbers of the portal's claim, or None if it has no such claim."""
        claims = self.sim.claims_where(Claim.claim_number == claim_number) if claim_number else []
        return sorted({line["line_no"] for c in claims for line in c["lines"]}) if claims else None

    def check(self, values: Mapping[str, str]) -> Accepted | Problems:
        """The request to record, or what is wrong with the form, field by field in form order."""
        label, problems = self.wording.labels, []

        def problem(name: str, message: str) -> None:
            problems.append((name, f"{label[name]}: {message}"))

        kind = values["kind"].strip()
        if kind not in KINDS:
            problem("kind", f"choose {self.wording.options['corrected']} or {self.wording.options['reconsideration']}.")

        typed = values["claim_number"].strip()
        claim_number = self.claim_number(typed)
        lines = self.claim_lines(claim_number)
        if not typed:
            problem("claim_number", "enter the payer's claim number.")
        elif lines is None:
            problem("claim_number", f"no claim {typed} was found.")

        line_text, line_no = values["line"].strip(), 0
        if not LINE_NUMBER.fullmatch(line_text):
            problem("line", "enter the number of a service line of the claim (1, 2, …).")
        else:
            line_no = int(line_text)
            if lines is not None and line_no not in lines:
                have = ", ".join(map(str, lines))
                problem("line", f"claim {self.show_claim(claim_number)} has no line {line_no} (its lines: {have}).")

        code = values["procedure_code"].strip().upper()
        if code and not PROCEDURE_CODE.fullmatch(code):
            problem("procedure_code", "enter a CPT code (5 digits) or a HCPCS code (a letter and 4 digits).")

        modifiers = [m.strip().upper() for m in values["modifiers"].split(",") if m.strip()]
        if not all(MODIFIER.fullmatch(m) for m in modifiers) or len(modifiers) > MAX_MODIFIERS:
            problem(
                "modifiers",
                f"enter up to {MAX_MODIFIERS} two-character modifiers separated by commas (e.g. 25, 59).",
            )
        if kind == "corrected" and not code and not modifiers:
            both = f"{label['procedure_code']} or {label['modifiers']}"
            problems.append(("procedure_code", f"{both}: a corrected claim needs at least one of them."))

        reason = values["reason"].replace("\r\n", "\n").strip()
        if not reason:
            problem("reason", "say why you are sending this request.")
        elif len(reason) > MAX_REASON:
            problem("reason", f"at most {MAX_REASON} characters ({len(reason)} entered).")

        your_reference = values["your_reference"].strip()
        if len(your_reference) > MAX_YOUR_REFERENCE:
            problem("your_reference", f"at most {MAX_YOUR_REFERENCE} characters ({len(your_reference)} entered).")

        if problems:
            return problems
        return Accepted(
            kind=kind,
            claim_number=claim_number,
            line_no=line_no,
            procedure_code=code or None,
            modifiers=",".join(modifiers) or None,
            reason=reason,
            your_reference=your_reference or None,
        )

    # -- records -------------------------------------------------------------------------------
    def record(self, user_id: int, accepted: Accepted) -> Submission:
        """A new request under a new reference number: the same form twice is two requests."""
        with self.sim.store.session() as s, s.begin():
            row = Submission(
                reference=f"pending-{secrets.token_hex(8)}",  # until the id it is made of exists
                user_id=user_id,
                submitted_at=self.sim.utcnow(),
                kind=accepted.kind,
                claim_number=accepted.claim_number,
                line_no=accepted.line_no,
                procedure_code=accepted.procedure_code,
                modifiers=accepted.modifiers,
                reason=accepted.reason,
                your_reference=accepted.your_reference,
            )
            s.add(row)
            s.flush()
            row.reference = self.reference(row.id, self.local(row))
        return row

    def mine(self, user_id: int, claim: str = "") -> list[Submission]:
        """The user's requests, newest first; with `claim`, only that claim's."""
        query = select(Submission).where(Submission.user_id == user_id)
        if claim.strip():
            query = query.where(Submission.claim_number == self.claim_number(claim.strip()))
        with self.sim.store.session() as s:
            return list(s.scalars(query.order_by(Submission.id.desc())).all())

    def one(self, user_id: int, submission_id: int) -> Submission | None:
        """One of the user's requests (another user's is not found)."""
        with self.sim.store.session() as s:
            row = s.get(Submission, submission_id)
        return row if row is not None and row.user_id == user_id else None

    # -- showing them --------------------------------------------------------------------------
    def local(self, row: Submission) -> dt.datetime:
        return row.submitted_at.replace(tzinfo=dt.UTC).astimezone(self.sim.tz)

    def shown(self, row: Submission) -> dict[str, Any]:
        """A request as the portal's pages show it."""
        return {
            "id": row.id,
            "reference": row.reference,
            "kind": row.kind,
            "kind_text": self.wording.kinds[row.kind],
            "claim_number": self.show_claim(row.claim_number),
            "line": row.line_no,
            "procedure_code": row.procedure_code or "",
            "modifiers": (row.modifiers or "").replace(",", ", "),
            "reason": row.reason,
            "your_reference": row.your_reference or "",
            "submitted": self.local(row).strftime(self.time_format),
            "status": STATUS,
        }


@dataclass(frozen=True)
class Pages:
    """Where a server-rendered portal puts its request screens, all behind its sign-in."""

    form: str  # GET: the form; ?claim=…&line=… fill those fields in
    submit: str  # POST: the form's action; 303 to the request's page, or the form again with 422
    received: str  # GET {received}/{id}: one request of the user's, the confirmation after a submit
    listing: str  # GET: the user's requests, newest first; ?claim=… only that claim's


def add_pages(desk: RequestDesk, page: Callable[..., Response], paths: Pages) -> None:
    """The form, the request's page and the list, rendered from the skin's templates
    request_form.html, request_received.html and requests.html (`page(request, name, status, **ctx)`)."""
    sim, app = desk.sim, desk.sim.app

    def form_page(request: Request, values: dict[str, str], problems: Problems, status: int) -> Response:
        ids = {name: f"problem-{i}" for i, (name, _) in enumerate(problems, 1)}
        return page(request, "request_form.html", status, form=values, problems=problems, invalid=ids, w=desk.wording)

    @app.get(paths.form)
    def request_form(request: Request, claim: str = "", line: str = "", kind: str = "") -> Response:
        sess = sim.current(request)
        if isinstance(sess, Response):
            return sess
        return form_page(request, form_values({"kind": kind, "claim_number": claim, "line": line}), [], 200)

    @app.post(paths.submit)
    def submit_request(
        request: Request,
        kind: str = Form(""),
        claim_number: str = Form(""),
        line: str = Form(""),
        procedure_code: str = Form(""),
        modifiers: str = Form(""),
        reason: str = Form(""),
        your_reference: str = Form(""),
    ) -> Response:
        sess = sim.current(request)
        if isinstance(sess, Response):
            return sess
        values = {
            "kind": kind,
            "claim_number": claim_number,
            "line": line,
            "procedure_code": procedure_code,
            "modifiers": modifiers,
            "reason": reason,
            "your_reference": your_reference,
        }
        checked = desk.check(values)
        if isinstance(checked, list):
            return form_page(request, values, checked, 422)
        row = desk.record(sess.user_id, checked)
        return RedirectResponse(f"{paths.received}/{row.id}", 303)

    @app.get(paths.received + "/{submission_id}")
    def request_received(request: Request, submission_id: int) -> Response:
        sess = sim.current(request)
        if isinstance(sess, Response):
            return sess
        row = desk.one(sess.user_id, submission_id)
        if row is None:
            return sim.message(request, 404, "Request not found", "That request is not available.")
        return page(request, "request_received.html", r=desk.shown(row), w=desk.wording)

    @app.get(paths.listing)
    def requests_list(request: Request, claim: str = "") -> Response:
        sess = sim.current(request)
        if isinstance(sess, Response):
            return sess
        rows = [desk.shown(row) for row in desk.mine(sess.user_id, claim)]
        return page(request, "requests.html", requests=rows, claim=claim.strip(), w=desk.wording)
