"""The `rcmbot` command: Typer, one module per command group. Each command parses its options,
calls one room, and renders the result; business logic lives in the rooms."""

from bots.cli.app import app, main

__all__ = ["app", "main"]
