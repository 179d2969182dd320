"""The evidence index: the log's records as database rows (revision 0007), for search and for
finding a stored file by its content hash. A projection the index catches up on by reading the
log from where it stopped: the log stays the source of truth (verification reads only the log),
and an index lost or behind is rebuilt or caught up by `sync`, never trusted for integrity."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ColumnElement

from bots.core.dbtypes import UTCDateTime
from bots.evidence.records import EvidenceRecord, Stored, parse_log_line, parse_relocation
from bots.evidence.store import Lines, LocalEvidenceStore

metadata = MetaData()
rows = Table(
    "evidence_index",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("media_type", String(64), nullable=False),
    Column("item_id", Integer, nullable=False),
    Column("portal", String(32), nullable=False),
    Column("page_url", Text, nullable=False),
    Column("captured_at", UTCDateTime, nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("flow_run_id", String(64)),
    Column("path", String(200)),
    Column("stored_sha256", String(64)),
    Column("key_id", String(32)),
)
state = Table(
    "evidence_index_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("log_offset", BigInteger, nullable=False),
    Column("relocations_offset", BigInteger, nullable=False),
)
_BATCH = 5000


@dataclass(frozen=True)
class EvidenceQuery:
    """What an evidence search asks for; every part optional. `item_ids` None: any item."""

    item_ids: Sequence[int] | None = None
    portal: str | None = None
    run_id: str | None = None
    kinds: Sequence[str] | None = None
    captured_from: dt.datetime | None = None
    captured_to: dt.datetime | None = None
    before_seq: int | None = None  # keyset: the page after the one that ended at this seq
    limit: int = 50


class EvidenceIndex:
    def __init__(self, engine: Engine, store: LocalEvidenceStore) -> None:
        self.engine, self.store = engine, store
        self._rebuilt = False
        self._counted = False  # rows counted once per process: a count reads the whole index

    def sync(self) -> int:
        """Catch up with the log and the relocations; the number of log records read. Safe to run
        from several processes at once: rows are keyed by seq (a row already there is left as it
        is), offsets only move forward. An index that is missing rows or stopped short of the
        log (damaged, or edited) is rebuilt from the log, once per process."""
        read = self._catch_up()
        if not self._rebuilt and not self._complete(count=not self._counted):
            # read the whole log and relocations again: missing rows are added, present ones left
            # as they are (and nothing is deleted, so readers never see an index emptied meanwhile)
            self._rebuilt = True
            read = self._catch_up(from_start=True)
        self._counted = True
        return read

    def _catch_up(self, from_start: bool = False) -> int:
        with self.engine.connect() as conn:
            log_offset, moves_offset = (0, 0) if from_start else self._offsets(conn)
        batch: list[dict[str, object]] = []
        read = 0
        log = self.store.lines(log_offset)
        for line in log:
            try:
                batch.append(_row(parse_log_line(line)[1]))
            except ValueError:
                continue  # verify names it; the index skips it
            if len(batch) >= _BATCH:
                read += self._insert(batch, log.offset)
                batch = []
        read += self._insert(batch, log.offset)
        with self.engine.begin() as conn:
            indexed = conn.scalar(select(func.max(rows.c.seq)))
            moves = Lines(self.store.relocations, moves_offset)
            done = moves_offset
            for line in moves:
                try:
                    seq, stored = parse_relocation(line)
                except ValueError:
                    done = moves.offset
                    continue
                if indexed is None or seq > indexed:
                    break  # its record came after the log was read: the next catch-up applies it
                conn.execute(update(rows).where(rows.c.seq == seq).values(**_stored(stored)))
                done = moves.offset
            self._advance(conn, "relocations_offset", done)
        return read

    def _complete(self, count: bool) -> bool:
        """Whether the index reaches the log's last record, and with `count` also holds every one
        before it (rows are seq 0..n-1)."""
        with self.engine.connect() as conn:
            top = conn.scalar(select(func.max(rows.c.seq)))
            rows_held = conn.scalar(select(func.count()).select_from(rows)) if count else None
        if top != self.store.last_seq():
            return False
        return rows_held is None or top is None or rows_held == top + 1

    def _offsets(self, conn: Connection) -> tuple[int, int]:
        found = conn.execute(select(state.c.log_offset, state.c.relocations_offset)).first()
        return (int(found[0]), int(found[1])) if found else (0, 0)

    def _insert(self, batch: list[dict[str, object]], end: int) -> int:
        with self.engine.begin() as conn:
            if batch:
                conn.execute(_insert_new(conn), batch)
            self._advance(conn, "log_offset", end)
        return len(batch)

    @staticmethod
    def _advance(conn: Connection, which: str, end: int) -> None:
        if conn.execute(select(state.c.id)).first() is None:
            conn.execute(insert(state).values(id=1, log_offset=0, relocations_offset=0))
        column = state.c[which]
        conn.execute(update(state).where(and_(state.c.id == 1, column < end)).values({which: end}))

    def find(self, sha256: str) -> EvidenceRecord | None:
        return self.find_many([sha256]).get(sha256)

    def find_many(self, hashes: Iterable[str]) -> dict[str, EvidenceRecord]:
        """For each content hash found, the newest record of it that still has its file (the
        index caught up once on a miss: a page may show evidence captured a moment ago)."""
        wanted = set(hashes)
        found: dict[str, EvidenceRecord] = {}
        for attempt in range(2):
            stmt = select(rows).where(rows.c.sha256.in_(list(wanted - set(found))), rows.c.path.is_not(None))
            with self.engine.connect() as conn:
                for row in conn.execute(stmt.order_by(rows.c.seq)):
                    found[row.sha256] = _record(row._mapping)
            if attempt == 0 and len(found) < len(wanted):
                self.sync()
            else:
                break
        return found

    def search(self, query: EvidenceQuery) -> list[EvidenceRecord]:
        """Records matching `query`, newest first, one page."""
        where: list[ColumnElement[bool]] = []
        if query.item_ids is not None:
            where.append(rows.c.item_id.in_(list(query.item_ids)))
        if query.portal:
            where.append(rows.c.portal == query.portal)
        if query.run_id:
            where.append(rows.c.run_id == query.run_id)
        if query.kinds:
            where.append(rows.c.kind.in_(list(query.kinds)))
        if query.captured_from:
            where.append(rows.c.captured_at >= query.captured_from)
        if query.captured_to:
            where.append(rows.c.captured_at < query.captured_to)
        if query.before_seq is not None:
            where.append(rows.c.seq < query.before_seq)
        stmt = select(rows).where(*where).order_by(rows.c.seq.desc()).limit(query.limit)
        with self.engine.connect() as conn:
            return [_record(r._mapping) for r in conn.execute(stmt)]

    def run_hashes(self, kinds: Sequence[str], at_least: str) -> dict[str, set[str]]:
        """The content hashes of the records of these kinds by run id, from `at_least` on (as text)."""
        stmt = select(rows.c.run_id, rows.c.sha256).where(rows.c.kind.in_(list(kinds)), rows.c.run_id >= at_least)
        found: dict[str, set[str]] = {}
        with self.engine.connect() as conn:
            for run_id, sha in conn.execute(stmt):
                found.setdefault(run_id, set()).add(sha)
        return found

    def for_items(self, item_ids: Iterable[int]) -> list[EvidenceRecord]:
        """Every record of these items, oldest first."""
        ids = list(item_ids)
        with self.engine.connect() as conn:
            found = conn.execute(select(rows).where(rows.c.item_id.in_(ids)).order_by(rows.c.seq))
            return [_record(r._mapping) for r in found]


def _insert_new(conn: Connection) -> Insert:
    """An INSERT of index rows that leaves a row already there (another process indexed it) alone."""
    if conn.dialect.name == "sqlite":
        return sqlite_insert(rows).on_conflict_do_nothing(index_elements=["seq"])
    if conn.dialect.name == "postgresql":
        return postgresql_insert(rows).on_conflict_do_nothing(index_elements=["seq"])
    return insert(rows)


def _stored(stored: Stored) -> dict[str, object]:
    return {"path": stored.path, "stored_sha256": stored.sha256, "key_id": stored.key}


def _row(record: EvidenceRecord) -> dict[str, object]:
    leaf = record.model_dump(exclude={"stored"})
    return {**leaf, **_stored(record.stored)}


def _record(row: object) -> EvidenceRecord:
    data = dict(row)  # type: ignore[call-overload]
    stored = Stored(path=data.pop("path"), sha256=data.pop("stored_sha256"), key=data.pop("key_id"))
    return EvidenceRecord(**data, stored=stored)
