"""Structured logging with PHI and secret redaction.

Redaction is a structlog processor, so it sees every event before any renderer. It removes
 - values under keys that name PHI or secrets (patient_name, member_id, password, ...);
 - known sensitive values wherever they appear, including inside free text: the bot registers
   each item's identifiers and every credential before it touches them;
 - anything shaped like a date or a long identifier, as a safety net for values nobody registered.
Internal ids (run_id, item_id, evidence hashes) are left alone: they are what logs should carry.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog
from pydantic import SecretStr

from bots.core.settings import LogSettings

REDACTED = "[REDACTED]"

_SENSITIVE_KEY = re.compile(
    r"patient|member|subscriber|account|claim_?n(o|um)|dob|birth|^dos|service_date|"
    r"passw|secret|totp|otp|token|cookie|authorization|credential",
    re.IGNORECASE,
)
_SAFE_KEYS = frozenset(
    {"event", "level", "timestamp", "logger", "run_id", "flow_run_id", "item_id", "sha256",
     "portal", "outcome", "category", "screen", "element", "candidate", "attempt", "exception"}
)
_PATTERNS = (
    re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?\b"),  # ISO dates
    re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b"),  # US dates
    re.compile(r"\b[A-Za-z]{0,4}-?\d{6,}\b"),  # member ids, account and claim numbers
)


class Redactor:
    """Thread-safe set of known sensitive values plus the pattern safety net."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._regex: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def register(self, values: Iterable[str | SecretStr | None]) -> None:
        new = set()
        for value in values:
            text = value.get_secret_value() if isinstance(value, SecretStr) else value
            if text and len(text.strip()) >= 3:
                new.add(text.strip())
        with self._lock:
            if not new <= self._values:
                self._values |= new
                # Longest first, so "Ana Maria Diaz" wins over "Ana Maria".
                alternation = "|".join(re.escape(v) for v in sorted(self._values, key=len)[::-1])
                self._regex = re.compile(alternation, re.IGNORECASE)

    def text(self, text: str) -> str:
        regex = self._regex
        if regex is not None:
            text = regex.sub(REDACTED, text)
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


def configure_logging(settings: LogSettings, stream: Any = None) -> None:
    """Set up structlog: JSON when not on a terminal (or when asked), redaction always."""
    stream = stream or sys.stderr
    as_json = settings.format == "json" or (settings.format == "auto" and not stream.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    )
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
