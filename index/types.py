"""The records of the index: parsed documents and the passages cut from them.

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


@dataclass(frozen=True, slots=True, kw_only=True)
class Passage:
    """A stretch of one document and where it lies: the one record of provenance in docqa.

    The chunker cuts passages (`id` None); the index stores them and hands them back with their
    `id`; a retrieval hit is a passage plus the scores that ranked it, and answers cite it.
    `start`/`end` are character offsets into the parent document's text, so a citation can
    always be traced back to the exact place in the source; `ordinal` is the passage's place
    among its document's passages and `doc_key` tells documents of one file apart.
    """

    text: str
    source: str
    title: str = ""
    section: str = ""
    page: int | None = None
    start: int = 0
    end: int = 0
    ordinal: int = 0
    doc_key: str = ""
    url: str = ""
    id: int | None = None

    @property
    def heading(self) -> str:
        """The heading path, or the document's title where the passage has none."""
        return self.section or self.title

    @property
    def place(self) -> str:
        """Where in its file the passage lies, as a person reads it: heading and page.

        >>> Passage(text="t", source="a.pdf", title="Guide", page=3).place
        'Guide, page 3'
        >>> Passage(text="t", source="a.md").place
        ''
        """
        page = f"page {self.page}" if self.page else ""
        return ", ".join(x for x in (self.heading, page) if x)
