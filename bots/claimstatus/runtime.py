"""Everything one portal needs at run time, loaded and validated once at start."""

from __future__ import annotations

from dataclasses import dataclass

from bots.browser.pages import load_selector_map
from bots.browser.selectors import SelectorMap
from bots.claimstatus.statusmap import StatusMap
from bots.core.logs import redactor
from bots.core.registry import Credentials, PortalEntry, PortalRegistry
from bots.core.settings import Settings


@dataclass(frozen=True)
class PortalRuntime:
    key: str
    entry: PortalEntry
    base_url: str
    selectors: SelectorMap
    statuses: StatusMap
    credentials: Credentials

    @classmethod
    def load(
        cls, settings: Settings, key: str, base_url: str | None = None, registry: PortalRegistry | None = None
    ) -> PortalRuntime:
        """Read the registry entry, its selector map and status map; fail with file/line/key.
        Pass the registry when the caller has already loaded it."""
        registry = registry or PortalRegistry.load(settings.path(settings.portals_file))
        entry = registry.portals[key]
        creds = entry.resolve_credentials(key)
        redactor.register([creds.username, creds.password, creds.totp_secret])
        return cls(
            key=key,
            entry=entry,
            base_url=(base_url or entry.base_url).rstrip("/"),
            selectors=load_selector_map(settings.path(entry.selector_map), entry),
            statuses=StatusMap.load(settings.path(entry.status_map)),
            credentials=creds,
        )

    def url(self, path: str) -> str:
        """The portal's URL of a registry path (login_url, search_page, search_url...)."""
        return self.base_url + path
