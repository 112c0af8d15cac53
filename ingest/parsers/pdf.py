"""PDF text extraction with pypdf: one Document, one page span per page that has text.

Pages are joined with a blank line and each gets a `pages` span labelled with its 1-based
number, so a chunk can always cite the page it came from. A page that fails to extract is
skipped with a warning (the rest of a long report is still worth indexing); a file pypdf
cannot open at all, or whose every page fails, is a ParseError.

A PDF's text comes out of compressed streams, so a few kilobytes can expand to millions of
characters (pages that share one huge stream): extraction stops at a per-page and a per-file
bound, as the DOCX parser bounds its expansion ratio, so such a file costs seconds, not an
hour of embedding.

This module does not OCR scanned pages, read the outline into sections, or keep layout
(columns, tables) beyond what pypdf's text extraction gives.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from typing import Any

from pypdf import PdfReader

from index.types import Document
from ingest.errors import EmptyDocumentError, ParseError, first_line
from ingest.parsers._common import SectionedText, file_stem, jsonable, one_line

logger = logging.getLogger(__name__)

FORMAT = "pdf"
_TITLE_NOISE = ("Microsoft Word - ", "Microsoft PowerPoint - ")
# Titles that name the tool or a file, not the document: replaced by a title read from the text.
_JUNK_TITLE = re.compile(
    r"|.|enscript output|untitled( document)?|document\d*|presentation\d*|"
    r"powerpoint presentation|slide \d+|title|no title|"
    r".*\.(?:docx?|pdf|txt|rtf|odt|pptx?|xlsx?|tex|dvi|ps|html?|md)",
    re.IGNORECASE,
)
# A dense page of small print holds ~10,000 characters; ten times that is not a page.
MAX_PAGE_CHARS = 100_000
# A page's drawing instructions, decompressed: text-heavy pages take kilobytes, maps and
# drawings a few megabytes. Extracting text from more would take minutes.
MAX_PAGE_CONTENT_BYTES = 16 * 1024 * 1024
# Text per byte of file: PDFs are mostly larger than their text (fonts, images), and even a
# compressed text-only PDF yields a few characters per byte. Small files get a floor.
MAX_CHARS_PER_BYTE = 20
MIN_CHARS_BUDGET = 2_000_000


def parse(data: bytes, source: str) -> list[Document]:
    """Return one Document whose `pages` spans cover its text."""
    reader = _open(data)
    out = SectionedText()
    failures: list[str] = []
    budget = max(MIN_CHARS_BUDGET, MAX_CHARS_PER_BYTE * len(data))
    extracted = 0
    for number, page in enumerate(reader.pages, start=1):
        try:
            text = _page_text(page, number)
        except ParseError:
            raise
        except Exception as exc:  # pypdf raises many types; one bad page must not sink the file
            failures.append(first_line(exc))
            logger.warning("%s: page %d unreadable: %s", source, number, failures[-1])
            continue
        extracted += len(text)
        if extracted > budget:
            raise ParseError(
                f"PDF text expands past {budget:,} characters by page {number} "
                f"from a {len(data):,}-byte file (a decompression bomb?)"
            )
        out.add(text, str(number))
    if failures and len(failures) == len(reader.pages):
        raise ParseError(f"corrupt PDF: {failures[0]}")
    try:
        text, pages = out.build()
    except EmptyDocumentError:
        raise EmptyDocumentError("no extractable text (scanned PDF?)") from None
    metadata = _metadata(reader)
    return [
        Document(
            source=source,
            text=text,
            format=FORMAT,
            title=metadata.get("title") or _title_from_text(text) or file_stem(source),
            metadata=metadata,
            pages=pages,
        )
    ]


def _page_text(page: Any, number: int) -> str:
    """One page's text, refused (ParseError) when it expands past what a page can hold."""
    contents = page.get_contents()
    size = len(contents.get_data()) if contents is not None else 0
    if size > MAX_PAGE_CONTENT_BYTES:
        raise ParseError(
            f"page {number} holds {size:,} bytes of drawing instructions, over "
            f"{MAX_PAGE_CONTENT_BYTES:,} (a decompression bomb?)"
        )
    text = page.extract_text() or ""
    if len(text) > MAX_PAGE_CHARS:
        raise ParseError(
            f"page {number} expands to {len(text):,} characters, over the "
            f"{MAX_PAGE_CHARS:,} a page holds (a decompression bomb?)"
        )
    return text


def _open(data: bytes) -> PdfReader:
    """Open and, where only an empty user password is set, decrypt; else raise ParseError."""
    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
    except Exception as exc:
        raise ParseError(f"corrupt PDF: {first_line(exc)}") from exc
    if encrypted:
        try:
            unlocked = bool(reader.decrypt(""))
        except Exception as exc:  # e.g. AES without the optional crypto dependency
            raise ParseError(f"encrypted PDF: {first_line(exc)}") from exc
        if not unlocked:
            raise ParseError("encrypted PDF (needs a password)")
    try:
        _ = len(reader.pages)  # loads the page tree, where most corruption shows
    except Exception as exc:
        raise ParseError(f"corrupt PDF: {first_line(exc)}") from exc
    return reader


def _metadata(reader: PdfReader) -> dict[str, Any]:
    """Document-info fields; a broken info dictionary is not worth failing the file over."""
    try:
        info = reader.metadata
        if info is None:
            return {"page_count": len(reader.pages)}
        fields: dict[str, Any] = {
            "title": _clean_title(info.title),
            "author": one_line(str(info.author or "")),
            "subject": one_line(str(info.subject or "")),
            "created": _iso(info.creation_date),
        }
    except Exception as exc:
        logger.debug("unreadable PDF metadata: %s", exc)
        fields = {}
    fields["page_count"] = len(reader.pages)
    return jsonable({k: v for k, v in fields.items() if v})


def _clean_title(title: object) -> str:
    """The metadata title, or "" when it names the tool that made the file rather than the
    document ("Enscript Output", "Microsoft Word - report.docx", "Untitled")."""
    text = one_line(str(title or ""))
    for noise in _TITLE_NOISE:
        text = text.removeprefix(noise)
    if _JUNK_TITLE.fullmatch(text.strip()):
        return ""
    return text


def _title_from_text(text: str) -> str:
    """A title read from the first page when the metadata's is junk: its first line that reads
    like one (letters, not a sentence's length).

    >>> _title_from_text("\\n  12\\nNorth and South\\nby Elizabeth Gaskell\\n")
    'North and South'
    """
    for line in text.splitlines()[:20]:
        line = one_line(line)
        if 3 <= len(line) <= 100 and sum(c.isalpha() for c in line) >= 3:
            return line
    return ""


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if isinstance(value, dt.datetime) else None
