"""The rcmbot error tree.

RcmbotError
├── ConfigError          bad settings, registry, selector map or rules file (names file, line, key)
├── InputError           bad input data, e.g. a worklist CSV row (names file, row, field)
├── BusinessError        the data is wrong for the portal: do not retry, route to a person
├── ApplicationError     system trouble (timeouts, portal errors): retry with backoff
│   └── SessionExpiredError   the portal logged the bot out: log in again, then retry
├── BrowserNotFoundError no usable Chromium on this machine
└── EvidenceError        the evidence store is missing or inconsistent
"""


class RcmbotError(Exception):
    """Base of every error rcmbot raises on purpose."""


class ConfigError(RcmbotError):
    """A configuration file is invalid. The message names the file, line and key."""

    def __init__(self, file: str, line: int | None, key: str, problem: str) -> None:
        self.file, self.line, self.key, self.problem = file, line, key, problem
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {key}: {problem}")


class InputError(RcmbotError):
    """Input data is invalid; nothing from it was recorded."""


class BusinessError(RcmbotError):
    """The item cannot be worked automatically; a person must look at it."""


class ApplicationError(RcmbotError):
    """Transient trouble with the portal or the browser; worth retrying."""


class SessionExpiredError(ApplicationError):
    """The portal ended the session (inactivity); log in again and retry."""


class BrowserNotFoundError(RcmbotError):
    """No Chromium could be found to launch."""


class EvidenceError(RcmbotError):
    """Evidence is missing, altered, or the store cannot be written."""
