"""Files that are never seen half written.

`write_atomically` writes the content to a private temporary file in the target's folder,
flushes it to disk (fsync), then puts it in place in one step (rename, or a hard link when an
existing file must not be replaced) and syncs the folder, so a reader sees either the old file or
the new one, whole, even after a crash or a power cut in the middle.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, content: bytes, *, overwrite: bool = True,
                     keep_previous: Path | None = None) -> None:
    """Put `content` at `path` atomically, with mode 0600.

    `overwrite=False` refuses to replace an existing file (FileExistsError). `keep_previous`
    names where the file being replaced stays available (hard link, also atomic)."""
    folder = path.parent
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".partial")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        if keep_previous is not None and path.exists():
            link = Path(f"{tmp}.previous")
            os.link(path, link)
            os.replace(link, keep_previous)
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # FileExistsError if it exists
        _sync_dir(folder)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
