"""Atomic replacement of a directory: a complete new copy is written beside it, then swapped in by renames.

A directory cannot be renamed over a non-empty one, so the swap takes two renames:
the old directory is moved aside, then the new one takes its name. A process killed
at any moment leaves one of these states, each holding a complete copy:

======================================  =========================================
killed                                   on disk
======================================  =========================================
while the new copy is written            ``path`` (old), ``.name.saving-*`` (partial)
between the two renames                  ``.name.replaced-*`` (old), ``.name.saving-*`` (new)
after the second rename                  ``path`` (new), perhaps ``.name.replaced-*`` (old)
======================================  =========================================

Readers go through :func:`current_directory` (``path``, or the copy moved aside
when a swap was interrupted between its renames); the next :func:`replacing_directory`
puts such a copy back first and removes every leftover of earlier killed writes.
One writer at a time per ``path``: a writer removes the leftovers it finds.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["current_directory", "replacing_directory", "write_file_atomically"]

_STAGING = "saving"  # .name.saving-XXXX: a new copy being written (never read)
_ASIDE = "replaced"  # .name.replaced-XXXX: the previous copy, moved aside for the swap


def _siblings(path: Path, kind: str) -> list[Path]:
    """Leftovers of ``kind`` for ``path``, newest first."""
    prefix = f".{path.name}.{kind}-"
    try:
        found = [p for p in path.parent.iterdir() if p.name.startswith(prefix)]
    except FileNotFoundError:
        return []
    return sorted(found, key=lambda p: p.lstat().st_mtime_ns, reverse=True)


def current_directory(path: Path) -> Path:
    """The directory to read for ``path``: ``path`` itself or, when a swap was killed between its renames,
    the previous copy it had moved aside (complete: it was the current directory before)."""
    if path.exists():
        return path
    aside = _siblings(path, _ASIDE)
    return aside[0] if aside else path


def _fsync(path: Path) -> None:
    """Flush a file (or, where the platform allows it, a directory's entries) to disk."""
    if path.is_dir() and os.name == "nt":  # Windows cannot open a directory; its renames are journaled
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def replacing_directory(path: Path, allowed: frozenset[str]) -> Iterator[Path]:
    """Yield an empty staging directory beside ``path``; when the block succeeds, it replaces ``path``.

    Its files are fsynced before the swap, so the new copy is complete on disk
    before it takes the name. If the block raises, ``path`` is left as it was.

    :param path: the directory to replace (absolute).
    :param allowed: the names an existing ``path`` may hold: a directory holding
        anything else is refused (``ValueError``) rather than deleted.
    """
    if not path.name:
        raise ValueError(f"path: expected a directory with a name, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() and not path.is_symlink():
        aside = _siblings(path, _ASIDE)
        if aside:  # a swap killed between its renames: the previous copy goes back first
            os.replace(aside[0], path)
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise ValueError(f"path: expected a directory (or nothing) at {str(path)!r}, found a file")
        others = sorted(p.name for p in path.iterdir() if p.name not in allowed)
        if others:
            raise ValueError(
                f"path: {str(path)!r} holds {others}; saving replaces the whole directory, "
                f"so it must hold nothing but {sorted(allowed)}"
            )
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.{_STAGING}-", dir=path.parent))
    aside = None
    try:
        yield staging
        for file in staging.iterdir():
            _fsync(file)
        _fsync(staging)
        if path.exists() or path.is_symlink():
            aside = path.parent / f".{path.name}.{_ASIDE}-{secrets.token_hex(8)}"
            os.replace(path, aside)
        os.replace(staging, path)
        _fsync(path.parent)
    except BaseException:
        if aside is not None and aside.exists() and not (path.exists() or path.is_symlink()):
            os.replace(aside, path)  # failed between the renames: the previous copy goes back
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for leftover in _siblings(path, _STAGING) + _siblings(path, _ASIDE):
        shutil.rmtree(leftover, ignore_errors=True)


def write_file_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` by a temporary file beside it, flushed, then renamed over it.

    A process killed at any moment leaves ``path`` as it was or as written, never
    partly written (perhaps a ``.name.saving-*`` leftover beside it, which the next
    write removes). One writer at a time per ``path``.
    """
    path = Path(path)
    staging = path.parent / f".{path.name}.{_STAGING}-{secrets.token_hex(8)}"
    try:
        with open(staging, "xb") as file:  # created with the umask's permissions, as ``path`` would be
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(staging, path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    _fsync(path.parent)
    for leftover in _siblings(path, _STAGING):  # of earlier writes that were killed
        leftover.unlink(missing_ok=True)
