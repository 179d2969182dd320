"""WorklistStore: the only code that reads and writes the worklist database."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, Select, and_, case, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from bots.core.models import CheckResult, ItemRef, Outcome, summary_key
from bots.worklist.db import open_engine
from bots.worklist.followup import Decision
from bots.worklist.schema import History, Item, ServiceLineRow

DESCRIPTIVE = ("member_id", "patient_name", "dos_from", "dos_to", "billed_cents", "owner")


# What else a check writes, in its transaction: (session, item, its new history row, the result)
AfterRecord = Callable[[Session, Item, History, CheckResult], object]

# Outcomes that leave an item waiting on a person or on the next sweep, not on the payer
NEEDS_ATTENTION = (Outcome.DEFERRED.value, Outcome.MANUAL.value)


@dataclass(frozen=True)
class ItemRow:
    """An item with what its latest check ended in: a deferred or failed check leaves the item's
    own outcome as it was, so a list must show both to say why an item did not move."""

    item: Item
    last_outcome: str | None  # None: never checked
    last_error: str | None


@dataclass(frozen=True)
class ItemPage:
    rows: list[ItemRow]
    next_after: int | None  # keyset: the last row's id, when more follow


@dataclass(frozen=True)
class RunSummary:
    """One sweep run as its history rows tell it (runs have no table of their own)."""

    run_id: str
    first_at: dt.datetime
    last_at: dt.datetime
    checks: int
    claims: int  # distinct items checked
    errors: int  # checks that ended in a portal error
    portals: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)  # by summary_key: category, else outcome


@dataclass(frozen=True)
class RunOutcomes:
    items: int  # distinct items with a check recorded in the run
    failures: Counter[str]  # checks that failed or were not made, by FailureKind


@dataclass(frozen=True)
class RunPage:
    runs: list[RunSummary]
    next_before: str | None  # keyset: the last run's id, when older runs follow


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class WorklistStore:
    """Reads and writes one worklist database; opening it does no I/O (migrations: bots.worklist.db)."""

    def __init__(self, url: str | Engine) -> None:
        """On a database URL, or on an engine another store already opened (one pool per database)."""
        self.engine = url if isinstance(url, Engine) else open_engine(url)
        self._write = threading.Lock()  # one writer at a time; SQLite would serialise anyway

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # -- import ---------------------------------------------------------------------------
    IMPORT_CHUNK = 2000  # rows per write transaction: a sweep recording meanwhile waits for one chunk at most

    def upsert(self, rows: Sequence[dict[str, object]]) -> tuple[int, int]:
        """Insert new keys, update descriptive fields of known ones. History, check results and a
        known payer claim number are never touched. The rows were validated in full before
        (read_worklist_csv), so nothing fails half-way for bad data; they are written
        `IMPORT_CHUNK` at a time, each chunk in its own short transaction, so a sweep can record
        its checks while a long import runs. An import cut short (a killed process) is completed
        by importing the same file again: known keys are updated, never added twice."""
        inserted = updated = 0
        for i in range(0, len(rows), self.IMPORT_CHUNK):
            new, known = self._upsert_chunk(rows[i : i + self.IMPORT_CHUNK])
            inserted, updated = inserted + new, updated + known
        return inserted, updated

    def _upsert_chunk(self, rows: Sequence[dict[str, object]]) -> tuple[int, int]:
        inserted = updated = 0
        now = now_utc()
        with self._write, self.session() as s, s.begin():
            accounts = {str(row["account_number"]) for row in rows}
            found = s.scalars(select(Item).where(Item.account_number.in_(accounts)))  # ix_item_account
            items = {(item.payer_id, item.account_number): item for item in found}
            for row in rows:
                key = (str(row["payer_id"]), str(row["account_number"]))
                item = items.get(key)
                if item is None:
                    item = items[key] = Item(
                        payer_id=key[0],
                        account_number=key[1],
                        attempts=0,
                        created_at=now,
                        next_follow_up_at=row.get("next_follow_up_at") or now,
                    )
                    s.add(item)
                    inserted += 1
                else:
                    updated += 1
                for name in DESCRIPTIVE:
                    if name in row:
                        setattr(item, name, row[name])
                if row.get("payer_claim_number") and not item.payer_claim_number:
                    item.payer_claim_number = str(row["payer_claim_number"])
                if row.get("next_follow_up_at"):
                    item.next_follow_up_at = row["next_follow_up_at"]  # type: ignore[assignment]
                item.updated_at = now
        return inserted, updated

    def bring_forward(self, payer_ids: Sequence[str], failures: Sequence[str], reason_prefix: str) -> int:
        """Make open items of these payers due now if their latest check failed, or was not made,
        for one of `failures` with a reason starting `reason_prefix` (a held portal released:
        its items need not wait, another portal's still do); how many."""
        latest = select(func.max(History.id)).where(History.item_id == Item.id).correlate(Item).scalar_subquery()
        waiting = select(History.item_id).where(
            History.id == latest,
            History.failure.in_(list(failures)),
            History.error.startswith(reason_prefix, autoescape=True),
        )
        with self._write, self.session() as s, s.begin():
            done = s.execute(
                update(Item)
                .where(Item.payer_id.in_(list(payer_ids)), Item.closed_at.is_(None), Item.id.in_(waiting))
                .values(next_follow_up_at=now_utc())
            )
        return int(done.rowcount)  # type: ignore[attr-defined]

    # -- selection --------------------------------------------------------------------------
    @staticmethod
    def _due(at: dt.datetime | None) -> tuple[Any, ...]:
        return Item.closed_at.is_(None), Item.next_follow_up_at <= (at or now_utc())

    @staticmethod
    def _free(at: dt.datetime) -> Any:
        """Not held by a sweep: never leased, or its lease ran out."""
        return or_(Item.lease_until.is_(None), Item.lease_until < at)

    def due_items(self, at: dt.datetime | None = None, limit: int | None = None) -> list[Item]:
        """Open items whose follow-up time has come and that no running sweep holds, oldest first."""
        at = at or now_utc()
        query = (
            select(Item)
            .where(*self._due(at), self._free(now_utc()))
            .order_by(Item.next_follow_up_at, Item.id)
            .limit(limit)
        )
        with self.session() as s:
            return list(s.scalars(query))

    # -- leases -----------------------------------------------------------------------------
    LEASE_CHUNK = 500  # ids per statement (SQLite's bound-parameter limit is far above)

    def lease(self, run_id: str, ids: Sequence[int], lease_s: float) -> set[int]:
        """Hold the items `ids` for the sweep `run_id` for `lease_s` seconds; the ids it now holds.
        Each statement takes only items still due that no live lease holds, in one atomic UPDATE
        (on PostgreSQL its rows are picked FOR UPDATE SKIP LOCKED): two sweeps never hold one
        item, and an item another sweep checked since it was selected is not checked again."""
        now = now_utc()
        held: set[int] = set()
        with self._write, self.session() as s, s.begin():
            for i in range(0, len(ids), self.LEASE_CHUNK):
                chunk = list(ids[i : i + self.LEASE_CHUNK])
                free = (
                    select(Item.id)
                    .where(Item.id.in_(chunk), *self._due(now), self._free(now))
                    .with_for_update(skip_locked=True)
                    .scalar_subquery()
                )
                s.execute(
                    update(Item)
                    .where(Item.id.in_(free))
                    .values(lease_holder=run_id, lease_until=now + dt.timedelta(seconds=lease_s))
                )
                held |= set(s.scalars(select(Item.id).where(Item.id.in_(chunk), Item.lease_holder == run_id)))
        return held

    def lease_due(self, run_id: str, lease_s: float, limit: int | None = None) -> list[ItemRef]:
        """Select and hold, in one statement, up to `limit` due items no live lease holds, oldest
        first: two sweeps selecting at once get disjoint sets, and both get work."""
        now = now_utc()
        free = (
            select(Item.id)
            .where(*self._due(now), self._free(now))
            .order_by(Item.next_follow_up_at, Item.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        until = now + dt.timedelta(seconds=lease_s)
        with self._write, self.session() as s, s.begin():
            s.execute(update(Item).where(Item.id.in_(free)).values(lease_holder=run_id, lease_until=until))
            held = s.scalars(
                select(Item)
                .where(Item.lease_holder == run_id, Item.closed_at.is_(None))
                .order_by(Item.next_follow_up_at, Item.id)
            )
            return [self._ref(item) for item in held]

    def renew_leases(self, run_id: str, lease_s: float) -> int:
        """Extend every lease `run_id` holds by `lease_s` from now (its heartbeat); how many."""
        with self._write, self.session() as s, s.begin():
            done = s.execute(
                update(Item)
                .where(Item.lease_holder == run_id)
                .values(lease_until=now_utc() + dt.timedelta(seconds=lease_s))
            )
        return int(done.rowcount)  # type: ignore[attr-defined]

    def release_leases(self, run_id: str) -> int:
        """Let go of every item `run_id` still holds (its run ended, or died); how many."""
        with self._write, self.session() as s, s.begin():
            done = s.execute(
                update(Item).where(Item.lease_holder == run_id).values(lease_holder=None, lease_until=None)
            )
        return int(done.rowcount)  # type: ignore[attr-defined]

    def page(self, limit: int, *, due: bool = False) -> tuple[list[Item], int]:
        """The first `limit` items (or due items), read in the database, and how many there are."""
        where = self._due(None) if due else ()
        order = (Item.next_follow_up_at, Item.id) if due else (Item.id,)
        with self.session() as s:
            total = s.scalar(select(func.count()).select_from(Item).where(*where)) or 0
            return list(s.scalars(select(Item).where(*where).order_by(*order).limit(limit))), total

    def search(self, text: str, limit: int = 50) -> list[Item]:
        """Items whose account, payer claim or member number is `text` (any case, trimmed)."""
        typed = text.strip()
        if not typed:
            return []
        wanted = {typed, typed.upper()}
        numbers = (Item.account_number, Item.payer_claim_number, Item.member_id)
        with self.session() as s:
            found = {
                item.id: item for col in numbers for item in s.scalars(select(Item).where(col.in_(wanted)).limit(limit))
            }
        return [found[i] for i in sorted(found)][:limit]

    def due(self, at: dt.datetime | None = None, limit: int | None = None) -> list[ItemRef]:
        return [self._ref(item) for item in self.due_items(at, limit)]

    def item(self, item_id: int) -> Item | None:
        with self.session() as s:
            return s.get(Item, item_id)

    @staticmethod
    def _ref(item: Item) -> ItemRef:
        return ItemRef(
            id=item.id,
            payer_id=item.payer_id,
            account_number=item.account_number,
            member_id=item.member_id,
            dos_from=item.dos_from,
            dos_to=item.dos_to,
            billed_cents=item.billed_cents,
            payer_claim_number=item.payer_claim_number,
        )

    def items(self) -> list[Item]:
        return list(self.iter_items())

    def iter_items(self, chunk: int = 1000) -> Iterator[Item]:
        """Every item in id order, read `chunk` rows at a time (keyset), so memory stays flat."""
        after = 0
        while True:
            with self.session() as s:
                rows = list(s.scalars(select(Item).where(Item.id > after).order_by(Item.id).limit(chunk)))
            yield from rows
            if len(rows) < chunk:
                return
            after = rows[-1].id

    def history(self, item_id: int) -> list[History]:
        with self.session() as s:
            return list(s.scalars(select(History).where(History.item_id == item_id).order_by(History.id)))

    # -- recording a check ------------------------------------------------------------------
    def record(
        self,
        item_id: int,
        result: CheckResult,
        decision: Decision,
        *,
        portal: str,
        run_id: str,
        flow_run_id: str | None,
        checked_at: dt.datetime | None = None,
        after: AfterRecord | None = None,
    ) -> None:
        """Update the item with one check's result and append its history row, atomically;
        `after` writes what follows from the check (its review task) in the same transaction."""
        at = checked_at or now_utc()
        d = result.detail
        with self._write, self.session() as s, s.begin():
            item = s.get(Item, item_id)
            if item is None:
                raise KeyError(f"no worklist item {item_id}")
            item.attempts += 1
            item.last_checked_at = item.updated_at = at
            if item.lease_holder == run_id:  # checked: the next due sweep may take it
                item.lease_holder = item.lease_until = None
            item.next_action = decision.next_action
            item.closed_at = at if decision.close else None
            item.next_follow_up_at = at + dt.timedelta(seconds=decision.follow_up_s or 0)
            # Transient outcomes keep the item's last good outcome; only a read replaces its status.
            if result.outcome not in (Outcome.ERROR, Outcome.DEFERRED):
                item.outcome = result.outcome.value
            if result.outcome not in (Outcome.ERROR, Outcome.DEFERRED, Outcome.MANUAL):
                item.status_category, item.status_code = result.category, result.status_code
                item.status_text = result.status_text
            if d is not None:
                item.payer_claim_number = item.payer_claim_number or d.payer_claim_number
                item.status_date, item.allowed_cents = d.status_date, d.allowed_cents
                item.paid_cents, item.patient_resp_cents = d.paid_cents, d.patient_resp_cents
                item.check_number, item.check_date = d.check_number, d.check_date
                item.carc_codes, item.rarc_codes = ",".join(d.carcs), ",".join(d.rarcs)
                self._upsert_lines(s, item_id, result)
            history = History(
                item_id=item_id,
                checked_at=at,
                run_id=run_id,
                flow_run_id=flow_run_id,
                portal=portal,
                outcome=result.outcome.value,
                status_category=result.category,
                status_text=result.status_text,
                status_date=d.status_date if d else None,
                paid_cents=d.paid_cents if d else None,
                next_action=decision.next_action,
                detail_json=d.model_dump_json() if d else None,
                evidence=json.dumps(result.evidence),
                error=result.error,
                failure=result.failure,
            )
            s.add(history)
            if after is not None:
                s.flush()
                after(s, item, history, result)

    @staticmethod
    def _upsert_lines(s: Session, item_id: int, result: CheckResult) -> None:
        assert result.detail is not None
        existing = {
            row.line_no: row for row in s.scalars(select(ServiceLineRow).where(ServiceLineRow.item_id == item_id))
        }
        for line in result.detail.lines:
            row = existing.pop(line.line_no, None) or ServiceLineRow(item_id=item_id, line_no=line.line_no)
            row.procedure_code, row.modifiers = line.procedure_code, ",".join(line.modifiers)
            row.diagnosis_pointers, row.units = line.diagnosis_pointers, line.units
            row.billed_cents, row.paid_cents = line.billed_cents, line.paid_cents
            s.add(row)
        for gone in existing.values():
            s.delete(gone)

    def lines(self, item_id: int) -> list[ServiceLineRow]:
        with self.session() as s:
            return list(
                s.scalars(
                    select(ServiceLineRow).where(ServiceLineRow.item_id == item_id).order_by(ServiceLineRow.line_no)
                )
            )

    # -- summaries --------------------------------------------------------------------------
    def run_counts(self, run_id: str) -> Counter[str]:
        """Checks recorded in one run, by category code or outcome."""
        with self.session() as s:
            rows = s.execute(
                select(History.outcome, History.status_category, func.count())
                .where(History.run_id == run_id)
                .group_by(History.outcome, History.status_category)
            ).all()
        return Counter({summary_key(outcome, category): n for outcome, category, n in rows})

    def run_outcomes(self, run_id: str) -> RunOutcomes:
        """How the items of one run ended: how many have a check in it, and its failures by kind."""
        with self.session() as s:
            items = s.scalar(select(func.count(func.distinct(History.item_id))).where(History.run_id == run_id)) or 0
            failures = s.execute(
                select(History.failure, func.count())
                .where(History.run_id == run_id, History.failure.is_not(None))
                .group_by(History.failure)
            ).all()
        return RunOutcomes(items, Counter({str(kind): n for kind, n in failures}))

    def checked_in_run(self, run_id: str) -> int:
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(History).where(History.run_id == run_id)) or 0

    # -- reading for the console -------------------------------------------------------------
    @staticmethod
    def _with_latest_check() -> Select[Any]:
        """Items joined to their latest history row: max(id) per item is one seek on the item_id index."""
        older = aliased(History)
        latest_id = select(func.max(older.id)).where(older.item_id == Item.id).correlate(Item).scalar_subquery()
        return select(Item, History.outcome, History.error).outerjoin(History, History.id == latest_id)

    def _item_page(self, query: Select[Any], limit: int, after: int) -> ItemPage:
        """`limit` rows by id after the keyset `after` (one more is read to tell whether more follow)."""
        with self.session() as s:
            found = s.execute(query.where(Item.id > after).order_by(Item.id).limit(limit + 1)).all()
        rows = [ItemRow(item, outcome, error) for item, outcome, error in found[:limit]]
        return ItemPage(rows, rows[-1].item.id if len(found) > limit else None)

    def browse(
        self, limit: int, *, after: int = 0, outcome: str | None = None, payer_id: str | None = None
    ) -> ItemPage:
        """Items by id, a page at a time. `outcome` matches the item's outcome or its latest
        check's (so "deferred", which never becomes an item's outcome, finds the deferred ones)."""
        query = self._with_latest_check()
        if outcome:
            query = query.where(or_(Item.outcome == outcome, History.outcome == outcome))
        if payer_id:
            query = query.where(Item.payer_id == payer_id)  # leads the uq_item_key index
        return self._item_page(query, limit, after)

    def find(self, text: str, limit: int = 50) -> list[ItemRow]:
        """`search` with each item's latest check."""
        ids = [item.id for item in self.search(text, limit)]
        if not ids:
            return []
        return self._item_page(self._with_latest_check().where(Item.id.in_(ids)), limit, 0).rows

    def payers(self) -> list[str]:
        """Payer ids present in the worklist (read from the uq_item_key index)."""
        with self.session() as s:
            return list(s.scalars(select(Item.payer_id).distinct().order_by(Item.payer_id)))

    def _attention(self) -> Select[Any]:
        return self._with_latest_check().where(
            Item.closed_at.is_(None),
            or_(Item.outcome.in_(NEEDS_ATTENTION), History.outcome.in_(NEEDS_ATTENTION)),
        )

    def attention(self, limit: int, *, after: int = 0) -> ItemPage:
        """Open items whose latest check was deferred or routed to a person, by id; the reason is
        the latest check's error."""
        return self._item_page(self._attention(), limit, after)

    def attention_reasons(self) -> list[tuple[str, int]]:
        """The reasons of `attention` with how many items each holds, most first ("" for none)."""
        reason = func.coalesce(History.error, "")
        query = self._attention().with_only_columns(reason, func.count()).group_by(reason)
        with self.session() as s:
            rows = s.execute(query.order_by(func.count().desc(), reason)).all()
        return [(str(text), int(n)) for text, n in rows]

    def recent_runs(self, limit: int, *, before: str | None = None) -> RunPage:
        """Sweep runs newest first (by their last check, then run id), `limit` at a time older than
        the run `before`: one grouped read of the history, then one read of the page's counts."""
        last_at = func.max(History.checked_at)
        query = (
            select(
                History.run_id,
                func.min(History.checked_at),
                last_at,
                func.count(),
                func.count(func.distinct(History.item_id)),
                func.sum(case((History.outcome == Outcome.ERROR.value, 1), else_=0)),
            )
            .group_by(History.run_id)
            .order_by(last_at.desc(), History.run_id.desc())
            .limit(limit + 1)
        )
        with self.session() as s:
            if before is not None:
                edge = s.scalar(select(func.max(History.checked_at)).where(History.run_id == before))
                if edge is None:
                    return RunPage([], None)
                query = query.having(or_(last_at < edge, and_(last_at == edge, History.run_id < before)))
            found = s.execute(query).all()
            runs = {
                run_id: RunSummary(run_id, first, last, checks, claims, int(errors or 0))
                for run_id, first, last, checks, claims, errors in found[:limit]
            }
            counts = s.execute(
                select(History.run_id, History.portal, History.outcome, History.status_category, func.count())
                .where(History.run_id.in_(list(runs)))
                .group_by(History.run_id, History.portal, History.outcome, History.status_category)
            ).all()
        for run_id, portal, outcome, category, n in counts:
            run = runs[run_id]
            run.counts[summary_key(outcome, category)] += n
            if portal not in run.portals:
                run.portals.append(portal)
        for run in runs.values():
            run.portals.sort()
        return RunPage(list(runs.values()), found[limit - 1][0] if len(found) > limit else None)
