"""The simulated portal's own database: users, sessions, terms acknowledgements, inquiries,
claims, the corrected-claim and reconsideration requests sent to it, and the witness log of
sign-ins and claims asked about. It survives restarts, like a real portal's records do."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String, Text, create_engine, delete, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from bots.sim.dataset import SimClaim


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_secret: Mapped[str | None] = mapped_column(String(64))


class PortalSession(Base):
    __tablename__ = "sessions"
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    stage: Mapped[str] = mapped_column(String(16))  # mfa -> terms -> ready
    last_seen: Mapped[dt.datetime] = mapped_column(DateTime)


class TermsAck(Base):
    __tablename__ = "terms_acks"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    local_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    acked_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Inquiry(Base):
    """Every search submitted to the portal, kept like a real portal's audit trail."""

    __tablename__ = "inquiries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    claim_number: Mapped[str | None] = mapped_column(String(32))
    member_id: Mapped[str | None] = mapped_column(String(32))
    dos_from: Mapped[dt.date | None] = mapped_column(Date)
    dos_to: Mapped[dt.date | None] = mapped_column(Date)
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime)


class BatchInquiry(Base):
    """A clearinghouse batch: one payer, up to ten inquiry lines (kept as JSON)."""

    __tablename__ = "batch_inquiries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    payer_id: Mapped[str] = mapped_column(String(16))
    lines: Mapped[str] = mapped_column(Text)
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Submission(Base):
    """A corrected-claim or reconsideration request, as the portal accepted it. Every accepted
    form is a record of its own: the portal does not deduplicate."""

    __tablename__ = "submissions"
    # Ids never come back after a reset (SQLite AUTOINCREMENT), nor do the references made of them.
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)  # the portal's own, e.g. CR-2026-000017
    kind: Mapped[str] = mapped_column(String(16))  # corrected | reconsideration
    claim_number: Mapped[str] = mapped_column(String(32), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    procedure_code: Mapped[str | None] = mapped_column(String(5))
    modifiers: Mapped[str | None] = mapped_column(String(16))  # "25,59": up to four, comma-separated
    reason: Mapped[str] = mapped_column(Text)
    your_reference: Mapped[str | None] = mapped_column(String(40))  # the submitter's own
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime)  # naive UTC

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "reference": self.reference,
            "kind": self.kind,
            "claim_number": self.claim_number,
            "line_no": self.line_no,
            "procedure_code": self.procedure_code,
            "modifiers": self.modifiers,
            "reason": self.reason,
            "your_reference": self.your_reference,
            "user_id": self.user_id,
            "submitted_at": self.submitted_at.isoformat() + "Z",
        }


class WitnessLogin(Base):
    """One sign-in step as the portal saw it: who, which step, and what it answered. Never the
    password or code: only whether it was accepted."""

    __tablename__ = "witness_logins"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime)  # naive UTC, the portal's clock
    username: Mapped[str | None] = mapped_column(String(64))  # None: a mailbox token matching nobody
    step: Mapped[str] = mapped_column(String(16))  # password | mfa | mailbox
    result: Mapped[str] = mapped_column(String(16))  # ok | refused | error (answered before judging)
    reason: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[int] = mapped_column(Integer)  # the HTTP status answered
    fault: Mapped[str | None] = mapped_column(String(32))  # the fault that answered or shaped it

    def view(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat() + "Z",
            "username": self.username,
            "step": self.step,
            "result": self.result,
            "reason": self.reason,
            "status": self.status,
            "fault": self.fault,
        }


class WitnessClaim(Base):
    """One claim asked about, with what identified it as the portal received it, and the HTTP
    status it answered: a faulted request counts, so "asked and failed" differs from "never asked"."""

    __tablename__ = "witness_claims"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime)  # naive UTC, the portal's clock
    username: Mapped[str | None] = mapped_column(String(64))  # None: no live session sent
    kind: Mapped[str] = mapped_column(String(16))  # search | results | detail | batch_line | batch_answer
    request: Mapped[str] = mapped_column(String(200))  # method and path, e.g. "GET /claims/c0000042"
    claim_number: Mapped[str | None] = mapped_column(String(40))
    account_number: Mapped[str | None] = mapped_column(String(40))
    member_id: Mapped[str | None] = mapped_column(String(40))
    dos_from: Mapped[str | None] = mapped_column(String(20))  # as typed, in the portal's own date format
    dos_to: Mapped[str | None] = mapped_column(String(20))
    claim_key: Mapped[str | None] = mapped_column(String(32))  # the claim opened (detail)
    payer_id: Mapped[str | None] = mapped_column(String(16))  # the payer a clearinghouse batch named
    status: Mapped[int] = mapped_column(Integer)
    fault: Mapped[str | None] = mapped_column(String(32))

    def view(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat() + "Z",
            "username": self.username,
            "kind": self.kind,
            "request": self.request,
            "claim_number": self.claim_number,
            "account_number": self.account_number,
            "member_id": self.member_id,
            "dos_from": self.dos_from,
            "dos_to": self.dos_to,
            "claim_key": self.claim_key,
            "payer_id": self.payer_id,
            "status": self.status,
            "fault": self.fault,
        }


class Mailbox(Base):
    """A simulated e-mail inbox that sign-in codes are sent to, opened with a bearer token."""

    __tablename__ = "mailboxes"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    address: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(200))


class MailMessage(Base):
    __tablename__ = "mail_messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    session_token: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str] = mapped_column(String(8))
    code: Mapped[str] = mapped_column(String(8))
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Claim(Base):
    __tablename__ = "claims"
    claim_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    claim_number: Mapped[str] = mapped_column(String(32), index=True)
    member_id: Mapped[str] = mapped_column(String(32), index=True)
    dos_from: Mapped[dt.date] = mapped_column(Date)
    dos_to: Mapped[dt.date] = mapped_column(Date)
    data: Mapped[str] = mapped_column(Text)

    def view(self) -> dict[str, Any]:
        return json.loads(self.data)


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"{salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    salt, _ = stored.split("$", 1)
    return hmac.compare_digest(hash_password(password, bytes.fromhex(salt)), stored)


def utcnow() -> dt.datetime:
    """Naive UTC, as SQLite stores it."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class PortalStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
        Base.metadata.create_all(self.engine)

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def seed_claims(self, claims: list[SimClaim]) -> None:
        """Load the data set once; a restarted portal keeps what it has."""
        with self.session() as s, s.begin():
            if s.scalar(select(Claim.claim_key).limit(1)) is not None:
                return
            for c in claims:
                s.add(
                    Claim(
                        claim_key=c.claim_key,
                        claim_number=c.claim_number,
                        member_id=c.member_id,
                        dos_from=c.dos_from,
                        dos_to=c.dos_to,
                        data=json.dumps(asdict(c), default=str),
                    )
                )

    def upsert_user(
        self, username: str, password: str, totp_secret: str | None, mailbox_token: str | None = None
    ) -> None:
        """Create or reset a user; with a mailbox token, sign-in codes go to their mailbox."""
        with self.session() as s, s.begin():
            user = s.scalar(select(User).where(User.username == username)) or User(username=username)
            user.password_hash = hash_password(password)
            user.totp_secret = totp_secret
            s.add(user)
            s.flush()
            if mailbox_token:
                s.merge(
                    Mailbox(
                        user_id=user.id,
                        address=f"{username}@harbor-mail.example.test",
                        token_hash=hash_password(mailbox_token),
                    )
                )

    def set_password(self, username: str, password: str) -> bool:
        """Change an existing user's password and end their sessions, as a portal does when an
        administrator changes it; False if there is no such user."""
        with self.session() as s, s.begin():
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                return False
            user.password_hash = hash_password(password)
            s.execute(delete(PortalSession).where(PortalSession.user_id == user.id))
            return True
