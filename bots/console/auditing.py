"""The auditor's evidence browser apart from its routes: the search form read into criteria, the
search itself (claims with their evidence counts, or evidence records directly), one claim's
timeline with every file on it verified (verification.py), a trace's bytes, and the audit
package of a claim.

Search reads database indexes only, never a stored file: the worklist's number indexes, the
payer key, the review tasks' category and item indexes, and the evidence index's item, run and
capture-time indexes. The portal is the one criterion no index holds: it filters what the others
find, and alone it reads records newest first until a page is full. Verification reads and
decrypts only the files of the one timeline shown."""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, Select, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from bots.console.verification import Check, Verifier
from bots.core.errors import InputError, RcmbotError
from bots.core.models import Outcome
from bots.core.registry import PortalRegistry
from bots.core.settings import Settings
from bots.denials import DenialCategory
from bots.evidence.checkpoint import Checkpoint
from bots.evidence.index import EvidenceIndex, EvidenceQuery
from bots.evidence.index import rows as evidence_rows
from bots.evidence.records import SHA256, EvidenceRecord, Stored
from bots.evidence.setup import signer
from bots.review import ReviewStore, Task
from bots.worklist import History, Item, WorklistStore

if TYPE_CHECKING:
    from bots.evidence.package import PackageSummary

SEARCH_PAGE = 50
# below these a criterion's index leads the claims search; above, items are probed newest first
FEW_ITEMS = FEW_TASKS = 2_000
FEW_RECORDS = 20_000
LOG_LINE = 200  # the access log's longest `what`
ITEM_CRITERIA = ("claim", "member", "account", "payer", "category")
RECORD_CRITERIA = ("portal", "run", "captured_from", "captured_to")
CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")  # payer ids, portal keys, categories
RUN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
CATEGORIES = frozenset(category.value for category in DenialCategory)
# the capture days a search may name (as bots.evidence.package's): the day after the last is
# still a date, and no evidence was captured before 1970
FIRST_DAY, LAST_DAY = dt.date(1970, 1, 1), dt.date(9998, 12, 31)
# a decision's fields in the order a reader asks about them; any others follow as the JSON has them
DECISION_FIRST = ("action", "actor", "role", "from_state", "to_state", "reason", "at", "id", "task_id", "item_id")
IMAGES = frozenset({"image/png", "image/jpeg"})
TRACE_TYPE = "application/zip"
STATUS_READ = frozenset(
    {Outcome.STATUS.value, Outcome.UNMAPPED.value, Outcome.NOT_FOUND.value, Outcome.AMBIGUOUS.value}
)


class PackageUnavailableError(RcmbotError):
    """The audit package export (bots.evidence.package) is not installed in this build."""


# -- the search form ---------------------------------------------------------------------------


class SearchForm(BaseModel):
    """The search form as posted: every field text, kept as typed so the page can show it again."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    claim: str = Field("", max_length=64)
    member: str = Field("", max_length=64)
    account: str = Field("", max_length=64)
    payer: str = Field("", max_length=32)
    category: str = Field("", max_length=40)
    portal: str = Field("", max_length=32)
    run: str = Field("", max_length=64)
    captured_from: str = Field("", max_length=10)
    captured_to: str = Field("", max_length=10)
    before: str = Field("", max_length=20)

    def criteria(self) -> tuple[Criteria | None, list[str]]:
        """The criteria, or the problems of the form as typed (None when there are any)."""
        problems = []
        for name, pattern, label in (
            ("payer", CODE, "payer"),
            ("category", CODE, "category"),
            ("portal", CODE, "portal"),
            ("run", RUN, "run id"),
        ):
            value = getattr(self, name)
            if value and not pattern.fullmatch(value):
                problems.append(f"The {label} is letters, digits, '.', '_' or '-' only.")
        start, end = _day(self.captured_from), _day(self.captured_to)
        for typed, day, label in ((self.captured_from, start, "first"), (self.captured_to, end, "last")):
            if typed and day is None:
                problems.append(f"The {label} capture date is not a date (YYYY-MM-DD).")
            elif day is not None and not FIRST_DAY <= day <= LAST_DAY:
                problems.append(f"The {label} capture date is out of range: give a day from {FIRST_DAY} to {LAST_DAY}.")
        if not problems and start and end and end < start:
            problems.append("The last capture date is before the first.")
        before = int(self.before) if self.before.isascii() and self.before.isdigit() and len(self.before) < 19 else None
        if self.before and before is None:
            problems.append("The page to continue from is not a number.")
        if not problems and not any(getattr(self, name) for name in (*ITEM_CRITERIA, *RECORD_CRITERIA)):
            problems.append("Give at least one thing to search by.")
        if problems:
            return None, problems
        criteria = Criteria(
            claim=self.claim,
            member=self.member,
            account=self.account,
            payer=self.payer,
            category=self.category,
            portal=self.portal,
            run=self.run,
            captured_from=start,
            captured_to=end,
            before=before,
        )
        return criteria, []


def _day(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Criteria:
    """What to search by; `before` is the keyset of the page: an item id (claims) or a seq (records)."""

    claim: str = ""
    member: str = ""
    account: str = ""
    payer: str = ""
    category: str = ""
    portal: str = ""
    run: str = ""
    captured_from: dt.date | None = None
    captured_to: dt.date | None = None  # the last day, included
    before: int | None = None

    @property
    def by_claim(self) -> bool:
        """Claims are found (with their evidence counted) when anything about the claim is asked;
        otherwise (portal, run, dates only) the evidence records themselves are listed."""
        return any(getattr(self, name) for name in ITEM_CRITERIA)

    def described(self, known: Iterable[str] = ()) -> str:
        """The criteria for the access log: which fields were searched by, never what was typed
        (a member ID typed into any field is PHI); the payer, category and portal by value only
        when named in `known`, being codes the console knows."""
        parts = []
        for name, label in (("claim", "claim number"), ("member", "member id"), ("account", "account number")):
            if getattr(self, name):
                parts.append(label)
        for name in ("payer", "category", "portal"):
            value = getattr(self, name)
            if value:
                parts.append(f"{name} {value}" if name in known else name)
        if self.run:
            parts.append("run id")
        if self.captured_from or self.captured_to:
            parts.append("capture dates")
        return "by " + ", ".join(parts)

    def logged(self, result: SearchResult, known: Iterable[str] = ()) -> str:
        """The access log's line for a search: what it was by, and how much it found."""
        found = f"{result.found} {'claims' if result.claims is not None else 'records'} found"
        page = f", page before {result.before_kind} {self.before}" if self.before is not None else ""
        line = f"evidence search {self.described(known)}{page}: {found}"
        return line if len(line) <= LOG_LINE else f"evidence search (many criteria): {found}"

    @property
    def start(self) -> dt.datetime | None:
        return _midnight(self.captured_from) if self.captured_from else None

    @property
    def end(self) -> dt.datetime | None:
        return _midnight(self.captured_to + dt.timedelta(days=1)) if self.captured_to else None

    def hidden(self) -> dict[str, str]:
        """The criteria as the next page's form posts them again (without the keyset)."""
        values = {name: getattr(self, name) for name in ("claim", "member", "account", "payer", "category")}
        values |= {"portal": self.portal, "run": self.run}
        values |= {"captured_from": self.captured_from.isoformat() if self.captured_from else ""}
        values |= {"captured_to": self.captured_to.isoformat() if self.captured_to else ""}
        return {name: value for name, value in values.items() if value}


@dataclass(frozen=True)
class RegistryCodes:
    """The codes the portal registry names: its portal keys and the payer ids they serve."""

    portals: tuple[str, ...] = ()
    payers: frozenset[str] = frozenset()


@functools.cache
def registry_codes(path: Path) -> RegistryCodes:
    """The portal keys and payer ids of the registry at `path`, read once; none when it cannot be read."""
    try:
        registry = PortalRegistry.load(path)
    except (RcmbotError, OSError):
        return RegistryCodes()
    payers = frozenset(payer for entry in registry.portals.values() for payer in entry.payer_ids)
    return RegistryCodes(tuple(sorted(registry.portals)), payers)


def _few(s: Session, rows: Select[Any], most: int) -> bool:
    """At most `most` of `rows` (a select of a constant: counted on an index alone where one
    serves, and no further than `most` + 1)."""
    return (s.scalar(select(func.count()).select_from(rows.limit(most + 1).subquery())) or 0) <= most


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


# -- search results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimHit:
    """A claim found, with its evidence records (matching the capture criteria) by kind."""

    item: Item
    kinds: Counter[str]
    latest: dt.datetime | None

    @property
    def records(self) -> int:
        return sum(self.kinds.values())


@dataclass(frozen=True)
class SearchResult:
    claims: list[ClaimHit] | None  # None: a records search
    records: list[EvidenceRecord] | None  # None: a claims search
    next_before: int | None  # keyset of the next page, when more follow

    @property
    def found(self) -> int:
        return len(self.claims if self.claims is not None else self.records or [])

    @property
    def before_kind(self) -> str:
        return "item" if self.claims is not None else "seq"


# -- the timeline ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """A record on the timeline with its verification."""

    record: EvidenceRecord
    check: Check

    @property
    def is_image(self) -> bool:
        return self.record.media_type in IMAGES

    @property
    def is_snapshot(self) -> bool:
        return self.record.media_type == "text/html"

    @property
    def is_trace(self) -> bool:
        return self.record.kind == "trace" and self.record.media_type == TRACE_TYPE

    @property
    def available(self) -> bool:
        """The file can be opened (it is there and still hashes to its record)."""
        return self.check.state in ("verified", "unsigned", "unchecked")


@dataclass
class Entry:
    """One event of a claim's timeline: a check, a review decision or applied action, or evidence
    captured outside any check on record."""

    at: dt.datetime
    kind: Literal["check", "decision", "applied", "evidence"]
    check: History | None = None
    change: tuple[str, str] | None = None  # a status change: (before, after)
    fields: list[tuple[str, str]] = field(default_factory=list)  # a decision's JSON, as text
    record: Shown | None = None  # a decision's own record
    files: list[Shown] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # hashes named that the index does not hold


@dataclass(frozen=True)
class Timeline:
    item: Item
    task: Task | None
    entries: list[Entry]
    records: list[EvidenceRecord]
    checkpoint: Checkpoint | None

    @property
    def states(self) -> Counter[str]:
        shown = [e.record for e in self.entries if e.record] + [f for e in self.entries for f in e.files]
        return Counter(s.check.label for s in shown)


def status_of(check: History) -> str:
    """A check's status as the timeline names it: category and text, else its outcome."""
    label = " ".join(part for part in (check.status_category, check.status_text) if part)
    return label or check.outcome.replace("_", " ")


def decision_fields(content: bytes) -> list[tuple[str, str]]:
    """A decision record's JSON as (name, text) pairs, the submitted form's fields one by one."""
    try:
        data = json.loads(content)
    except ValueError:
        return [("content", "not JSON")]
    if not isinstance(data, dict):
        return [("content", json.dumps(data))]
    form = data.pop("form", None)
    names = [*(name for name in DECISION_FIRST if name in data), *(name for name in data if name not in DECISION_FIRST)]
    pairs = [(name, _text(data[name])) for name in names]
    if isinstance(form, dict):
        pairs += [(f"form.{name}", _text(value)) for name, value in form.items()]
    elif form is not None:
        pairs.append(("form", _text(form)))
    return pairs


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _named_evidence(content: bytes | None) -> list[str]:
    """The evidence hashes a decision names (an applied action's confirmation screens)."""
    if content is None:
        return []
    try:
        form = json.loads(content).get("form") or {}
    except (ValueError, AttributeError):
        return []
    named = form.get("evidence") if isinstance(form, dict) else None
    return [str(h) for h in named if isinstance(h, str) and SHA256.fullmatch(h)] if isinstance(named, list) else []


def _decision_time(content: bytes | None, record: EvidenceRecord) -> dt.datetime:
    """When the decision was taken (its JSON's `at`), else when it was ledgered."""
    try:
        at = json.loads(content or b"").get("at")
        return dt.datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    except (ValueError, AttributeError, TypeError):
        return record.captured_at


class EvidenceBrowser:
    """The auditor's pages' reads, on the console's stores (one per request: it holds nothing)."""

    def __init__(
        self,
        worklist: WorklistStore,
        index: EvidenceIndex,
        review: ReviewStore | None,
        verifier: Verifier,
        registry: RegistryCodes | None = None,
    ) -> None:
        self.worklist, self.index, self.review, self.verifier = worklist, index, review, verifier
        self.registry = registry or RegistryCodes()
        self.portals = list(self.registry.portals)

    # searching

    def choices(self) -> dict[str, list[str]]:
        """The search form's choices: the payers and categories review tasks have (read at most
        once a minute by the review store), and the registry's portals (the evidence index has no
        index on the portal, so a portal is picked, not typed: a portal no record has would be
        looked for in every record)."""
        facets = self.review.facets() if self.review is not None else {}
        categories = facets.get("category", [])
        return {"payers": facets.get("payer_id", []), "categories": categories, "portals": self.portals}

    def search(self, criteria: Criteria, limit: int = SEARCH_PAGE) -> SearchResult:
        """One page of claims or records. The index catches up with the log first, so that the
        records of a run in progress are found: from its saved offset that reads only what was
        appended since (with nothing new, a few milliseconds, as every timeline view spends)."""
        self.index.sync()
        if criteria.by_claim:
            return self._claims(criteria, limit)
        found = self._records(criteria, limit + 1)
        more = len(found) > limit
        return SearchResult(None, found[:limit], found[limit - 1].seq if more else None)

    def known(self, criteria: Criteria) -> frozenset[str]:
        """Which of the payer, category and portal searched by hold a code this console knows (a
        payer id of the registry or the worklist, a denial category, a registry portal): only
        those may be logged by value. Anything else was typed, and may be PHI."""
        known = set()
        if criteria.payer and (criteria.payer in self.registry.payers or self._worklist_payer(criteria.payer)):
            known.add("payer")
        if criteria.category in CATEGORIES:
            known.add("category")
        if criteria.portal and criteria.portal in self.registry.portals:
            known.add("portal")
        return frozenset(known)

    def _worklist_payer(self, payer_id: str) -> bool:
        with self.worklist.session() as s:  # one probe of uq_item_key (payer id leads)
            return s.scalar(select(Item.id).where(Item.payer_id == payer_id).limit(1)) is not None

    def _captured(self, criteria: Criteria) -> list[ColumnElement[bool]]:
        where = []
        if criteria.portal:
            where.append(evidence_rows.c.portal == criteria.portal)
        if criteria.run:
            where.append(evidence_rows.c.run_id == criteria.run)
        if criteria.start:
            where.append(evidence_rows.c.captured_at >= criteria.start)
        if criteria.end:
            where.append(evidence_rows.c.captured_at < criteria.end)
        return where

    def _claims(self, criteria: Criteria, limit: int) -> SearchResult:
        """Items matching, newest (highest id) first, with their records counted by kind.

        Which side leads is chosen as a planner with statistics would: a number typed leads
        (its index finds an item or two); else a category or a run or date range that matches
        few rows leads through its index (ix_review_category, ix_evidence_run, ix_evidence_captured)
        and the items are looked up by id; else the items are read by id from the newest, each
        probed on ix_review_tasks_item_id and ix_evidence_item, and a page fills quickly because
        many match. A payer leads only when it has few items: its index would have every item
        of the payer read and sorted."""
        query: Select[Any] = select(Item)
        numbered = False
        for name, column in (
            ("claim", Item.payer_claim_number),
            ("member", Item.member_id),
            ("account", Item.account_number),
        ):
            typed = getattr(criteria, name)
            if typed:
                query = query.where(column.in_({typed, typed.upper()}))
                numbered = True
        captured = self._captured(criteria)
        with self.worklist.session() as s:
            if criteria.payer:
                of_payer = select(literal(1)).select_from(Item).where(Item.payer_id == criteria.payer)
                if numbered or not _few(s, of_payer, FEW_ITEMS):
                    query = query.where(Item.payer_id.concat("") == criteria.payer)  # an expression: no index
                else:
                    query = query.where(Item.payer_id == criteria.payer)
            if criteria.category:
                of_category = (Task.category == criteria.category,)
                if not numbered and _few(s, select(literal(1)).select_from(Task).where(*of_category), FEW_TASKS):
                    query = query.where(Item.id.in_(select(Task.item_id).where(*of_category)))
                else:
                    query = query.where(exists().where(Task.item_id == Item.id, *of_category))
            if captured:
                indexed = criteria.run or criteria.start or criteria.end
                if (
                    indexed
                    and not numbered
                    and _few(s, select(literal(1)).select_from(evidence_rows).where(*captured), FEW_RECORDS)
                ):
                    query = query.where(Item.id.in_(select(evidence_rows.c.item_id).where(*captured)))
                else:
                    query = query.where(exists().where(evidence_rows.c.item_id == Item.id, *captured))
            if criteria.before is not None:
                query = query.where(Item.id < criteria.before)
            items = list(s.scalars(query.order_by(Item.id.desc()).limit(limit + 1)))
            page = items[:limit]
            counts = s.execute(
                select(
                    evidence_rows.c.item_id, evidence_rows.c.kind, func.count(), func.max(evidence_rows.c.captured_at)
                )
                .where(evidence_rows.c.item_id.in_([item.id for item in page]), *captured)
                .group_by(evidence_rows.c.item_id, evidence_rows.c.kind)
            ).all()
        kinds: dict[int, Counter[str]] = {item.id: Counter() for item in page}
        latest: dict[int, dt.datetime] = {}
        for item_id, kind, n, newest in counts:
            kinds[item_id][kind] = n
            newest = newest if newest.tzinfo else newest.replace(tzinfo=dt.UTC)
            latest[item_id] = max(latest.get(item_id, newest), newest)
        hits = [ClaimHit(item, kinds[item.id], latest.get(item.id)) for item in page]
        return SearchResult(hits, None, page[-1].id if len(items) > limit else None)

    def _records(self, criteria: Criteria, limit: int) -> list[EvidenceRecord]:
        """Records newest first by capture time (then seq), read from ix_evidence_captured's end
        (or from ix_evidence_run): never a sort of every record in a long date range. The keyset is
        the last record shown, (captured_at, seq)."""
        c = evidence_rows.c
        query = select(evidence_rows).where(*self._captured(criteria))
        with self.index.engine.connect() as conn:
            if criteria.before is not None:
                edge = conn.scalar(select(c.captured_at).where(c.seq == criteria.before))
                if edge is None:
                    return []
                query = query.where(c.captured_at <= edge, or_(c.captured_at < edge, c.seq < criteria.before))
            ordered = query.order_by(c.captured_at.desc(), c.seq.desc()).limit(limit)
            return [_record(row._mapping) for row in conn.execute(ordered)]

    # one claim

    def timeline(self, item_id: int) -> Timeline | None:
        """The claim's checks, status changes, decisions and applied actions in time order, each
        with its files, every record shown verified."""
        item = self.worklist.item(item_id)
        if item is None:
            return None
        self.index.sync()  # evidence captured or expired a moment ago
        records = self.index.for_items([item_id])
        removed = any(r.stored.path is None for r in records)
        tombstones = self.index.search(EvidenceQuery(kinds=("tombstone",), limit=10_000)) if removed else []
        checks, contents = self.verifier.verify(records, tombstones)
        shown = {r.seq: Shown(r, checks[r.seq]) for r in records}
        by_sha: dict[str, list[EvidenceRecord]] = {}
        for record in records:
            by_sha.setdefault(record.sha256, []).append(record)
        used: set[int] = set()

        def files(hashes: Sequence[str], run_id: str | None) -> tuple[list[Shown], list[str]]:
            found, missing = [], []
            for sha in hashes:
                candidates = by_sha.get(sha, [])
                pick = next((r for r in candidates if r.run_id == run_id and r.seq not in used), None)
                pick = pick or next((r for r in candidates if r.seq not in used), None) or next(iter(candidates), None)
                if pick is None:
                    missing.append(sha)
                    continue
                used.add(pick.seq)
                found.append(shown[pick.seq])
            return found, missing

        entries: list[Entry] = []
        status: str | None = None
        for check in self.worklist.history(item_id):
            hashes = [str(h) for h in json.loads(check.evidence or "[]")]
            attached, missing = files(hashes, check.run_id)
            entry = Entry(check.checked_at, "check", check=check, files=attached, missing=missing)
            if check.outcome in STATUS_READ:
                now = status_of(check)
                if status is not None and now != status:
                    entry.change = (status, now)
                status = now
            entries.append(entry)
        by_run = {e.check.run_id: e for e in entries if e.check is not None}
        for record in records:
            if record.kind not in ("decision", "applied"):
                continue
            used.add(record.seq)
            content = contents.get(record.seq)
            attached, missing = files(_named_evidence(content), record.run_id)
            fields = decision_fields(content) if content is not None else []
            at = _decision_time(content, record)
            kind: Literal["decision", "applied"] = "applied" if record.kind == "applied" else "decision"
            entries.append(Entry(at, kind, fields=fields, record=shown[record.seq], files=attached, missing=missing))
        for record in records:  # traces and captures no check or decision names: by their run
            if record.seq in used:
                continue
            owner = by_run.get(record.run_id)
            if owner is not None:
                owner.files.append(shown[record.seq])
            else:
                entries.append(Entry(record.captured_at, "evidence", files=[shown[record.seq]]))
        entries.sort(key=lambda e: e.at)
        task = self.review.task_for_item(item_id) if self.review is not None else None
        return Timeline(item, task, entries, records, self.verifier.proofs().latest())

    def trace(self, sha256: str) -> tuple[EvidenceRecord, bytes] | None:
        """A Playwright trace's record and its decrypted bytes; None when no trace has that hash.
        EvidenceError when its file was altered or removed."""
        record = self.index.find(sha256) if SHA256.fullmatch(sha256) else None
        if record is None or record.kind != "trace" or record.media_type != TRACE_TYPE:
            return None
        return record, self.index.store.read(record)

    def export(self, item_id: int, settings: Settings) -> Package | None:
        """The claim's audit package (every record of it, and the tombstones of those whose file
        retention removed, under a checkpoint signed now if the log grew) in a private temporary
        file; None when there is no such claim. PackageUnavailableError when this build has no
        package export; InputError when the claim has no evidence (as `rcmbot evidence export`);
        EvidenceError when a record's file was altered or removed, or a record does not prove
        into the checkpoint."""
        if self.worklist.item(item_id) is None:
            return None
        try:
            from bots.evidence.package import export_package, records_of_items
        except ImportError as exc:
            raise PackageUnavailableError("the audit package export is not part of this build") from exc
        records = records_of_items(self.index, [item_id])  # caught up with the log first
        if not records:
            raise InputError(f"item {item_id} has no evidence records: nothing to export")
        # unlinked at once, mode 0600 (evidence holds PHI); Package.chunks closes it once sent
        out = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            summary = export_package(self.index.store, records, signer(settings), out)
        except BaseException:
            out.close()
            raise
        return Package(summary, out)


@dataclass(frozen=True)
class Package:
    """An exported audit package, its bytes sent once by `chunks` (which closes the file)."""

    summary: PackageSummary
    file: BinaryIO

    def chunks(self, size: int = 64 * 1024) -> Iterator[bytes]:
        try:
            self.file.seek(0)
            while block := self.file.read(size):
                yield block
        finally:
            self.file.close()


def _record(row: Any) -> EvidenceRecord:
    """A record from its evidence_index row (the columns of EvidenceRecord, `stored` spread out)."""
    data = dict(row)
    stored = Stored(path=data.pop("path"), sha256=data.pop("stored_sha256"), key=data.pop("key_id"))
    return EvidenceRecord(**data, stored=stored)
