"""Structured logging with PHI and secret redaction.

Redaction is a structlog processor, so it sees every event before any renderer. It removes
 - values under keys that name PHI or secrets (patient_name, member_id, password, ...);
 - known sensitive values wherever they appear, including inside free text: the bot registers
   each item's identifiers and every credential before it touches them;
 - anything shaped like a date or a long identifier, as a safety net for values nobody registered.
Internal ids (run_id, item_id, evidence hashes) are left alone: they are what logs should carry.

Known values live in a `RedactionScope`, so the set does not grow for the life of the process:
 - a sweep run enters `redaction_scope()`; what is registered inside belongs to that run's scope and
   is dropped when the run leaves it. The scope is held in a context variable, so asyncio tasks and
   `asyncio.to_thread` calls started inside share it, while concurrent runs each have their own
   (a bare `threading.Thread` starts with an empty context: it registers into the fallback below).
   A scope entered inside another also redacts the enclosing scopes' values (never fewer redactions).
 - values registered outside any scope (`rcmbot selectors check`, preflight, tests) go to one
   process-level fallback scope, bounded to `FALLBACK_MAX_VALUES` values (the oldest chunk goes
   first). Fallback values are redacted everywhere, inside run scopes too.
 - a scope keeps values in chunks of `CHUNK_SIZE`, one compiled alternation each, the newest few
   (under `LOOSE_VALUES`) a pattern each until they are folded in: registering a value compiles it
   alone, or the newest chunk, never the values registered before. Every chunk is searched and
   overlapping matches are merged, so "Ana Maria Diaz" is redacted whole even when "Ana Maria" came
   first, in another chunk. Matching is case-insensitive; values shorter than 3 characters are ignored.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
from collections import deque
from collections.abc import Iterable, Iterator, MutableMapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Any

import structlog
from pydantic import SecretStr

from bots.core.settings import LogSettings

__all__ = [
    "CHUNK_SIZE",
    "LOOSE_VALUES",
    "FALLBACK_MAX_VALUES",
    "REDACTED",
    "RedactionScope",
    "Redactor",
    "configure_logging",
    "redact_stdlib_records",
    "get_logger",
    "redaction_scope",
    "redactor",
]

REDACTED = "[REDACTED]"
CHUNK_SIZE = 64  # values per compiled alternation
LOOSE_VALUES = 8  # newest values of a chunk matched one by one before it is compiled again
FALLBACK_MAX_VALUES = 4096  # values kept outside any run scope (rounded up to whole chunks)
MIN_LENGTH = 3  # shorter values are not registered

_SENSITIVE_KEY = re.compile(
    r"patient|member|subscriber|account|claim_?n(o|um)|dob|birth|^dos|service_date|"
    r"passw|secret|totp|otp|token|cookie|authorization|credential",
    re.IGNORECASE,
)
_SAFE_KEYS = frozenset(
    {
        "event",
        "level",
        "timestamp",
        "logger",
        "run_id",
        "flow_run_id",
        "item_id",
        "sha256",
        "portal",
        "outcome",
        "category",
        "screen",
        "element",
        "candidate",
        "attempt",
        "exception",
    }
)
_PATTERNS = (
    re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?\b"),  # ISO dates
    re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b"),  # US dates
    re.compile(r"\b[A-Za-z]{0,4}-?\d{6,}\b"),  # member ids, account and claim numbers
)


class _Chunk:
    """Values matched by the chunk's alternation, and the newest (fewer than LOOSE_VALUES) by a
    pattern each until they are folded into it: a sweep registers a claim's identifiers at
    every claim, and recompiling the chunk each time was a measurable share of a claim's CPU;
    searching a line stays a few patterns per chunk."""

    __slots__ = ("values", "singles", "pattern")

    def __init__(self) -> None:
        self.values: list[str] = []
        self.singles: list[re.Pattern[str]] = []
        self.pattern: re.Pattern[str] | None = None

    def patterns(self) -> tuple[re.Pattern[str], ...]:
        return ((self.pattern,) if self.pattern is not None else ()) + tuple(self.singles)


class RedactionScope:
    """Known sensitive values of one run (or of the process fallback), thread-safe.

    `rebuilds` counts alternations compiled (a chunk's, every LOOSE_VALUES values) and `compiled`
    the values compiled in total: registering one value at a time compiles each about
    chunk_size / LOOSE_VALUES / 2 + 1 times, never the whole set.
    With `max_values`, at most that many values (rounded up to whole chunks) are kept."""

    def __init__(
        self,
        *,
        chunk_size: int = CHUNK_SIZE,
        max_values: int | None = None,
        parent: RedactionScope | None = None,
        name: str = "run",
    ) -> None:
        if chunk_size < 1 or (max_values is not None and max_values < 1):
            raise ValueError("chunk_size and max_values must be positive")
        self.name = name
        self.chunk_size = chunk_size
        self.max_chunks = None if max_values is None else -(-max_values // chunk_size)
        self.parent = parent
        self.closed = False
        self.rebuilds = 0
        self.compiled = 0
        self._chunks: deque[_Chunk] = deque()
        self._where: dict[str, _Chunk] = {}  # value -> the chunk holding it
        self._patterns: tuple[re.Pattern[str], ...] = ()  # replaced whole, so readers need no lock
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the values themselves
        return f"<RedactionScope {self.name} values={len(self)} chunks={len(self._chunks)} closed={self.closed}>"

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, value: object) -> bool:
        return value in self._where

    @property
    def values(self) -> frozenset[str]:
        """A snapshot of the values held (for tests and checks; never log it)."""
        with self._lock:
            return frozenset(self._where)

    @property
    def chunks(self) -> int:
        return len(self._chunks)

    def add(self, values: Iterable[str]) -> None:
        """Add already-normalized values: each a pattern of its own, folded into its chunk's
        alternation once LOOSE_VALUES have gathered or the chunk is full."""
        with self._lock:
            added = False
            for value in values:
                if value in self._where:
                    continue
                chunk = self._append(value)
                added = True
                if len(chunk.singles) + 1 < LOOSE_VALUES and len(chunk.values) < self.chunk_size:
                    chunk.singles.append(re.compile(re.escape(value), re.IGNORECASE))
                    self.compiled += 1
                    continue
                # Longest first within a chunk, so the longest value starting at a position wins.
                ordered = sorted(chunk.values, key=len, reverse=True)
                chunk.pattern = re.compile("|".join(map(re.escape, ordered)), re.IGNORECASE)
                chunk.singles.clear()
                self.rebuilds += 1
                self.compiled += len(ordered)
            if added:
                self._patterns = tuple(p for c in self._chunks for p in c.patterns())

    def _append(self, value: str) -> _Chunk:
        if not self._chunks or len(self._chunks[-1].values) >= self.chunk_size:
            self._chunks.append(_Chunk())
            while self.max_chunks is not None and len(self._chunks) > self.max_chunks:
                for old in self._chunks.popleft().values:
                    del self._where[old]
        chunk = self._chunks[-1]
        chunk.values.append(value)
        self._where[value] = chunk
        return chunk

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Every occurrence of every value, overlapping ones included, as (start, end)."""
        found = []
        for pattern in self._patterns:
            match = pattern.search(text)
            while match is not None:
                found.append(match.span())
                match = pattern.search(text, match.start() + 1)
        return found

    def close(self) -> None:
        """Drop every value; later registrations through this scope go to its enclosing one."""
        with self._lock:
            self.closed = True
            self._chunks.clear()
            self._where.clear()
            self._patterns = ()


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or adjacent spans as one."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


class Redactor:
    """Known sensitive values, scoped per run, plus the pattern safety net."""

    def __init__(self, *, chunk_size: int = CHUNK_SIZE, fallback_max_values: int = FALLBACK_MAX_VALUES) -> None:
        self.chunk_size = chunk_size
        self.fallback = RedactionScope(chunk_size=chunk_size, max_values=fallback_max_values, name="process")
        # One per redactor (there is one per process); holds the innermost scope entered.
        self._active: ContextVar[RedactionScope | None] = ContextVar(f"redaction_scope_{id(self)}", default=None)

    @contextmanager
    def scope(self, name: str = "run") -> Iterator[RedactionScope]:
        """Values registered inside (in this task and tasks or threads started from it with the
        context copied) belong to a new scope, dropped on exit."""
        scope = RedactionScope(chunk_size=self.chunk_size, parent=self._active.get(), name=name)
        token = self._active.set(scope)
        try:
            yield scope
        finally:
            self._active.reset(token)
            scope.close()

    @property
    def current(self) -> RedactionScope:
        """The scope register() adds to here: the innermost open scope, else the fallback."""
        scope = self._active.get()
        while scope is not None and scope.closed:
            scope = scope.parent
        return scope if scope is not None else self.fallback  # an empty scope is falsy

    def register(self, values: Iterable[str | SecretStr | None]) -> None:
        new = []
        for value in values:
            text = (value.get_secret_value() if isinstance(value, SecretStr) else value or "").strip()
            if len(text) >= MIN_LENGTH:
                new.append(text)
        if new:
            self.current.add(new)

    def _scopes(self) -> Iterator[RedactionScope]:
        scope = self._active.get()
        while scope is not None:
            if not scope.closed:
                yield scope
            scope = scope.parent
        yield self.fallback

    def text(self, text: str) -> str:
        spans = [span for scope in self._scopes() for span in scope.spans(text)]
        if spans:
            parts: list[str] = []
            last = 0
            for start, end in _merge(spans):
                parts += (text[last:start], REDACTED)
                last = end
            parts.append(text[last:])
            text = "".join(parts)
        for pattern in _PATTERNS:
            text = pattern.sub(REDACTED, text)
        return text

    def value(self, key: str, value: Any) -> Any:
        if key not in _SAFE_KEYS and _SENSITIVE_KEY.search(key):
            return REDACTED
        if isinstance(value, SecretStr):
            return REDACTED
        if isinstance(value, str):
            return self.text(value) if key not in _SAFE_KEYS or key in ("event", "exception") else value
        if isinstance(value, dict):
            return {k: self.value(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(key, v) for v in value]
        return value

    def __call__(self, _logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
        return {key: self.value(key, value) for key, value in event.items()}


redactor = Redactor()


def redaction_scope(name: str = "run") -> AbstractContextManager[RedactionScope]:
    """`with redaction_scope():` around one sweep run: what the run registers is dropped at its end.
    The process-wide `redactor`'s scope; yields the `RedactionScope` (its `values`, `rebuilds`)."""
    return redactor.scope(name)


def configure_logging(settings: LogSettings, stream: Any = None) -> None:
    """Set up structlog: JSON when not on a terminal (or when asked), redaction always."""
    stream = stream or sys.stderr
    as_json = settings.format == "json" or (settings.format == "auto" and not stream.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            structlog.processors.format_exc_info,
            redactor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, settings.level)),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)


def redact_stdlib_records() -> None:
    """Every stdlib log record (Prefect's engine and API log shipping, SQLAlchemy's, uvicorn's)
    through the same redaction, at creation: its message and any exception text are redacted
    before any handler sees them, including handlers Prefect installs later (it reconfigures
    logging when it starts). Idempotent."""
    base = logging.getLogRecordFactory()
    if getattr(base, "redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            # Its formatter reads the five args (client, method, path, version, status) itself:
            # each string redacted in place (the path's query may hold values), the rest kept.
            record.args = tuple(redactor.text(a) if isinstance(a, str) else a for a in record.args)
            return record
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string: keep what there is
            message = str(record.msg)
        if record.exc_info:
            message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            record.exc_info, record.exc_text = None, None
        record.msg, record.args = redactor.text(message), ()
        return record

    factory.redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


# Installed on import: any process that runs rcmbot code (a CLI command, a flow run that a
# Prefect worker started, a benchmark point) logs nothing unredacted, configured or not.
redact_stdlib_records()
