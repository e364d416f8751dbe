"""xborder: register cross-border financing on an EVM chain, enforce macro-prudential limits
on-chain, and index everything for the regulator."""

__version__ = "0.1.0"
