"""Core: settings, domain models, errors and logging. Imports neither Prefect nor a browser."""

from bots.core.errors import (
    ApplicationError,
    BrowserNotFoundError,
    BusinessError,
    ConfigError,
    EvidenceError,
    InputError,
    RcmbotError,
    SessionExpiredError,
)
from bots.core.logs import (
    CHUNK_SIZE,
    FALLBACK_MAX_VALUES,
    REDACTED,
    RedactionScope,
    Redactor,
    configure_logging,
    get_logger,
    redaction_scope,
    redactor,
)
from bots.core.models import (
    CATEGORY_PATTERN,
    Adjustment,
    CheckResult,
    ClaimDetail,
    ItemRef,
    Outcome,
    ResultRow,
    ServiceLine,
    category_name,
    summary_key,
)
from bots.core.money import format_cents, parse_cents
from bots.core.ratelimit import RateLimiter
from bots.core.registry import (
    Canary,
    Credentials,
    MaintenanceWindow,
    PortalEntry,
    PortalRegistry,
    Route,
    use_secret_blocks,
)
from bots.core.settings import BrowserSettings, LogSettings, PrefectSettings, Settings, SimSettings, SweepSettings
from bots.core.yamlfile import line_of, load_model

__all__ = [
    "Adjustment", "ApplicationError", "BrowserNotFoundError", "BrowserSettings", "BusinessError",
    "CATEGORY_PATTERN", "CHUNK_SIZE", "Canary", "CheckResult", "ClaimDetail", "ConfigError", "Credentials",
    "EvidenceError", "FALLBACK_MAX_VALUES", "InputError", "ItemRef", "LogSettings", "MaintenanceWindow",
    "Outcome", "PortalEntry", "PortalRegistry", "PrefectSettings", "REDACTED", "RateLimiter", "RcmbotError",
    "RedactionScope", "Redactor", "ResultRow", "Route", "ServiceLine", "SessionExpiredError", "Settings",
    "SimSettings", "SweepSettings", "category_name", "configure_logging", "format_cents", "get_logger",
    "line_of", "load_model", "parse_cents", "redaction_scope", "redactor", "summary_key", "use_secret_blocks",
]
