"""The objects that cross the ingest boundary: parsed documents and their chunks.

A `Document` is what a parser makes of one logical unit of a file (a whole Markdown file, one
feed entry, one PDF). It keeps the clean text plus *spans* that say where sections and pages
lie inside that text, so the chunker can label every chunk without re-parsing. Nothing here
knows about embeddings or storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open character range `[start, end)` of `Document.text` with a label.

    For sections the label is the heading path ("Guide > Install > Linux"); for pages it is
    the 1-based page number as a string.
    """

    start: int
    end: int
    label: str


@dataclass(frozen=True, slots=True)
class Document:
    """One parsed document.

    `source` is the file path it came from; `key` tells documents of the same file apart
    (feed entries: "entry-3"; empty for single-document files). `sections` and `pages` are
    sorted, non-overlapping spans over `text`.
    """

    source: str
    text: str
    format: str
    title: str = ""
    key: str = ""
    url: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    sections: tuple[Span, ...] = ()
    pages: tuple[Span, ...] = ()


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a document small enough for the embedder to see whole.

    `start`/`end` are character offsets into the parent document's text, so a citation can
    always be traced back to the exact place in the source.
    """

    text: str
    source: str
    title: str
    section: str
    page: int | None
    start: int
    end: int
    ordinal: int
    doc_key: str = ""
