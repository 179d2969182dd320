"""Run a simulated portal on 127.0.0.1: in a background thread (tests, demo) or in the foreground."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from urllib.parse import urlsplit

import httpx
import uvicorn
from fastapi import FastAPI

from bots.core.errors import InputError
from bots.core.registry import PortalRegistry
from bots.core.settings import Settings
from bots.sim import bluestem, harbor, juniper, sagebrush
from bots.sim.portal import Kind, Layout, PortalConfig
from bots.sim.store import PortalStore

APPS = {
    "bluestem": bluestem.create_app,
    "cedar": bluestem.create_app,
    "juniper": juniper.create_app,
    "harbor": harbor.create_app,
    "sagebrush": sagebrush.create_app,
}


def create_app(cfg: PortalConfig) -> FastAPI:
    return APPS[cfg.kind](cfg)


class PortalServer:
    """A simulated portal served from a thread on a free loopback port."""

    def __init__(self, cfg: PortalConfig, port: int = 0) -> None:
        self.cfg = cfg
        self.app = create_app(cfg)
        self._server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        self._thread = threading.Thread(target=self._server.run, name="sim-portal", daemon=True)

    @property
    def url(self) -> str:
        port = self._server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def add_user(
        self, username: str, password: str, totp_secret: str | None = None, mailbox_token: str | None = None
    ) -> None:
        self.app.state.store.upsert_user(username, password, totp_secret, mailbox_token)

    def faults(self, **changes: object) -> dict[str, object]:
        """Change faults now (POST /_sim/faults): profile="flaky" (bots.sim.faults.PROFILES),
        rate=0..1, any profile switch (mix, extra_latency_ms, jitter_ms, retry_after_s,
        missing_fields, mfa_reject_once, credentials_refused, wrong_mailbox_token, drift), and the
        one-off expire_sessions=True, fail_next=N, latency_ms=N, advance_clock_s=N. The faults in
        force come back; a ValueError names what was refused."""
        r = httpx.post(f"{self.url}/_sim/faults", json=changes, headers={"x-sim-admin": self.cfg.admin_token})
        if r.status_code == 400:
            raise ValueError(r.json()["error"])
        r.raise_for_status()
        return dict(r.json())

    def witness(self) -> dict[str, list[dict[str, object]]]:
        """The portal's witness log (GET /_sim/witness), oldest first: {"logins": [{"at",
        "username", "step", "result", "reason", "status", "fault"}], "claims": [{"at", "username",
        "kind", "request", "claim_number", "account_number", "member_id", "dos_from", "dos_to",
        "claim_key", "payer_id", "status", "fault"}]}."""
        r = httpx.get(f"{self.url}/_sim/witness", headers={"x-sim-admin": self.cfg.admin_token})
        r.raise_for_status()
        return {"logins": list(r.json()["logins"]), "claims": list(r.json()["claims"])}

    def set_password(self, username: str, password: str) -> None:
        """Really change a user's password (POST /_sim/password); their sessions end. A KeyError
        if there is no such user."""
        r = httpx.post(
            f"{self.url}/_sim/password",
            json={"username": username, "password": password},
            headers={"x-sim-admin": self.cfg.admin_token},
        )
        if r.status_code == 404:
            raise KeyError(username)
        r.raise_for_status()

    def reset(self, terms_accepted: bool = False, **config: object) -> dict[str, object]:
        """A fresh state without reseeding (see SimPortal.reset): no sessions, terms accepted
        (unless `terms_accepted`), mailed codes, inquiries, witness log or statistics, the start's
        fault profile; the start's settings with `config` changed (latency_ms, session_idle_s,
        totp_valid_window, mail_code_ttl_s, page_size, faults, fault_rate, hang_s, retry_after_s,
        maintenance_s). The settings in force come back."""
        r = httpx.post(
            f"{self.url}/_sim/reset",
            json={**config, "terms_accepted": terms_accepted},
            headers={"x-sim-admin": self.cfg.admin_token},
        )
        if r.status_code == 400:
            raise ValueError(r.json()["error"])
        r.raise_for_status()
        return dict(r.json())

    def advance_clock(self, seconds: float) -> None:
        """Move the portal's clock forward: its sessions have been idle, its mailed codes aged."""
        self.faults(advance_clock_s=seconds)

    def stats(self) -> dict[str, int]:
        """{"pages": page requests answered, "max_in_flight": most answered at once}."""
        r = httpx.get(f"{self.url}/_sim/stats", headers={"x-sim-admin": self.cfg.admin_token})
        r.raise_for_status()
        return dict(r.json())

    def submissions(self) -> list[dict[str, object]]:
        """Every corrected-claim and reconsideration request the portal accepted, oldest first
        (GET /_sim/submissions): each with its id, reference, kind, claim_number, line_no,
        procedure_code, modifiers, reason, your_reference, user_id, username and submitted_at."""
        r = httpx.get(f"{self.url}/_sim/submissions", headers={"x-sim-admin": self.cfg.admin_token})
        r.raise_for_status()
        return list(r.json()["submissions"])

    def start(self) -> PortalServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the simulated portal did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def __enter__(self) -> PortalServer:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


def serve_foreground(cfg: PortalConfig, port: int) -> None:
    uvicorn.run(create_app(cfg), host="127.0.0.1", port=port, log_level="info")


def registered_portal(settings: Settings, key: Kind, layout: Layout, port: int | None) -> tuple[PortalConfig, int, str]:
    """The simulated portal of the registry entry `key`, its bot user made from the credentials the
    registry names (environment or Prefect Secret block): (its config, its port, its name)."""
    registry = PortalRegistry.load(settings.path(settings.portals_file))
    entry = registry.portals.get(key)
    if entry is None:
        raise InputError(
            f"no portal {key!r} in {settings.portals_file} (cedar, sagebrush: add it as docs/onboarding.md shows)"
        )
    creds = entry.resolve_credentials(key)
    cfg = PortalConfig.from_settings(
        settings.sim, settings.state_path / "portal" / f"{key}.db", kind=key, layout=layout, timezone=entry.timezone
    )
    PortalStore(cfg.db_path).upsert_user(
        creds.username.get_secret_value(),
        creds.password.get_secret_value(),
        creds.totp_secret.get_secret_value() if creds.totp_secret else None,
        creds.mailbox_token.get_secret_value() if creds.mailbox_token else None,
    )
    return cfg, port or urlsplit(entry.base_url).port or 8710, entry.name
