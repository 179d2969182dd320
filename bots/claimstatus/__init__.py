"""Claim-status room: the portal bots (`check_batch` and the steps a hook may override, see
docs/onboarding.md "The bot interface"), the shared login, status mapping, hooks, and a
portal's files checked without a browser (`rcmbot portal validate`)."""

from bots.claimstatus.batch import BatchInquiryBot
from bots.claimstatus.bot import ClaimStatusBot, EvidenceSink, Match, PortalBot
from bots.claimstatus.hooks import bot_class
from bots.claimstatus.login import (
    CredentialsRefusedError,
    LoginError,
    OnRefused,
    PersonNeededError,
    PortalStoppedError,
    SharedLogin,
    SignInFailedError,
)
from bots.claimstatus.runtime import PortalRuntime
from bots.claimstatus.statusmap import StatusMap
from bots.claimstatus.validate import PortalValidation, unknown_reaches, validate_portal

__all__ = [
    "BatchInquiryBot",
    "ClaimStatusBot",
    "CredentialsRefusedError",
    "EvidenceSink",
    "LoginError",
    "Match",
    "OnRefused",
    "PersonNeededError",
    "PortalBot",
    "PortalRuntime",
    "PortalStoppedError",
    "PortalValidation",
    "SharedLogin",
    "SignInFailedError",
    "StatusMap",
    "bot_class",
    "unknown_reaches",
    "validate_portal",
]
