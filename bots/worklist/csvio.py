"""Worklist CSV import and export.

Import columns (header row required, names case-insensitive, order free):
  required: payer_id, account_number, member_id, dos_from, billed
  optional: dos_to (default dos_from), patient_name, payer_claim_number, owner,
            next_follow_up (date; default: due now)
Dates: YYYY-MM-DD or MM/DD/YYYY, years 1900-2099. Money: 1234.56, with an optional $ and
thousands commas in their places, at most two decimals, no sign, at most 10,000,000.00.
Payer ids are trimmed and upper-cased. Text fields hold no control characters and fit their
columns (FIELD_LENGTHS); a file is at most MAX_FILE_BYTES. A file with any bad row (or a repeated
column) imports nothing; every error names the file, row and field.
Export: a text cell that a spreadsheet would run as a formula (leading =, +, -, @, tab or carriage
return) is written with a leading apostrophe.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from pathlib import Path

from bots.core.errors import InputError
from bots.core.money import format_cents, parse_cents
from bots.worklist.schema import Item

REQUIRED = ("payer_id", "account_number", "member_id", "dos_from", "billed")
OPTIONAL = ("dos_to", "patient_name", "payer_claim_number", "owner", "next_follow_up")
MAX_ERRORS = 20
AMOUNT = re.compile(r"^\$?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")  # decimals: parse_cents allows two
MAX_BILLED_CENTS = 10_000_000_00
YEARS = range(1900, 2100)  # a date outside is a typo (and 9999 breaks date arithmetic)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# the worklist table's column sizes (bots.worklist.schema.Item): a longer value is not an id
FIELD_LENGTHS = {
    "payer_id": 32,
    "account_number": 64,
    "member_id": 64,
    "patient_name": 200,
    "payer_claim_number": 64,
    "owner": 100,
}
MAX_FILE_BYTES = 256 * 1024 * 1024  # about two million rows: a bigger file is not a worklist
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1: never part of a name or an id

EXPORT_COLUMNS = (
    "id",
    "payer_id",
    "account_number",
    "payer_claim_number",
    "member_id",
    "patient_name",
    "dos_from",
    "dos_to",
    "billed",
    "owner",
    "outcome",
    "status_category",
    "status_text",
    "status_date",
    "allowed",
    "paid",
    "patient_resp",
    "check_number",
    "check_date",
    "carc_codes",
    "rarc_codes",
    "next_action",
    "next_follow_up_at",
    "last_checked_at",
    "attempts",
    "closed_at",
)


def parse_date(text: str) -> dt.date:
    for fmt in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            day = dt.datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
        if day.year not in YEARS:
            raise ValueError(f"not a plausible date: {text!r} (years {YEARS.start}-{YEARS.stop - 1})")
        return day
    raise ValueError(f"not a date: {text!r} (use YYYY-MM-DD or MM/DD/YYYY)")


def parse_billed(text: str) -> int:
    """A billed amount, strictly: digits, optional $ and thousands commas in their places, at
    most two decimals; never an exponent, a sign or a number too large to be a claim."""
    if not AMOUNT.match(text.strip()):
        raise ValueError(f"not an amount: {text!r} (use 1234.56 or $1,234.56)")
    cents = parse_cents(text)
    if cents > MAX_BILLED_CENTS:
        raise ValueError(f"{text!r} is more than {format_cents(MAX_BILLED_CENTS)}")
    return cents


def cell(value: str) -> str:
    """A text cell a spreadsheet shows as text, never runs as a formula; a carriage return becomes
    a line feed (the csv module quotes line feeds, not lone carriage returns)."""
    safe = f"'{value}" if value.startswith(FORMULA_START) else value
    return safe.replace("\r\n", "\n").replace("\r", "\n")


def _parse_row(raw: dict[str, str]) -> dict[str, object]:
    """One CSV row -> store fields. Raises (field, message) as ValueError args."""
    row: dict[str, object] = {}
    for name in REQUIRED:
        if not (raw.get(name) or "").strip():
            raise ValueError(name, "is required")
    for name, value in raw.items():
        if value and (bad := CONTROL.search(value)):
            raise ValueError(name, f"holds a control character (U+{ord(bad.group()):04X})")
        if value and name in FIELD_LENGTHS and len(value.strip()) > FIELD_LENGTHS[name]:
            raise ValueError(name, f"is longer than {FIELD_LENGTHS[name]} characters")
    for name in ("payer_id", "account_number", "member_id"):
        row[name] = raw[name].strip()
    row["payer_id"] = str(row["payer_id"]).upper()
    for name in ("patient_name", "payer_claim_number", "owner"):
        if (raw.get(name) or "").strip():
            row[name] = raw[name].strip()
    for name, target in (("dos_from", "dos_from"), ("dos_to", "dos_to")):
        text = (raw.get(name) or "").strip()
        if text:
            try:
                row[target] = parse_date(text)
            except ValueError as exc:
                raise ValueError(name, str(exc)) from None
    row.setdefault("dos_to", row["dos_from"])
    if row["dos_to"] < row["dos_from"]:  # type: ignore[operator]
        raise ValueError("dos_to", "is before dos_from")
    try:
        row["billed_cents"] = parse_billed(raw["billed"])
    except ValueError as exc:
        raise ValueError("billed", str(exc)) from None
    if (raw.get("next_follow_up") or "").strip():
        try:
            day = parse_date(raw["next_follow_up"])
        except ValueError as exc:
            raise ValueError("next_follow_up", str(exc)) from None
        row["next_follow_up_at"] = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return row


def read_worklist_csv(path: Path) -> list[dict[str, object]]:
    """Parse and validate the whole file; raise InputError listing every bad row."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InputError(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MB: split it into smaller files")
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise InputError(f"{path}: line 1 (header): column(s) {', '.join(repeated)} given more than once")
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if missing or unknown:
        parts = ([f"missing column(s) {', '.join(missing)}"] if missing else []) + (
            [f"unknown column(s) {', '.join(unknown)}"] if unknown else []
        )
        raise InputError(f"{path}: line 1 (header): {'; '.join(parts)}")
    reader.fieldnames = header
    rows: list[dict[str, object]] = []
    errors: list[str] = []
    seen: dict[tuple[object, object], int] = {}
    for raw in reader:
        line = reader.line_num
        if None in raw:
            errors.append(f"{path}: row {line}: more values than columns")
            continue
        try:
            row = _parse_row(raw)
        except ValueError as exc:
            field, message = exc.args
            errors.append(f"{path}: row {line}: field {field}: {message}")
            continue
        key = (row["payer_id"], row["account_number"])
        if key in seen:
            errors.append(
                f"{path}: row {line}: field account_number: same payer_id and account_number as row {seen[key]}"
            )
            continue
        seen[key] = line
        rows.append(row)
    if errors:
        more = f"\n... and {len(errors) - MAX_ERRORS} more" if len(errors) > MAX_ERRORS else ""
        raise InputError(f"nothing imported; {len(errors)} bad row(s):\n" + "\n".join(errors[:MAX_ERRORS]) + more)
    return rows


def _iso(value: object) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else str(value)


def write_worklist_csv(items: Iterable[Item], out: io.TextIOBase | io.StringIO) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    n = 0
    for it in items:
        money = {
            "billed": it.billed_cents,
            "allowed": it.allowed_cents,
            "paid": it.paid_cents,
            "patient_resp": it.patient_resp_cents,
        }
        writer.writerow([format_cents(money[c]) if c in money else cell(_iso(getattr(it, c))) for c in EXPORT_COLUMNS])
        n += 1
    return n
