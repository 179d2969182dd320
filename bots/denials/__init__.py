"""Denials room: the denial categorizer. What a claim-status check found (the 277 category, the
remittance's group codes, CARCs and RARCs) becomes a denial category and a proposed next action,
by versioned rules in config/denials.yaml. No web code, no browser, no Prefect: review tasks,
the console and later the dashboards use it."""

from bots.denials.categorize import PORTAL_CHANGING, Categorization, DenialCategory, DenialRules, NextAction

__all__ = ["Categorization", "DenialCategory", "DenialRules", "NextAction", "PORTAL_CHANGING"]
