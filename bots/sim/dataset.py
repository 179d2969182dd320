"""A deterministic synthetic data set: the portal's claims and the worklist that chases them.

Both sides come from one seed, so the demo's worklist and the portal always agree, and a test
can know what each item's check must find. No real person, payer or claim is in here.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bots.sim.codes import (
    CARC,
    CODING_DENIALS,
    FIRST_NAMES,
    LAST_NAMES,
    OTHER_DENIALS,
    PROCEDURES,
    RARC,
)

ANCHOR = dt.date(2026, 10, 1)  # fixed, so the data set never depends on today's date

# kind -> (share of the worklist, portal status texts it may show)
KINDS: dict[str, tuple[float, list[str]]] = {
    "paid": (0.20, ["Paid"]),
    "partial": (0.08, ["Partially Paid"]),
    "denied_coding": (0.12, ["Denied"]),
    "denied_other": (0.08, ["Denied"]),
    "pending": (0.10, ["Pending - Medical Review", "Pending"]),
    "in_process": (0.10, ["In Process", "Accepted for Adjudication", "Received"]),
    "info_request": (0.08, ["Information Requested from Provider", "Medical Records Requested"]),
    "returned": (0.03, ["Returned - Invalid Information"]),
    "no_payment": (0.03, ["Finalized - No Payment"]),
    "unmapped": (0.06, ["Suspended - Legacy Hold", "Under Reconsideration", "Adjusted - See Correspondence"]),
    "ambiguous": (0.05, ["Paid"]),
    "not_found": (0.07, []),
}


@dataclass(frozen=True)
class Payer:
    """A synthetic payer. Portals word statuses their own way: `texts` turns the data set's
    status texts (Bluestem's wording) into this payer's."""

    payer_id: str
    name: str
    member_prefix: str
    seed_offset: int
    texts: dict[str, str] = field(default_factory=dict)

    def text(self, status: str) -> str:
        return self.texts.get(status, status)


JUNIPER_TEXTS = {
    "Paid": "Finalized – Paid",
    "Partially Paid": "Finalized – Partial Payment",
    "Denied": "Finalized – Denied",
    "Finalized - No Payment": "Finalized – Zero Pay",
    "Pending - Medical Review": "Pending – Clinical Review",
    "Pending": "Pending",
    "In Process": "In Adjudication",
    "Accepted for Adjudication": "Accepted",
    "Received": "Received",
    "Information Requested from Provider": "Provider Action Required",
    "Medical Records Requested": "Records Requested",
    "Returned - Invalid Information": "Rejected – Invalid Data",
    "Suspended - Legacy Hold": "On Hold – Migration",
    "Under Reconsideration": "Reopened",
    "Adjusted - See Correspondence": "Adjusted – See Letter",
}

# Sagebrush leads each status with its own code ("DN10 Denied"): a status map must match the
# whole wording, code included.
SAGEBRUSH_TEXTS = {
    "Paid": "PD01 Paid",
    "Partially Paid": "PD02 Paid – partial",
    "Denied": "DN10 Denied",
    "Finalized - No Payment": "FN00 Closed – no payment",
    "Pending - Medical Review": "PN20 Pending – medical review",
    "Pending": "PN10 Pending",
    "In Process": "IP30 In process",
    "Accepted for Adjudication": "AC20 Accepted",
    "Received": "RC10 Received",
    "Information Requested from Provider": "RQ40 Provider information requested",
    "Medical Records Requested": "RQ41 Medical records requested",
    "Returned - Invalid Information": "RJ21 Rejected – invalid data",
    "Suspended - Legacy Hold": "HD77 Held – legacy migration",
    "Under Reconsideration": "RV50 Reconsideration open",
    "Adjusted - See Correspondence": "AJ60 Adjusted – see letter",
}

PAYERS = {
    p.payer_id: p
    for p in (
        Payer("BSTM1", "Bluestem Health Plan", "BSM", 0),
        Payer("JNPR1", "Juniper Health", "JNP", 101, JUNIPER_TEXTS),
        Payer("MDWST", "Midwest Mutual Insurance", "MWM", 202),
        Payer("PRAIR", "Prairie Benefit Administrators", "PBA", 303),
        Payer("SGBR1", "Sagebrush Benefit Partners", "SGB", 404, SAGEBRUSH_TEXTS),
    )
}


@dataclass
class SimClaim:
    payer_id: str
    claim_key: str  # opaque id in the portal's URLs; never the claim number
    claim_number: str
    account_number: str
    member_id: str
    patient_name: str
    patient_dob: dt.date
    dos_from: dt.date
    dos_to: dt.date
    status_text: str
    status_date: dt.date
    billed_cents: int
    allowed_cents: int | None = None
    paid_cents: int | None = None
    patient_resp_cents: int | None = None
    check_number: str | None = None
    check_date: dt.date | None = None
    lines: list[dict[str, Any]] = field(default_factory=list)
    adjustments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class WorklistRow:
    payer_id: str
    account_number: str
    member_id: str
    patient_name: str
    dos_from: dt.date
    dos_to: dt.date
    billed_cents: int
    payer_claim_number: str | None
    kind: str  # what the check must find; for tests, never exported


@dataclass
class Dataset:
    claims: list[SimClaim]
    worklist: list[WorklistRow]


class _Builder:
    def __init__(self, seed: int, payer: Payer) -> None:
        self.rng = random.Random(seed + payer.seed_offset)
        self.payer = payer
        self.serial = 0

    def _next(self) -> int:
        self.serial += 1
        return self.serial

    def person(self) -> tuple[str, str, dt.date]:
        r = self.rng
        name = f"{r.choice(FIRST_NAMES)} {r.choice(LAST_NAMES)}"
        dob = dt.date(1940, 1, 1) + dt.timedelta(days=r.randrange(27000))
        return f"{self.payer.member_prefix}{r.randrange(10**8, 10**9)}", name, dob

    def claim(self, member: tuple[str, str, dt.date], kind: str, dos: dt.date | None = None) -> SimClaim:
        r = self.rng
        member_id, name, dob = member
        dos_from = dos or ANCHOR - dt.timedelta(days=r.randrange(20, 120))
        dos_to = dos_from + dt.timedelta(days=r.choice([0] * 9 + [1, 2, 3]))
        n = self._next()
        lines: list[dict[str, Any]] = []
        for line_no in range(1, r.randint(1, 4) + 1):
            code, charge = r.choice(PROCEDURES)
            units = r.choice([1, 1, 1, 2, 3]) if code in ("97110", "36415") else 1
            lines.append(
                {
                    "line_no": line_no,
                    "procedure_code": code,
                    "modifiers": r.choice([[], [], [], ["25"], ["59"], ["RT"], ["LT"]]),
                    "diagnosis_pointers": r.choice(["A", "AB", "A,B", "ABC", "B"]),
                    "units": units,
                    "billed_cents": charge * units,
                    "paid_cents": 0,
                }
            )
        billed = sum(line["billed_cents"] for line in lines)
        texts = KINDS[kind][1]
        claim = SimClaim(
            payer_id=self.payer.payer_id,
            claim_key=f"c{n:05d}{r.randrange(16**6):06x}",
            claim_number=f"{dos_from.year}{r.randrange(10**8, 10**9)}{n % 1000:03d}"[:13],
            account_number=f"PA{r.randrange(10**6, 10**7)}",
            member_id=member_id,
            patient_name=name,
            patient_dob=dob,
            dos_from=dos_from,
            dos_to=dos_to,
            status_text=self.payer.text(r.choice(texts) if texts else "Paid"),
            status_date=min(ANCHOR, dos_to + dt.timedelta(days=r.randrange(8, 40))),
            billed_cents=billed,
            lines=lines,
        )
        self.adjudicate(claim, kind)
        return claim

    def adjudicate(self, c: SimClaim, kind: str) -> None:
        """Fill amounts and adjustments the way an 835 would for this kind of outcome."""
        r = self.rng
        if kind not in ("paid", "partial", "ambiguous", "denied_coding", "denied_other", "no_payment"):
            return
        allowed = paid = resp = 0
        denied = kind.startswith("denied")
        bundled_line = r.randrange(len(c.lines)) if kind == "partial" and len(c.lines) > 1 else None
        claim_denial = r.choice(CODING_DENIALS if kind == "denied_coding" else OTHER_DENIALS)
        for i, line in enumerate(c.lines):
            line_allowed = line["billed_cents"] * r.choice([55, 60, 65, 70]) // 100
            if denied or i == bundled_line or (kind == "partial" and bundled_line is None):
                carc, rarc = claim_denial if denied else ("97", "M15")
                if kind == "partial":  # partial payment on a single line: half is bundled
                    line_allowed //= 2
                    self.adjust(c, line, "CO", "45", None, line["billed_cents"] // 2 - line_allowed)
                    line["paid_cents"] = line_allowed
                    allowed += line_allowed
                    paid += line_allowed
                    self.adjust(c, line, "CO", carc, rarc, line["billed_cents"] - line["billed_cents"] // 2)
                else:
                    self.adjust(c, line, "CO", carc, rarc, line["billed_cents"])
                continue
            line_resp = 0 if kind != "no_payment" else line_allowed
            if kind != "no_payment" and i == 0:
                line_resp = min(line_allowed, r.choice([2000, 3000, 4000]))
            self.adjust(c, line, "CO", "45", None, line["billed_cents"] - line_allowed)
            if line_resp:
                self.adjust(c, line, "PR", "1" if kind == "no_payment" else "3", None, line_resp)
            line["paid_cents"] = line_allowed - line_resp
            allowed += line_allowed
            paid += line_allowed - line_resp
            resp += line_resp
        c.allowed_cents, c.paid_cents, c.patient_resp_cents = allowed, paid, resp
        if paid:
            c.check_number = f"EFT{r.randrange(10**9, 10**10)}"
            c.check_date = c.status_date + dt.timedelta(days=r.randrange(2, 6))

    @staticmethod
    def adjust(c: SimClaim, line: dict[str, Any], group: str, carc: str, rarc: str | None, cents: int) -> None:
        c.adjustments.append(
            {
                "line_no": line["line_no"],
                "group_code": group,
                "carc": carc,
                "carc_description": CARC[carc],
                "rarc": rarc,
                "rarc_description": RARC[rarc] if rarc else None,
                "amount_cents": cents,
            }
        )


def build_dataset(seed: int = 7, items: int = 200, payer: str = "BSTM1") -> Dataset:
    """Build `items` worklist rows of one payer and the portal claims behind them."""
    b = _Builder(seed, PAYERS[payer])
    counts = {kind: int(share * items) for kind, (share, _) in KINDS.items()}
    counts["paid"] += items - sum(counts.values())
    kinds = [kind for kind, count in counts.items() for _ in range(count)]
    b.rng.shuffle(kinds)
    claims: list[SimClaim] = []
    worklist: list[WorklistRow] = []
    for i, kind in enumerate(kinds):
        member = b.person()
        claim = b.claim(member, "paid" if kind in ("not_found", "ambiguous") else kind)
        # Items without a payer claim number are searched by member and DOS range.
        by_member = kind == "ambiguous" or b.rng.random() < 0.4
        if kind != "not_found":
            claims.append(claim)
        if kind == "ambiguous":  # a duplicate submission: same account, DOS and charge
            dup = b.claim(member, "denied_other", dos=claim.dos_from)
            dup.account_number, dup.dos_to, dup.lines = claim.account_number, claim.dos_to, claim.lines
            dup.billed_cents, dup.status_text = claim.billed_cents, b.payer.text("Denied")
            dup.adjustments = [
                {
                    "line_no": None,
                    "group_code": "OA",
                    "carc": "18",
                    "carc_description": CARC["18"],
                    "rarc": None,
                    "rarc_description": None,
                    "amount_cents": claim.billed_cents,
                }
            ]
            claims.append(dup)
        if by_member and kind != "not_found":
            # Other claims of the same member near the same dates; every 8th has enough
            # to fill more than one page of results.
            for _ in range(12 if i % 8 == 0 else b.rng.randint(1, 3)):
                near = claim.dos_from + dt.timedelta(days=b.rng.randint(-20, 20))
                claims.append(b.claim(member, b.rng.choice(["paid", "pending"]), dos=near))
        worklist.append(
            WorklistRow(
                payer_id=payer,
                account_number=claim.account_number,
                member_id=member[0],
                patient_name=member[1],
                dos_from=claim.dos_from,
                dos_to=claim.dos_to,
                billed_cents=claim.billed_cents,
                payer_claim_number=None if by_member else claim.claim_number,
                kind=kind,
            )
        )
    return Dataset(claims=claims, worklist=worklist)


def write_worklist_csv(rows: list[WorklistRow], path: Path) -> None:
    """The worklist as an AR team would export it from their practice-management system."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "payer_id",
                "account_number",
                "payer_claim_number",
                "member_id",
                "patient_name",
                "dos_from",
                "dos_to",
                "billed",
            ]
        )
        for r in rows:
            writer.writerow(
                [
                    r.payer_id,
                    r.account_number,
                    r.payer_claim_number or "",
                    r.member_id,
                    r.patient_name,
                    r.dos_from.strftime("%m/%d/%Y"),
                    r.dos_to.isoformat(),
                    f"{r.billed_cents / 100:.2f}",
                ]
            )


# The demo's worklist: half Bluestem, a third Juniper, the rest for payers without a portal of
# their own, checked through the Harbor clearinghouse.
DEMO_MIX = {"BSTM1": 0.5, "JNPR1": 0.3, "MDWST": 0.1, "PRAIR": 0.1}


def demo_worklist(seed: int, items: int) -> list[WorklistRow]:
    """`items` worklist rows across the demo's payers: each payer's share is the head of its
    own data set, so portals built with `items` claims per payer hold every one of them."""
    shares = {p: int(share * items) for p, share in DEMO_MIX.items()}
    shares["BSTM1"] += items - sum(shares.values())
    return [row for payer, n in shares.items() for row in build_dataset(seed, items, payer).worklist[:n]]
