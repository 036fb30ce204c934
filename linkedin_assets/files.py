"""Writing a file so that readers see either the old one or the whole new one, never a part (snapshots, tokens)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def write_atomically(path: Path, data: bytes | Iterable[bytes], mode: int = 0o644) -> int:
    """Write ``data`` (bytes, or pieces of bytes consumed one at a time) to ``path`` with permissions ``mode``;
    returns the number of bytes written.

    The pieces go to a temporary file beside ``path`` (created with ``mode`` before any byte is written, so a token
    file is never readable by others, even half-written), which is synced and renamed over ``path``. An exception from
    the pieces' iterator, the disk or the rename removes the temporary file and leaves ``path`` as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    size = 0
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            for piece in (data,) if isinstance(data, bytes) else data:
                handle.write(piece)
                size += len(piece)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return size
