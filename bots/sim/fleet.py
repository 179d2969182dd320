"""The simulated portals a registry names, started together on loopback, each with a fresh bot
user whose secrets exist only in the environment handed back (never in a file)."""

from __future__ import annotations

import secrets
from pathlib import Path
from types import TracebackType

import pyotp

from bots.core.registry import PortalRegistry
from bots.core.settings import SimSettings
from bots.sim.portal import Kind, Layout, PortalConfig
from bots.sim.server import PortalServer

SIMULATED: dict[str, Kind] = {"bluestem": "bluestem", "juniper": "juniper", "harbor": "harbor"}


class Fleet:
    """Simulated portals for `portals` (registry keys), with `env` holding their credentials."""

    def __init__(
        self,
        sim: SimSettings,
        registry: PortalRegistry,
        portals: list[str],
        db_dir: Path,
        claims: int | None = None,
        layout: Layout = "normal",
    ) -> None:
        self.servers: dict[str, PortalServer] = {}
        self.env: dict[str, str] = {}
        self.usernames: dict[str, str] = {}  # portal key -> its bot user
        for key in portals:
            cfg = PortalConfig.from_settings(
                sim, db_dir / f"{key}.db", claims, SIMULATED[key], layout, registry.portals[key].timezone
            )
            self.servers[key] = PortalServer(cfg)
            user = {
                "username": f"rcm-bot-{key}",
                "password": secrets.token_urlsafe(16),
                "totp_secret": pyotp.random_base32(),
                "mailbox_token": secrets.token_urlsafe(24),
            }
            self.usernames[key] = user["username"]
            mfa = registry.portals[key].mfa
            self.servers[key].add_user(
                user["username"],
                user["password"],
                user["totp_secret"] if mfa == "totp" else None,
                user["mailbox_token"] if mfa == "mailbox" else None,
            )
            self.env |= registry.portals[key].credentials.env_for(user)

    @property
    def urls(self) -> dict[str, str]:
        return {key: server.url for key, server in self.servers.items()}

    def __enter__(self) -> Fleet:
        try:
            for server in self.servers.values():
                server.start()
        except BaseException:
            self.stop()
            raise
        return self

    def reset(self, terms_accepted: bool = False, **config: object) -> None:
        """Every portal of the fleet back to a fresh state (PortalServer.reset), its users kept."""
        for server in self.servers.values():
            server.reset(terms_accepted, **config)

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
