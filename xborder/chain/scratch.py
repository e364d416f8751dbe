"""Where anvil keeps the states of past blocks, and how that space is given back.

anvil holds the state of its recent blocks in memory and moves older ones to disk, one JSON file
per block: on the demo's chain that is hundreds of megabytes per thousand blocks. By default it
writes them to ``~/.foundry/anvil/tmp/anvil-state-*`` and removes them only on a clean shutdown,
so every anvil killed with SIGKILL (a test's teardown, PR_SET_PDEATHSIG, ``chain stop --force``)
left its folder behind: 73 GB piled up on one shared machine and filled its disk.

Every anvil this package starts therefore gets its own folder, ``<tmp>/xborder-anvil-*``
(`--cache-path`), with a bounded number of states on disk (`--max-persisted-states`). The node
removes its folder when it stops; a folder whose anvil died without that (the owner was killed)
is removed by the next `sweep`, which runs before every anvil start.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path

from xborder.chain.pids import alive

log = logging.getLogger(__name__)

PREFIX = "xborder-anvil-"
OWNER_FILE = "owner.pid"
#: States of past blocks kept on disk (besides the ones anvil keeps in memory): calls at blocks
#: older than that answer "state not available". The index reads logs, never old state.
MAX_PERSISTED_STATES = 64
#: Past states a bulk-loading anvil keeps (`--prune-history`: in memory only, none written to disk).
#: anvil keeps a full copy of the state per recent block (500 by default) and, past those, writes
#: one JSON file per block: on the scale demo's chain, whose state grows to hundreds of
#: megabytes, that serialisation per 0.2 s block made each transaction cost more the longer the
#: chain (4.3 / 5.4 / 8.2 ms of anvil CPU at 1/50, 1/20, 1/10 of its size) and anvil's memory
#: reach 6.7 GB. Its readers read "latest" and logs; the index's consistency check reads at the
#: index's block once the chain mines on demand again, so a few states suffice.
BULK_LOAD_STATES = 64
#: A folder whose owner was never written (its start failed) is stale after this long.
UNCLAIMED_GRACE_S = 600.0


def new_cache_dir(root: Path | None = None) -> Path:
    """A fresh folder for one anvil's past states (under the system's temporary folder)."""
    return Path(tempfile.mkdtemp(prefix=PREFIX, dir=root))


def anvil_args(cache_dir: Path, memory_states: int | None = None) -> list[str]:
    """anvil's flags that put its past states in `cache_dir`, a bounded number of them; with
    `memory_states`, only that many past states are kept, all in memory, none on disk (see
    `BULK_LOAD_STATES`)."""
    if memory_states is not None:
        if memory_states < 1:
            raise ValueError(f"memory_states: {memory_states} is not allowed (at least 1 past state)")
        return ["--cache-path", str(cache_dir), "--prune-history", str(memory_states)]
    return ["--cache-path", str(cache_dir), "--max-persisted-states", str(MAX_PERSISTED_STATES)]


def claim(cache_dir: Path, pid: int) -> None:
    """Record which process uses `cache_dir`, so that `sweep` leaves it alone while it lives."""
    (cache_dir / OWNER_FILE).write_text(f"{pid}\n")


def remove(cache_dir: Path | None) -> None:
    if cache_dir is not None:
        shutil.rmtree(cache_dir, ignore_errors=True)


def _stale(folder: Path, now: float) -> bool:
    owner = folder / OWNER_FILE
    try:
        pid = int(owner.read_text().strip())
    except (OSError, ValueError):
        try:
            return now - folder.stat().st_mtime > UNCLAIMED_GRACE_S
        except OSError:
            return False
    return not alive(pid, command=b"anvil")


def sweep(root: Path | None = None) -> int:
    """Remove the folders of anvils that are gone; how many were removed."""
    base = Path(root) if root is not None else Path(tempfile.gettempdir())
    removed = 0
    now = time.time()
    for folder in base.glob(PREFIX + "*"):
        if folder.is_dir() and _stale(folder, now):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    if removed:
        log.info("removed the past-state folders of %d anvil(s) that were killed", removed)
    return removed
