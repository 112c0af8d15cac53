"""Plain text: decode, tidy line ends and blank lines, one untitled section over everything.

This module does not guess structure (no heading detection, no paragraph re-flowing): text
that had markup would have been sniffed as Markdown or HTML instead.
"""

from __future__ import annotations

from index.types import Document
from ingest.decode import decode_text
from ingest.parsers._common import SectionedText, file_stem

FORMAT = "text"


def parse(data: bytes, source: str) -> list[Document]:
    """Return one Document titled by the file stem; raises EmptyDocumentError if blank."""
    out = SectionedText()
    out.add(decode_text(data), "")
    text, sections = out.build()
    return [
        Document(
            source=source, text=text, format=FORMAT, title=file_stem(source), sections=sections
        )
    ]
