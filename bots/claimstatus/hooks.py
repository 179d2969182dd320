"""The bot class that works a portal: its shape's, or a hook named in its registry entry
(`bot: module:Class`, a subclass of the shape's bot: ClaimStatusBot or BatchInquiryBot) for a
portal that needs custom behaviour. What a hook may override is in docs/onboarding.md ("The bot
interface")."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from bots.claimstatus.batch import BatchInquiryBot
from bots.claimstatus.bot import ClaimStatusBot, PortalBot
from bots.core.errors import ConfigError
from bots.core.registry import PortalEntry
from bots.core.yamlfile import line_of


def bot_class(key: str, entry: PortalEntry, registry_file: Path, project_root: Path | None = None) -> type[PortalBot]:
    """The class to check this portal's claims with; ConfigError naming file, line and key.
    A hook is imported from the project folder too (`project_root`, when given): the installed
    `rcmbot` script does not look in the folder it runs in, as `python -m` does."""
    if entry.bot is None:
        return BatchInquiryBot if entry.shape == "batch" else ClaimStatusBot
    module, name = entry.bot.split(":")
    if project_root is not None and str(project_root) not in sys.path:
        sys.path.append(str(project_root))  # last: a file there never shadows an installed module

    def error(problem: str) -> ConfigError:
        return ConfigError(
            str(registry_file), line_of(registry_file, ("portals", key, "bot")), f"portals.{key}.bot", problem
        )

    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise error(f"cannot load {entry.bot}: {exc}") from exc
    except (Exception, SystemExit) as exc:  # the hook's own code failed as it was imported
        raise error(f"cannot load {entry.bot}: importing it raised {type(exc).__name__}: {exc}") from exc
    expected = BatchInquiryBot if entry.shape == "batch" else ClaimStatusBot
    if not (isinstance(found, type) and issubclass(found, expected)):
        raise error(
            f"{entry.bot} is not a subclass of {expected.__module__}.{expected.__name__} "
            f"(the {entry.shape} shape's bot)"
        )
    return found
