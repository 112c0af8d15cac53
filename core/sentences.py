"""Sentences: where they start and end in a text, by character offsets.

Chunking packs sentences; the relevance gate, the support check and the citation grammar look
at them one by one; evaluation splits answers into them. One splitter for all, below every
stage, so a sentence is the same thing wherever docqa speaks of one. Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    r"""Split `text[start:end]` into sentence spans, trimmed of surrounding space.

    Hard-wrapped lines are joined (a newline inside a paragraph is a space), while blank lines,
    list items, headings, quotes and table rows always start a new span.

    >>> t = "One. Two!\n- three\nwrapped\nline. Four"
    >>> [t[a:b] for a, b in sentence_spans(t)]
    ['One.', 'Two!', '- three\nwrapped\nline.', 'Four']
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for line_start, line_end in _logical_lines(text, start, end):
        cursor = line_start
        for match in _SENTENCE_END.finditer(text, line_start, line_end):
            spans.append((cursor, match.start()))
            cursor = match.end()
        spans.append((cursor, line_end))
    return [_trim(text, a, b) for a, b in spans if text[a:b].strip()]


_BLOCK_START = re.compile(r"\s*(?:[-*+>|#]|\d+[.)])\s|\s*\|")


def _logical_lines(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Spans of paragraphs' wrapped lines joined; structural lines stand alone."""
    current: tuple[int, int] | None = None
    pos = start
    for line in text[start:end].split("\n"):
        a, b = pos, pos + len(line)
        pos = b + 1
        if not line.strip():
            if current:
                yield current
            current = None
        elif current is None or _BLOCK_START.match(line):
            if current:
                yield current
            current = (a, b)
        else:
            current = (current[0], b)
    if current:
        yield current


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
