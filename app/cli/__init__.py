"""The `invoicepay` command line: migrate, tenants, serve, seed, tokens, sessions, ledger."""

from app.cli.commands import main

__all__ = ["main"]
