"""The regulator's read-only HTTP API and dashboard over the index database."""

from xborder.api.app import create_app

__all__ = ["create_app"]
