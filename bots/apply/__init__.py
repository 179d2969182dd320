"""Apply room: submits approved review decisions to payer portals, exactly once (the request
bot looks for its apply key on the portal's list before any resubmission)."""

from bots.apply.bot import PortalRequest, RequestBot, Submitted
from bots.apply.runner import ApplyRun, ApplySummary, Step

__all__ = [
    "ApplyRun",
    "ApplySummary",
    "PortalRequest",
    "RequestBot",
    "Step",
    "Submitted",
]
