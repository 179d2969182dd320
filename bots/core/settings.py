"""Settings: one pydantic-settings model per area, read in this priority order:
init arguments > environment (RCMBOT_…, nested with __) > .env > config/settings.yaml > defaults.

Every duration is a number of seconds in a field ending in `_s`, so tests can run
time-based behaviour (session expiry, MFA windows, backoff, follow-up) in seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)


class BrowserSettings(BaseModel):
    path: Path | None = Field(None, description="Chromium executable; found automatically if unset")
    headless: bool = True
    renderer_processes: int | None = Field(
        None,
        ge=1,
        description=(
            "most Chromium renderer processes; unset: two per CPU core. Pages beyond it share "
            "processes: more only contend for the cores and cost ~80 MB each"
        ),
    )
    js_heap_mb: int = Field(
        64,
        ge=16,
        description=(
            "V8 old-generation limit per renderer: portal pages need little, and without a limit V8 "
            "collects so lazily that a renderer grows by hundreds of MB over a sweep"
        ),
    )
    js_young_mb: int = Field(
        1,
        ge=1,
        description=(
            "V8 young-generation semi-space per renderer (--max-semi-space-size): a portal page's "
            "short-lived objects fit in 1 MB; V8's default of up to 16 MB cost ~15 MB a renderer"
        ),
    )
    extra_args: list[str] = Field(default_factory=list, description="more Chromium command-line flags")
    page_claims: int = Field(
        25,
        ge=1,
        description=(
            "claims a page checks before a fresh page replaces it: a renderer's memory otherwise "
            "creeps up over a long sweep"
        ),
    )
    relaunches: int = Field(2, ge=0, description="times one sweep relaunches a browser that went away")
    navigation_timeout_s: float = 20.0
    action_timeout_s: float = 10.0
    screenshot_format: Literal["png8", "png", "jpeg"] = Field(
        "png",
        description=(
            "png: Chromium's own PNG, lossless, stored as it comes; png8: reduced to a small palette, "
            "crisp text at about a third of the bytes for ~30 ms of CPU per screen"
        ),
    )
    screenshot_colors: int = Field(32, ge=2, le=256, description="palette size for png8")
    screenshot_quality: int = Field(70, ge=1, le=100, description="JPEG quality")


class SweepSettings(BaseModel):
    concurrency: int = Field(4, ge=1, le=32, description="browser pages working at once (one context per portal)")
    retry_attempts: int = Field(4, ge=1, description="tries per claim on transient portal trouble")
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 8.0
    search_window_days: int = Field(30, ge=0, description="DOS padding for member searches")
    mailbox_wait_s: float = Field(60.0, gt=0, description="how long to wait for a mailed sign-in code")
    mailbox_poll_s: float = Field(1.0, gt=0, description="how often to look in the mailbox meanwhile")
    retry_total_s: float = Field(
        120.0, gt=0, description="longest one claim's tries and waits may take before it is given up (failed)"
    )
    retry_after_max_s: float = Field(
        60.0, ge=0, description="the longest Retry-After a portal may ask for and be waited on; longer defers"
    )
    circuit_failures: int = Field(
        8,
        ge=1,
        description="failed claims in a row, across a portal's pages, that open its circuit breaker for the run",
    )
    lease_s: float = Field(
        120.0, gt=0, description="how long a sweep holds the items it selected; renewed by its heartbeat"
    )
    heartbeat_s: float = Field(20.0, gt=0, description="how often a running sweep renews its leases")

    @model_validator(mode="after")
    def _beats_well_inside_a_lease(self) -> SweepSettings:
        if self.lease_s < 3 * self.heartbeat_s:
            raise ValueError(
                f"lease_s ({self.lease_s:g}) must be at least 3 heartbeats (heartbeat_s {self.heartbeat_s:g}): "
                "a missed beat must not let another sweep take a working run's items"
            )
        return self


class PrefectSettings(BaseModel):
    home: Path | None = Field(None, description="PREFECT_HOME; default <state_dir>/prefect")
    startup_timeout_s: float = Field(180.0, description="embedded server start (slow on a fresh DB)")
    serve_port: int = 4200


class ReviewSettings(BaseModel):
    """Human review of coding decisions (bots.review)."""

    maker_checker: bool = Field(True, description="nobody approves (or retries) a decision they edited")
    lease_s: float = Field(300.0, gt=0, description="how long opening a task holds it for its supervisor")
    apply_hold_s: float = Field(
        600.0, gt=0, description="how long an apply run holds a task it submits (one that died lets go after it)"
    )
    sla_s: float = Field(2 * 86400.0, gt=0, description="a new task is due this long after it is opened")
    timely_filing_days: dict[str, int] = Field(
        default_factory=dict,
        description="payer id -> days from the date of service to the payer's filing limit",
    )
    default_timely_filing_days: int = Field(365, ge=1, description="for payers not listed (Medicare: 12 months)")


class ConsoleSettings(BaseModel):
    """The supervisors' and auditors' web console (bots.console)."""

    host: str = "127.0.0.1"
    port: int = Field(8700, ge=0, le=65535)
    session_idle_s: float = Field(1800.0, gt=0, description="a console session ends after this long unused")
    session_max_s: float = Field(12 * 3600.0, gt=0, description="and after this long in any case")
    lockout_failures: int = Field(5, ge=1, description="failed logins in a row that lock an account")
    lockout_s: float = Field(900.0, gt=0, description="how long a locked account stays locked")
    secret_key: SecretStr | None = Field(
        None, description="signs CSRF tokens; default: a random key kept in the state directory"
    )
    page_size: int = Field(50, ge=1, le=500)


class EvidenceSettings(BaseModel):
    """The evidence store (bots.evidence): encryption at rest, signed checkpoints, retention."""

    encryption: bool = Field(False, description="encrypt stored evidence with AES-256-GCM (the demo turns it on)")
    key_file: Path | None = Field(
        None, description="the encryption keyring; default <state_dir>/keys/evidence-keys.json. Back it up apart"
    )
    signing_key_file: Path | None = Field(
        None, description="Ed25519 key that signs checkpoints; default <state_dir>/keys/evidence-signing-key.pem"
    )
    public_key_file: Path | None = Field(
        None, description="verify checkpoints against this public key (an auditor's copy) instead of the signing key"
    )
    retention_days: float = Field(
        6 * 365 + 2, gt=0, description="keep evidence this long from capture (HIPAA: 6 years)"
    )
    trace_failures: bool = Field(True, description="keep a Playwright trace (login excluded) of every failed check")


class AlertSettings(BaseModel):
    """Alerts (bots.alerts): one per incident, always kept for the console, and sent through each
    channel configured here (none: kept only, with a warning)."""

    webhook_url: SecretStr | None = Field(
        None, description="POST each alert here as JSON; a secret: the URL may carry a token"
    )
    webhook_token: SecretStr | None = Field(None, description="sent as `Authorization: Bearer <token>` when set")
    webhook_timeout_s: float = Field(10.0, gt=0)
    smtp_host: str | None = Field(None, description="mail each alert through this SMTP server; unset: no e-mail")
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_from: str = "rcmbot@localhost"
    smtp_to: list[str] = Field(default_factory=list, description="recipients (in the environment: a JSON list)")
    smtp_starttls: bool = Field(False, description="upgrade the connection with STARTTLS (before any login)")
    smtp_username: str | None = Field(None, description="log in to the SMTP server as this user when set")
    smtp_password: SecretStr | None = None
    smtp_timeout_s: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _mail_goes_somewhere(self) -> AlertSettings:
        if self.smtp_host and not self.smtp_to:
            raise ValueError("alerts.smtp_host is set but alerts.smtp_to names no recipient")
        return self


class LogSettings(BaseModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "json", "console"] = "auto"


class SimSettings(BaseModel):
    """The simulated payer portal (used by the demo, the tests and the benchmarks)."""

    seed: int = 7
    claims: int = Field(200, ge=10, description="worklist items the demo data set holds")
    latency_ms: int = Field(0, ge=0, description="added to every portal page response")
    session_idle_s: float = 900.0
    totp_valid_window: int = Field(1, ge=0, description="accepted TOTP steps either side of now")
    mail_code_ttl_s: float = Field(600.0, gt=0, description="how long a mailed sign-in code stays valid")
    page_size: int = 10
    timezone: str = "America/Chicago"
    faults: dict[str, str] = Field(
        default_factory=dict, description="portal key -> fault profile it runs with (bots.sim.faults)"
    )
    fault_rate: float = Field(0.2, ge=0, le=1, description="share of page requests a fault profile fails")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RCMBOT_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="forbid",
        yaml_file="config/settings.yaml",
    )

    project_root: Path = Field(default_factory=Path.cwd)
    state_dir: Path = Field(Path(".rcmbot"), description="databases, Prefect home, demo state")
    database_url: SecretStr | None = Field(
        None,
        description="worklist DB (any SQLAlchemy URL; a secret: it may hold a password); default SQLite in state_dir",
    )
    evidence_dir: Path | None = Field(None, description="evidence store root; default evidence/")
    portals_file: Path = Path("config/portals.yaml")
    followup_rules_file: Path = Path("config/followup.yaml")
    denial_rules_file: Path = Path("config/denials.yaml")

    browser: BrowserSettings = BrowserSettings()
    sweep: SweepSettings = SweepSettings()
    prefect: PrefectSettings = PrefectSettings()
    log: LogSettings = LogSettings()
    sim: SimSettings = SimSettings()
    review: ReviewSettings = ReviewSettings()
    console: ConsoleSettings = ConsoleSettings()
    evidence: EvidenceSettings = EvidenceSettings()
    alerts: AlertSettings = AlertSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, dotenv_settings, YamlConfigSettingsSource(settings_cls))

    def path(self, p: Path) -> Path:
        """Resolve a project-relative path against project_root."""
        return p if p.is_absolute() else self.project_root / p

    @property
    def state_path(self) -> Path:
        return self.path(self.state_dir)

    @property
    def evidence_path(self) -> Path:
        return self.path(self.evidence_dir or Path("evidence"))

    @property
    def evidence_key_path(self) -> Path:
        return self.path(self.evidence.key_file or self.state_dir / "keys" / "evidence-keys.json")

    @property
    def signing_key_path(self) -> Path:
        return self.path(self.evidence.signing_key_file or self.state_dir / "keys" / "evidence-signing-key.pem")

    @property
    def worklist_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.state_path / 'worklist.db'}"

    @property
    def prefect_home(self) -> Path:
        return self.path(self.prefect.home or self.state_dir / "prefect")
