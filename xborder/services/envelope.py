"""Moved to `xborder.wallets.envelope`: the indexer opens envelopes and may not import services.
This module keeps the old import path working."""

from xborder.wallets.envelope import *  # noqa: F403 (every public name, as before the move)
