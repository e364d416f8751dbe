"""Whether a process we started (or recorded) is still there: one check for the embedded chain's
keeper and anvil and for the owners of anvil's past-state folders."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def alive(pid: int | None, *, command: bytes | None = None) -> bool:
    """Whether process `pid` lives: it exists (another user's counts), it is not a zombie, and,
    with `command`, its command line holds those bytes (a reused pid is not our process).
    Where /proc cannot be read, existing is enough."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    if command is not None:
        with contextlib.suppress(OSError):
            return command in Path(f"/proc/{pid}/cmdline").read_bytes()
    return True
