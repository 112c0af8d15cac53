"""From paths on disk to parsed Documents: find files, read them safely, sniff, parse.

`find_files` expands the user's paths into files (sorted, hidden entries, linked folders and
links out of the folder skipped, missing paths passed through so they get reported) and says
what it skipped and why. `read_checked` refuses
what should not be read (missing, not a regular file, over the size limit, empty), and
`documents_from_bytes` sniffs and parses. `load_file` is all of it for one path.

This module does not chunk, embed or store anything, and keeps no state between files.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from index.types import Document
from ingest.errors import EmptyDocumentError, IngestError, UnreadableError
from ingest.parsers import parse
from ingest.sniff import sniff

logger = logging.getLogger(__name__)

_MB = 1024 * 1024


def load_file(path: Path, *, max_bytes: int) -> list[Document]:
    """Read, sniff and parse one file; every failure is an IngestError with a short reason."""
    data = read_checked(path, max_bytes)
    _, documents = documents_from_bytes(data, path)
    return documents


def read_checked(path: Path, max_bytes: int) -> bytes:
    """Return the file's bytes after checking it exists, is regular, and is 1..max_bytes long.

    What could not be read at all raises `UnreadableError`; what was read and cannot be used
    (too big, empty), another `IngestError`.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise UnreadableError("no such file") from None
    except OSError as exc:
        raise UnreadableError(f"cannot read: {_why(exc)}") from None
    if not path.is_file():
        raise UnreadableError("not a regular file")
    if info.st_size > max_bytes:
        raise IngestError(_too_big(info.st_size, max_bytes))
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)  # the file may have grown since stat()
    except OSError as exc:
        raise UnreadableError(f"cannot read: {_why(exc)}") from None
    if len(data) > max_bytes:
        raise IngestError(_too_big(len(data), max_bytes))
    if not data:
        raise EmptyDocumentError("empty file")
    return data


def documents_from_bytes(
    data: bytes, path: Path, source: str | None = None
) -> tuple[str, list[Document]]:
    """Sniff and parse bytes read from `path`; return the format and the Documents, which
    name `source` (default: the path as text) as where they come from."""
    fmt = sniff(data, path.name)
    logger.debug("%s: sniffed as %s", source or path, fmt)
    return fmt, parse(data, source or path_text(path), fmt)


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something under the given paths that was not read, and why.

    `unseen` marks a folder whose contents were not looked at (it could not be listed, or it
    is a link that leads out of the folder being walked): what the index holds under it is
    kept, since nothing says it is gone.
    """

    path: str
    reason: str
    unseen: bool = False


@dataclass(frozen=True, slots=True)
class Found:
    """The files to read (each once, as (key, path)) and what was skipped on the way."""

    files: list[tuple[str, Path]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def source_key(path: Path | str) -> str:
    r"""The name a file is indexed under: its real path (links resolved, so one file reached by
    two paths is one source), as text that can be stored and printed even when the name is
    not valid UTF-8 (its bytes shown as \xNN, the same on every run).

    >>> source_key("/docs/caf\udce9.txt")
    '/docs/caf\\xe9.txt'
    """
    return path_text(os.path.realpath(path))


def path_text(path: Path | str) -> str:
    """A path as storable, printable text, whatever bytes its name holds."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def find_files(paths: Iterable[Path], *, exclude: Iterable[Path] = ()) -> Found:
    """The files under `paths`, in sorted order, each once, and what was skipped and why.

    A path the user named is always taken, links and all, unless it is a folder (then its
    files are), and even when missing, so that reading it reports why it failed. Inside
    folders: names starting with "." are left out; a link whose target lies outside the
    folder being walked is not followed (name it to read it), nor is a linked folder (its
    files are reached where they are, which also rules out loops); folders in `exclude` (the
    index's own folder) are not entered; special files are passed over.
    """
    found = Found()
    keys: set[str] = set()
    excluded = [os.path.realpath(p) for p in exclude]
    for root in paths:
        if os.path.isdir(root):
            candidates = _walk(Path(os.path.realpath(root)), excluded, found.skipped)
        else:
            candidates = iter((root,))
        for path in candidates:
            key = source_key(path)
            if key not in keys:
                keys.add(key)
                found.files.append((key, path))
    return found


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The files `find_files` takes, without what it skipped."""
    return (path for _, path in find_files(paths).files)


def _walk(folder: Path, excluded: list[str], skipped: list[Skipped]) -> Iterator[Path]:
    """Depth-first, in name order, without recursion (deep trees cannot overflow the stack)."""
    root = str(folder)
    stack: list[tuple[Path, bool]] = [(folder, True)]
    while stack:
        current, is_folder = stack.pop()
        if not is_folder:
            yield current
            continue
        try:
            entries = _list(current)
        except OSError as exc:
            skipped.append(Skipped(path_text(current), f"cannot list: {_why(exc)}", True))
            continue
        children = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            child = _classify(entry, root, excluded)
            if isinstance(child, Skipped):
                skipped.append(child)
            elif child is not None:
                children.append(child)
        stack.extend(reversed(children))


def _classify(
    entry: os.DirEntry[str], root: str, excluded: list[str]
) -> tuple[Path, bool] | Skipped | None:
    """(path, is_folder) to walk, a Skipped to report, or None to pass over quietly."""
    path = Path(entry.path)
    try:
        if entry.is_symlink():
            real = os.path.realpath(path)
            if not os.path.exists(real):
                return Skipped(path_text(path), "broken link (or a loop of links)")
            if os.path.isdir(real):
                # A linked folder is not walked: inside the root its files are reached where
                # they are; outside it, it is not ours to read. What was indexed there stays.
                inside = is_within(real, root)
                return Skipped(
                    path_text(path),
                    "linked folder not followed"
                    + ("" if inside else " (it leads outside the folder)"),
                    True,
                )
            if not is_within(real, root):
                return Skipped(
                    path_text(path),
                    f"link to a file outside {root}: not followed (name the file to ingest it)",
                )
            return (path, False) if os.path.isfile(real) else None
        if entry.is_dir(follow_symlinks=False):
            if any(is_within(str(path), ex) for ex in excluded):
                return Skipped(path_text(path), "the index's own folder", True)
            return path, True
        if entry.is_file(follow_symlinks=False):
            return path, False
    except OSError as exc:
        return Skipped(path_text(path), f"cannot look at: {_why(exc)}")
    logger.debug("passing over %s (not a regular file)", path_text(path))
    return None


def is_within(path: str, folder: str) -> bool:
    """`path` is `folder` or inside it, by path components (not by string prefix)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _list(folder: Path) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        return sorted(entries, key=lambda entry: entry.name)


def _why(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def _too_big(size: int, limit: int) -> str:
    """Say by how much, with just enough decimals that the two numbers differ."""
    for digits in range(7):
        size_mb, limit_mb = f"{size / _MB:.{digits}f}", f"{limit / _MB:.{digits}f}"
        if size_mb != limit_mb:
            break
    return f"file is {size_mb} MB, over the {limit_mb} MB limit"
