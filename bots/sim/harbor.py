"""The simulated clearinghouse "Harbor": one login for several payers. Sign-in codes are
e-mailed to a simulated mailbox (GET /mailbox, bearer token). A batch inquiry takes one payer
chosen from a list and up to ten claims; the answer gives each claim's 277 category and status
codes with their descriptions, one row per claim found, or A4 "not found"."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import and_, select

from bots.sim.codes import CATEGORY_277, NOT_FOUND_277, STATUS_277, STATUS_CODE_277
from bots.sim.dataset import PAYERS
from bots.sim.portal import PortalConfig, SimPortal, parse_date
from bots.sim.store import BatchInquiry, Claim, Mailbox, MailMessage, PortalSession, check_password
from bots.sim.witness import Asking, ClaimAsked

DATE_FORMAT = "%m/%d/%Y"
PATHS = {"login": "/login", "mfa": "/verify", "ready": "/inquiry"}
PAYER_IDS = ["MDWST", "PRAIR", "BSTM1"]
BATCH_LINES = 10
LINE_FIELDS = ("claim_number", "member_id", "dos_from", "dos_to")


def create_app(cfg: PortalConfig) -> FastAPI:
    sim = SimPortal(cfg, "Harbor Clearinghouse", PAYER_IDS, "hb_session", PATHS, DATE_FORMAT)
    app, page = sim.app, sim.page
    payers = [PAYERS[p] for p in PAYER_IDS]

    def send_code(user_id: int, token: str) -> None:
        message = MailMessage(
            user_id=user_id,
            session_token=token,
            reference="".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(4)),
            code=f"{secrets.randbelow(10**6):06d}",
            sent_at=sim.utcnow(),
        )
        with sim.store.session() as s, s.begin():
            s.add(message)

    def latest_code(sess: PortalSession) -> MailMessage | None:
        """The code mailed for this sign-in last: only that one is accepted."""
        with sim.store.session() as s:
            return s.scalar(
                select(MailMessage)
                .where(MailMessage.session_token == sess.token)
                .order_by(MailMessage.id.desc())
                .limit(1)
            )

    def verify_page(request: Request, sess: PortalSession, status: int = 200, error: str | None = None) -> Response:
        latest = latest_code(sess)
        with sim.store.session() as s:
            mailbox = s.get(Mailbox, sess.user_id)
        if latest is None or mailbox is None:
            return sim.message(request, 500, "Sign-in code unavailable", "No e-mail address is on file.")
        user, domain = mailbox.address.split("@")
        return page(
            request,
            "harbor/verify.html",
            status,
            error=error,
            reference=latest.reference,
            address=f"{user[0]}***@{domain}",
            ttl_min=max(1, round(cfg.mail_code_ttl_s / 60)),
        )

    @app.get("/")
    def root() -> RedirectResponse:
        return RedirectResponse("/inquiry", 303)

    @app.get("/login")
    def login_form(request: Request, expired: int = 0) -> Response:
        return page(request, "harbor/login.html", notice="Your session timed out. Log in again." if expired else None)

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        user = sim.authenticate(request, str(form.get("user", "")), str(form.get("pass", "")))
        if user is None:
            return page(request, "harbor/login.html", 401, error="Invalid username or password.")
        token = sim.start_session(user.id, "mfa")
        send_code(user.id, token)
        return sim.with_cookie(RedirectResponse("/verify", 303), token)

    @app.get("/verify")
    def verify_form(request: Request) -> Response:
        sess = sim.current(request, "mfa")
        return sess if isinstance(sess, Response) else verify_page(request, sess)

    @app.post("/verify")
    async def verify(request: Request) -> Response:
        sess = sim.current(request, "mfa")
        if isinstance(sess, Response):
            return sess
        code = str((await request.form()).get("mailcode", "")).strip()
        oldest = sim.utcnow() - dt.timedelta(seconds=cfg.mail_code_ttl_s)
        latest = latest_code(sess)
        valid = latest is not None and latest.sent_at >= oldest and secrets.compare_digest(latest.code, code)
        if not sim.code_accepted(request, valid):
            return verify_page(request, sess, 401, "That code is not valid or has expired.")
        return sim.advance(sess.token, sess.user_id, terms=False)

    @app.get("/mailbox")
    def mailbox(request: Request) -> Response:
        """The simulated inbox: newest message first. Not a portal page: no latency, no
        transient faults; each read is a sign-in step in the witness log."""
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        with sim.store.session() as s:
            box = next((b for b in s.scalars(select(Mailbox)) if token and check_password(token, b.token_hash)), None)
            owner = sim.user(box.user_id).username if box is not None else None
            if box is None or sim.faults.profile.wrong_mailbox_token:
                reason = "mailbox token refused (fault)" if box is not None else "unknown mailbox token"
                sim.witness.login_now(owner, "mailbox", "refused", reason, 401)
                return HTMLResponse(
                    "<h1>401 Unauthorized</h1>", 401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
                )
            messages = s.scalars(
                select(MailMessage).where(MailMessage.user_id == box.user_id).order_by(MailMessage.id.desc()).limit(20)
            ).all()
        sim.witness.login_now(owner, "mailbox", "ok", None, 200)
        return page(request, "harbor/mailbox.html", address=box.address, messages=messages)

    @app.get("/inquiry")
    def inquiry_form(request: Request) -> Response:
        sess = sim.current(request)
        return (
            sess
            if isinstance(sess, Response)
            else page(request, "harbor/inquiry.html", payers=payers, lines=range(1, BATCH_LINES + 1), form={})
        )

    @app.post("/inquiry")
    async def inquire(request: Request) -> Response:
        sess = sim.current(request)
        if isinstance(sess, Response):
            return sess
        form = {k: str(v).strip() for k, v in (await request.form()).items()}
        lines, error = [], None
        for n in range(1, BATCH_LINES + 1):
            line = {f: form.get(f"{f}_{n}", "") for f in LINE_FIELDS}
            if not any(line.values()):
                continue
            dates = [parse_date(line["dos_from"], DATE_FORMAT), parse_date(line["dos_to"], DATE_FORMAT)]
            if not line["claim_number"] and not (line["member_id"] and all(dates)):
                error = f"Line {n}: enter a payer claim number, or a member ID with service dates (MM/DD/YYYY)."
                break
            lines.append({"line": n, **line})
        if form.get("payer") not in PAYER_IDS:
            error = "Choose a payer."
        elif not lines and error is None:
            error = "Enter at least one claim."
        if error:
            return page(
                request,
                "harbor/inquiry.html",
                400,
                payers=payers,
                lines=range(1, BATCH_LINES + 1),
                form=form,
                error=error,
            )
        with sim.store.session() as s, s.begin():
            batch = BatchInquiry(
                user_id=sess.user_id, payer_id=form["payer"], lines=json.dumps(lines), submitted_at=sim.utcnow()
            )
            s.add(batch)
            s.flush()
            batch_id = batch.id
        return RedirectResponse(f"/inquiry/{batch_id}", 303)

    def answer(payer_id: str, line: dict[str, str]) -> list[dict[str, Any]]:
        """The 277 rows for one inquiry line: each claim found, or one "not found" row."""
        if line["claim_number"]:
            where: Any = Claim.claim_number == line["claim_number"]
        else:
            first, last = parse_date(line["dos_from"], DATE_FORMAT), parse_date(line["dos_to"], DATE_FORMAT)
            where = and_(Claim.member_id == line["member_id"], Claim.dos_from <= last, Claim.dos_to >= first)
        found = [c for c in sim.claims_where(where) if c["payer_id"] == payer_id]
        if not found:
            category, code = NOT_FOUND_277
            return [
                {
                    "line": line["line"],
                    "claim_number": line["claim_number"],
                    "category": category,
                    "category_description": CATEGORY_277[category],
                    "status_code": code,
                    "status_description": STATUS_CODE_277[code],
                }
            ]
        rows = []
        for c in found:
            category, code = STATUS_277[c["status_text"]]
            rows.append(
                {
                    **c,
                    "line": line["line"],
                    "category": category,
                    "category_description": CATEGORY_277[category],
                    "status_code": code,
                    "status_description": STATUS_CODE_277[code],
                }
            )
        return rows

    @app.get("/inquiry/{batch_id}")
    def responses(request: Request, batch_id: int) -> Response:
        sess = sim.current(request)
        if isinstance(sess, Response):
            return sess
        with sim.store.session() as s:
            batch = s.get(BatchInquiry, batch_id)
        if batch is None or batch.user_id != sess.user_id:
            return sim.message(request, 404, "Inquiry not found", "That inquiry is not available.")
        lines = json.loads(batch.lines)
        return page(
            request,
            "harbor/responses.html",
            inquiry_id=batch_id,
            payer=PAYERS[batch.payer_id],
            lines=len(lines),
            rows=[r for line in lines for r in answer(batch.payer_id, line)],
            answered=sim.local_now(),
            missing=sim.missing_fields(request),
        )

    @app.get("/logout")
    def logout(request: Request) -> RedirectResponse:
        return sim.logout(request)

    witness(sim)
    return app


def witness(sim: SimPortal) -> None:
    """What the witness log records: both sign-in steps (the mailbox's reads it writes itself),
    each line of a batch inquiry sent, and each line again when its answers are shown."""
    sim.witness.login("POST", "/login", "password", lambda asking: asking.text("user"))
    sim.witness.login("POST", "/verify", "mfa")
    sim.witness.claims("POST", "/inquiry", batch_lines)
    sim.witness.claims("GET", "/inquiry/{batch_id}", lambda asking: batch_answers(sim, asking))


def batch_lines(asking: Asking) -> list[ClaimAsked]:
    payer = asking.text("payer")
    return [
        ClaimAsked("batch_line", payer_id=payer, **{f: asking.text(f"{f}_{n}") for f in LINE_FIELDS})
        for n in range(1, BATCH_LINES + 1)
        if any(asking.text(f"{f}_{n}") for f in LINE_FIELDS)
    ]


def batch_answers(sim: SimPortal, asking: Asking) -> list[ClaimAsked]:
    """The lines of the batch whose answers are asked for, as they were sent."""
    number = str(asking.path_params["batch_id"])
    with sim.store.session() as s:
        batch = s.get(BatchInquiry, int(number)) if number.isdigit() else None
    if batch is None:
        return [ClaimAsked("batch_answer")]
    return [
        ClaimAsked("batch_answer", payer_id=batch.payer_id, **{f: line[f] or None for f in LINE_FIELDS})
        for line in json.loads(batch.lines)
    ]
