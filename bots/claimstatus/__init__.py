"""Claim-status room: the bot that checks one claim, status mapping and result matching."""
