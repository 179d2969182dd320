"""Worklist room: AR follow-up items, their service lines and append-only status history."""
