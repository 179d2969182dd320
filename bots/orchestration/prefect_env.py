"""Prefect runs offline and quiet: its home inside the project's state directory, telemetry
off, a generous first start for the embedded server. Must run before Prefect is imported."""

from __future__ import annotations

import os

from bots.core.settings import Settings


def configure_prefect(settings: Settings, quiet: bool = True) -> None:
    home = settings.prefect_home
    home.mkdir(parents=True, exist_ok=True)
    defaults = {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": str(int(settings.prefect.startup_timeout_s)),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_UI_ENABLED": "false" if quiet else "true",
    }
    if quiet:
        defaults["PREFECT_LOGGING_LEVEL"] = "WARNING"
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
