"""A folder of data files: the files in sorted order, and class labels from its sub-folders."""

from __future__ import annotations

from pathlib import Path

__all__ = ["FOLDER_SUFFIXES", "folder_files", "folder_format"]

#: file suffix -> format, for telling what a folder holds
FOLDER_SUFFIXES = {".png": "png", ".wav": "wav", ".txt": "text"}


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _matching(folder: Path, suffixes: tuple[str, ...] | None) -> list[Path]:
    return [p for p in _visible(folder) if p.is_file() and (suffixes is None or p.suffix.lower() in suffixes)]


def folder_files(folder: Path, suffixes: tuple[str, ...] | None) -> tuple[list[Path], list[int] | None, list[str]]:
    """The files of ``folder`` with one of ``suffixes`` (``None``: every file), sorted by name.

    Either directly in the folder (no labels), or in its sub-folders, one per class: the
    sub-folders holding such files, sorted by name, are classes ``0, 1, ...``. Hidden names
    (``.x``) are skipped; deeper folders are not read.

    :returns: the files, their class labels (or ``None``), the class names.
    """
    top = _matching(folder, suffixes)
    classes = [(d.name, _matching(d, suffixes)) for d in _visible(folder) if d.is_dir()]
    classes = [(name, files) for name, files in classes if files]
    wanted = "files" if suffixes is None else "/".join(suffixes) + " files"
    if top and classes:
        raise ValueError(
            f"source: folder '{folder}' holds {wanted} both directly and in sub-folders "
            f"({', '.join(name for name, _ in classes)}); put every file in a class sub-folder, or none"
        )
    if not top and not classes:
        raise ValueError(f"source: folder '{folder}' holds no {wanted}, neither directly nor in sub-folders")
    if top:
        return top, None, []
    files = [f for _, fs in classes for f in fs]
    labels = [k for k, (_, fs) in enumerate(classes) for _ in fs]
    return files, labels, [name for name, _ in classes]


def folder_format(folder: Path) -> str:
    """``"png"``, ``"wav"`` or ``"text"``: the one kind of data file (by suffix) the folder or its sub-folders hold."""
    files = [p for p in _visible(folder) if p.is_file()]
    files += [f for d in _visible(folder) if d.is_dir() for f in _visible(d) if f.is_file()]
    found = sorted({FOLDER_SUFFIXES[p.suffix.lower()] for p in files if p.suffix.lower() in FOLDER_SUFFIXES})
    if len(found) == 1:
        return found[0]
    if not files:
        raise ValueError(f"source: folder '{folder}' is empty (no files, neither directly nor in sub-folders)")
    if found:
        raise ValueError(
            f"source: folder '{folder}' mixes {' and '.join(found)} files; give format= to choose, "
            "or keep one kind of file per folder"
        )
    suffixes = sorted({p.suffix.lower() or "(none)" for p in files})
    raise ValueError(
        f"source: cannot tell the format of folder '{folder}' from its suffixes ({', '.join(suffixes)}); "
        "expected .png, .wav or .txt files, or give format='text' to read every file as bytes"
    )
