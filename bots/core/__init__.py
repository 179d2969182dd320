"""Core: settings, domain models, errors and logging. Imports neither Prefect nor a browser."""

from typing import TYPE_CHECKING

from bots.core.errors import (
    ApplicationError,
    BrowserNotFoundError,
    BusinessError,
    ConfigError,
    EvidenceError,
    InputError,
    PortalBusyError,
    PortalTimeoutError,
    RcmbotError,
    SessionExpiredError,
)
from bots.core.lazy import lazy_exports
from bots.core.logs import (
    CHUNK_SIZE,
    FALLBACK_MAX_VALUES,
    LOOSE_VALUES,
    REDACTED,
    RedactionScope,
    Redactor,
    configure_logging,
    get_logger,
    redact_stdlib_records,
    redaction_scope,
    redactor,
)
from bots.core.memory import limit_malloc_arenas
from bots.core.models import (
    APPLICATION_FAILURES,
    CATEGORY_PATTERN,
    Adjustment,
    CheckResult,
    ClaimDetail,
    FailureKind,
    ItemRef,
    Outcome,
    ResultRow,
    Role,
    ServiceLine,
    category_name,
    summary_key,
)
from bots.core.money import format_cents, parse_cents
from bots.core.ratelimit import RateLimiter
from bots.core.registry import (
    Blocked,
    Canary,
    Credentials,
    MaintenanceWindow,
    MissingCredentialsError,
    PortalEntry,
    PortalRegistry,
    Route,
    use_secret_blocks,
)
from bots.core.settings import (
    AlertSettings,
    BrowserSettings,
    ConsoleSettings,
    EvidenceSettings,
    LogSettings,
    PrefectSettings,
    ReviewSettings,
    Settings,
    SimSettings,
    SweepSettings,
)
from bots.core.yamlfile import key_line, line_of, load_model

if TYPE_CHECKING:
    from bots.core.dbtypes import UTCDateTime

__all__ = [
    "APPLICATION_FAILURES",
    "Adjustment",
    "AlertSettings",
    "ApplicationError",
    "Blocked",
    "BrowserNotFoundError",
    "BrowserSettings",
    "BusinessError",
    "CATEGORY_PATTERN",
    "CHUNK_SIZE",
    "Canary",
    "CheckResult",
    "ClaimDetail",
    "ConfigError",
    "ConsoleSettings",
    "Credentials",
    "EvidenceError",
    "EvidenceSettings",
    "FALLBACK_MAX_VALUES",
    "FailureKind",
    "InputError",
    "ItemRef",
    "LOOSE_VALUES",
    "LogSettings",
    "MaintenanceWindow",
    "MissingCredentialsError",
    "Outcome",
    "PortalBusyError",
    "PortalEntry",
    "PortalRegistry",
    "PortalTimeoutError",
    "PrefectSettings",
    "REDACTED",
    "RateLimiter",
    "RcmbotError",
    "RedactionScope",
    "Redactor",
    "ResultRow",
    "ReviewSettings",
    "Role",
    "Route",
    "ServiceLine",
    "SessionExpiredError",
    "Settings",
    "SimSettings",
    "SweepSettings",
    "UTCDateTime",
    "category_name",
    "configure_logging",
    "format_cents",
    "get_logger",
    "key_line",
    "lazy_exports",
    "limit_malloc_arenas",
    "line_of",
    "load_model",
    "parse_cents",
    "redact_stdlib_records",
    "redaction_scope",
    "redactor",
    "summary_key",
    "use_secret_blocks",
]

# SQLAlchemy loads only for the rooms that keep tables
__getattr__ = lazy_exports(__name__, {"UTCDateTime": "bots.core.dbtypes"})
