"""The portal registry (config/portals.yaml): which portals exist, where, and how to log in.
Credentials are referenced by environment variable name, never stored here."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator

from bots.core.errors import ConfigError
from bots.core.yamlfile import load_model

SEARCH_FIELDS = ("claim_number", "member_id", "dos_from", "dos_to")


class CredentialRefs(BaseModel, extra="forbid"):
    username_env: str
    password_env: str
    totp_secret_env: str | None = None


class Credentials(BaseModel):
    username: SecretStr
    password: SecretStr
    totp_secret: SecretStr | None = None


class PortalEntry(BaseModel, extra="forbid"):
    name: str
    payer_ids: list[str] = Field(min_length=1)
    base_url: str = Field(pattern=r"^https?://")
    selector_map: Path
    status_map: Path
    timezone: str
    date_format: str = "%m/%d/%Y"
    mfa: Literal["totp", "none"] = "totp"
    credentials: CredentialRefs
    search_url: str | None = Field(None, description=(
        "a GET path that shows search results directly, skipping the search form; placeholders "
        "{claim_number}, {member_id}, {dos_from}, {dos_to} are filled URL-encoded"))

    @field_validator("search_url")
    @classmethod
    def _placeholders(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                value.format(**dict.fromkeys(SEARCH_FIELDS, ""))
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"unknown or malformed placeholder {exc} (use {', '.join(SEARCH_FIELDS)})") from None
            if not value.startswith("/"):
                raise ValueError("must be a path starting with / (the base URL is prepended)")
        return value

    @field_validator("timezone")
    @classmethod
    def _iana(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"not an IANA time zone: {value!r}") from None
        return value

    def credentials_from_env(self, portal: str) -> Credentials:
        refs = self.credentials
        totp_env = refs.totp_secret_env if self.mfa == "totp" else None
        if self.mfa == "totp" and not totp_env:
            raise ConfigError("registry", None, f"portals.{portal}.credentials.totp_secret_env",
                              "required when mfa is totp")
        names = [refs.username_env, refs.password_env] + ([totp_env] if totp_env else [])
        missing = [n for n in names if not os.environ.get(n)]
        if missing:
            raise ConfigError("environment", None, f"portals.{portal}.credentials",
                              f"missing environment variable(s): {', '.join(missing)}")
        totp = os.environ[totp_env] if totp_env else None
        return Credentials(username=SecretStr(os.environ[refs.username_env]),
                           password=SecretStr(os.environ[refs.password_env]),
                           totp_secret=SecretStr(totp) if totp else None)


class PortalRegistry(BaseModel, extra="forbid"):
    portals: dict[str, PortalEntry] = Field(min_length=1)

    @classmethod
    def load(cls, path: Path) -> PortalRegistry:
        return load_model(path, cls)

    def for_payer(self, payer_id: str) -> str | None:
        return next((key for key, p in self.portals.items() if payer_id in p.payer_ids), None)
