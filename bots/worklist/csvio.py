"""Worklist CSV import and export.

Import columns (header row required, names case-insensitive, order free):
  required: payer_id, account_number, member_id, dos_from, billed
  optional: dos_to (default dos_from), patient_name, payer_claim_number, owner,
            next_follow_up (date; default: due now)
Dates: YYYY-MM-DD or MM/DD/YYYY. Money: 1234.56, with optional $ and thousands commas.
A file with any bad row imports nothing; every error names the file, row and field.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from pathlib import Path

from bots.core.errors import InputError
from bots.core.money import format_cents, parse_cents
from bots.worklist.schema import Item

REQUIRED = ("payer_id", "account_number", "member_id", "dos_from", "billed")
OPTIONAL = ("dos_to", "patient_name", "payer_claim_number", "owner", "next_follow_up")
MAX_ERRORS = 20

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
            return dt.datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    raise ValueError(f"not a date: {text!r} (use YYYY-MM-DD or MM/DD/YYYY)")


def _parse_row(raw: dict[str, str]) -> dict[str, object]:
    """One CSV row -> store fields. Raises (field, message) as ValueError args."""
    row: dict[str, object] = {}
    for name in REQUIRED:
        if not (raw.get(name) or "").strip():
            raise ValueError(name, "is required")
    for name in ("payer_id", "account_number", "member_id"):
        row[name] = raw[name].strip()
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
        row["billed_cents"] = parse_cents(raw["billed"])
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
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in reader.fieldnames or []]
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
        writer.writerow([format_cents(money[c]) if c in money else _iso(getattr(it, c)) for c in EXPORT_COLUMNS])
        n += 1
    return n
