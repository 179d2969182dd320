"""The rcmbot error tree.

RcmbotError
├── ConfigError          bad settings, registry, selector map or rules file (names file, line, key)
├── InputError           bad input data, e.g. a worklist CSV row (names file, row, field)
├── BusinessError        the data is wrong for the portal: do not retry, route to a person
├── ApplicationError     system trouble (timeouts, portal errors): retry with backoff
│   ├── SessionExpiredError   the portal logged the bot out: log in again, then retry
│   ├── PortalTimeoutError    a page did not answer in time
│   └── PortalBusyError       HTTP 429 or 5xx; a Retry-After is honoured
├── BrowserNotFoundError no usable Chromium on this machine
└── EvidenceError        the evidence store is missing or inconsistent
"""

from __future__ import annotations

from collections.abc import Iterable

from bots.core.models import FailureKind


class RcmbotError(Exception):
    """Base of every error rcmbot raises on purpose."""


class ConfigError(RcmbotError):
    """A configuration file is invalid. The message names the file, line and key of each
    problem, one problem per line: `problems` lists them as single ConfigErrors (this one alone,
    when there is one), and file, line, key and problem are the first one's."""

    def __init__(self, file: str, line: int | None, key: str, problem: str) -> None:
        self.file, self.line, self.key, self.problem = file, line, key, problem
        self.problems: list[ConfigError] = [self]
        super().__init__(file, line, key, problem)

    @classmethod
    def collect(cls, errors: Iterable[ConfigError]) -> ConfigError:
        """One error carrying every problem of `errors` (at least one; each may carry several)."""
        problems = [problem for error in errors for problem in error.problems]
        if len(problems) == 1:
            return problems[0]
        first = problems[0]
        collected = cls(first.file, first.line, first.key, first.problem)
        collected.problems = problems
        return collected

    @property
    def located(self) -> str:
        """This one problem as `file:line: key: problem` (`file: key: problem` without a line)."""
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.problem}"

    def __str__(self) -> str:
        return "\n".join(problem.located for problem in self.problems)


class InputError(RcmbotError):
    """Input data is invalid; nothing from it was recorded."""


class BusinessError(RcmbotError):
    """The item cannot be worked automatically; a person must look at it."""

    failure = FailureKind.REJECTED


class ApplicationError(RcmbotError):
    """Transient trouble with the portal or the browser; worth retrying."""

    failure = FailureKind.PORTAL_ERROR


class SessionExpiredError(ApplicationError):
    """The portal ended the session (inactivity); log in again and retry."""

    failure = FailureKind.SESSION


class PortalTimeoutError(ApplicationError):
    """A page did not answer within the navigation timeout (a stalled portal)."""

    failure = FailureKind.TIMEOUT


class PortalBusyError(ApplicationError):
    """The portal answered 429 (too many requests) or 5xx, maybe saying when to come back."""

    def __init__(self, message: str, status: int, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status, self.retry_after_s = status, retry_after_s

    @property
    def failure(self) -> FailureKind:  # type: ignore[override]
        return FailureKind.RATE_LIMITED if self.status == 429 else FailureKind.PORTAL_ERROR


class BrowserNotFoundError(RcmbotError):
    """No Chromium could be found to launch."""


class EvidenceError(RcmbotError):
    """Evidence is missing, altered, or the store cannot be written."""
