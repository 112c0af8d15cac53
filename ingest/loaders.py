"""From paths on disk to parsed Documents: find files, read them safely, sniff, parse.

`iter_files` expands the user's paths into files (sorted, hidden entries and symlinked
folders skipped, missing paths passed through so they get reported). `read_checked` refuses
what should not be read (missing, not a regular file, over the size limit, empty), and
`documents_from_bytes` sniffs and parses. `load_file` is all of it for one path.

This module does not chunk, embed or store anything, and keeps no state between files.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from ingest.errors import EmptyDocumentError, IngestError
from ingest.parsers import parse
from ingest.sniff import sniff
from ingest.types import Document

logger = logging.getLogger(__name__)

_MB = 1024 * 1024


def load_file(path: Path, *, max_bytes: int) -> list[Document]:
    """Read, sniff and parse one file; every failure is an IngestError with a short reason."""
    data = read_checked(path, max_bytes)
    _, documents = documents_from_bytes(data, path)
    return documents


def read_checked(path: Path, max_bytes: int) -> bytes:
    """Return the file's bytes after checking it exists, is regular, and is 1..max_bytes long."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise IngestError("no such file") from None
    except OSError as exc:
        raise IngestError(f"cannot read: {exc.strerror or exc}") from None
    if not path.is_file():
        raise IngestError("not a regular file")
    if info.st_size > max_bytes:
        raise IngestError(_too_big(info.st_size, max_bytes))
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)  # the file may have grown since stat()
    except OSError as exc:
        raise IngestError(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise IngestError(_too_big(len(data), max_bytes))
    if not data:
        raise EmptyDocumentError("empty file")
    return data


def documents_from_bytes(data: bytes, path: Path) -> tuple[str, list[Document]]:
    """Sniff and parse bytes read from `path`; return the format and the Documents."""
    fmt = sniff(data, path.name)
    logger.debug("%s: sniffed as %s", path, fmt)
    return fmt, parse(data, str(path), fmt)


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Yield the files under `paths` in sorted order, each once.

    Inside folders, names starting with "." are skipped, as are symlinked folders (they can
    loop) and anything that is not a regular file. A path the user named is always yielded
    unless it is a folder, even when missing, so that reading it reports why it failed.
    """
    seen: set[Path] = set()
    for root in paths:
        found = _walk(root) if root.is_dir() else iter((root,))
        for path in found:
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                yield path


def _walk(folder: Path) -> Iterator[Path]:
    """Depth-first, in name order, without recursion (deep trees cannot overflow the stack)."""
    stack: list[tuple[Path, bool]] = [(folder, True)]
    while stack:
        current, is_folder = stack.pop()
        if not is_folder:
            yield current
            continue
        children = []
        for entry in _list(current):
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                children.append((Path(entry.path), True))
            elif entry.is_file():  # follows file symlinks; symlinked folders fail both tests
                children.append((Path(entry.path), False))
            else:
                logger.debug("skipping %s (symlinked folder or special file)", entry.path)
        stack.extend(reversed(children))


def _list(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return sorted(entries, key=lambda entry: entry.name)
    except OSError as exc:
        logger.warning("cannot list %s: %s", folder, exc.strerror or exc)
        return []


def _too_big(size: int, limit: int) -> str:
    """Say by how much, with just enough decimals that the two numbers differ."""
    for digits in range(7):
        size_mb, limit_mb = f"{size / _MB:.{digits}f}", f"{limit / _MB:.{digits}f}"
        if size_mb != limit_mb:
            break
    return f"file is {size_mb} MB, over the {limit_mb} MB limit"
