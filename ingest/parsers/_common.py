"""Building blocks every parser shares: text clean-up, section bookkeeping, metadata hygiene.

Parsers produce text block by block (a heading, a paragraph, a table, a page). `SectionedText`
cleans each block on its own and records, at the moment it is appended, which heading path or
page the block belongs to, so offsets never have to be recomputed after a global clean-up pass.
Nothing here knows about any file format.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import PurePath
from typing import Any

from index.types import Span
from ingest.errors import EmptyDocumentError

SECTION_SEPARATOR = " > "

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# Zero-width and soft-hyphen characters are invisible in the source but break word matching.
_INVISIBLE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff]")
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f]")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")
_WHITESPACE_RUN = re.compile(r"\s+")


def clean_block(text: str) -> str:
    """Return `text` as readable plain text: no control bytes, no trailing spaces, ≤1 blank line.

    Leading indentation of the first line is kept on purpose (code blocks need it); only
    surrounding blank lines are removed.

    >>> clean_block("\\n  a  \\r\\n\\n\\n\\nb\\x00\\n")
    '  a\\n\\nb'
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\f", "\n").replace("\v", "\n").replace("\u00a0", " ")
    text = _ANSI_ESCAPE.sub("", text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub("", text)
    # split/rstrip rather than a `[ \t]+$` regex, which is quadratic on long runs of spaces
    text = "\n".join(line.rstrip(" \t") for line in text.split("\n"))
    text = _MANY_BLANK_LINES.sub("\n\n", text)
    text = text.strip("\n")
    return text if text.strip() else ""


def one_line(text: str) -> str:
    """Collapse all whitespace, for titles and heading labels that must fit on one line."""
    return _WHITESPACE_RUN.sub(" ", clean_block(text)).strip()


class HeadingPath:
    """The stack of open headings; `enter` returns the new path label such as "A > B > C"."""

    def __init__(self, root: str = "") -> None:
        self._root = root
        self._stack: list[tuple[int, str]] = []

    def enter(self, level: int, heading: str) -> str:
        """Open a heading at `level`, closing every heading at the same or a deeper level."""
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, heading))
        return self.label

    @property
    def label(self) -> str:
        names = [self._root] if self._root else []
        names.extend(name for _, name in self._stack)
        return SECTION_SEPARATOR.join(names)


class SectionedText:
    """Joins cleaned blocks and remembers which label (heading path, page) each block is under.

    The resulting spans are contiguous and cover the whole text: a span runs from the first
    block of its label to the first block of the next label, separators included.
    """

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self._starts: list[tuple[int, str]] = []

    def add(self, block: str, label: str, *, separator: str = "\n\n") -> None:
        """Append `block` (cleaned here) under `label`; empty blocks are dropped silently."""
        block = clean_block(block)
        if not block:
            return
        if self._length:
            self._parts.append(separator)
            self._length += len(separator)
        if not self._starts or self._starts[-1][1] != label:
            self._starts.append((self._length, label))
        self._parts.append(block)
        self._length += len(block)

    def build(self) -> tuple[str, tuple[Span, ...]]:
        """Return the joined text and its spans; raise EmptyDocumentError if nothing was added."""
        text = "".join(self._parts)
        if not text.strip():
            raise EmptyDocumentError("no text")
        ends = [start for start, _ in self._starts[1:]] + [len(text)]
        spans = tuple(
            Span(start, end, label) for (start, label), end in zip(self._starts, ends, strict=True)
        )
        return text, spans


def file_stem(source: str) -> str:
    """The fallback title: the file name without its extension."""
    return PurePath(source).stem or source


def jsonable(value: Any, *, budget: int = 10_000, max_depth: int = 32) -> Any:
    """Convert metadata to JSON-safe values; dates become ISO strings, unknown types `str`.

    `budget` caps the number of nodes visited, because YAML aliases can make a tiny front
    matter expand exponentially ("billion laughs"); nodes past the budget or deeper than
    `max_depth` are dropped rather than risking memory or recursion blow-ups.

    >>> jsonable({"date": dt.date(2026, 1, 10), "tags": ("a", 1)})
    {'date': '2026-01-10', 'tags': ['a', 1]}
    """
    remaining = budget

    def convert(item: Any, depth: int) -> Any:
        nonlocal remaining
        remaining -= 1
        if remaining < 0 or depth > max_depth:
            return None
        if isinstance(item, float) and not math.isfinite(item):
            return str(item)  # NaN/inf are not valid JSON
        if item is None or isinstance(item, bool | int | float | str):
            return item
        if isinstance(item, dt.date | dt.time):
            return item.isoformat()
        if isinstance(item, dict):
            return {str(k): convert(v, depth + 1) for k, v in item.items() if remaining > 0}
        if isinstance(item, list | tuple | set | frozenset):
            return [convert(v, depth + 1) for v in item if remaining > 0]
        return str(item)

    return convert(value, 0)
