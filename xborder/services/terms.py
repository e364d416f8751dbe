"""Moved to `xborder.wallets.terms`: the indexer checks terms commitments and may not import
services. This module keeps the old import path working."""

from xborder.wallets.terms import *  # noqa: F403 (every public name, as before the move)
