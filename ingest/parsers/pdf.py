"""PDF text extraction with pypdf: one Document, one page span per page that has text.

Pages are joined with a blank line and each gets a `pages` span labelled with its 1-based
number, so a chunk can always cite the page it came from. A page that fails to extract is
skipped with a warning (the rest of a long report is still worth indexing); a file pypdf
cannot open at all, or whose every page fails, is a ParseError.

This module does not OCR scanned pages, read the outline into sections, or keep layout
(columns, tables) beyond what pypdf's text extraction gives.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from typing import Any

from pypdf import PdfReader

from ingest.errors import EmptyDocumentError, ParseError
from ingest.parsers._common import SectionedText, file_stem, first_line, jsonable, one_line
from ingest.types import Document

logger = logging.getLogger(__name__)

FORMAT = "pdf"
_TITLE_NOISE = ("Microsoft Word - ", "Microsoft PowerPoint - ")


def parse(data: bytes, source: str) -> list[Document]:
    """Return one Document whose `pages` spans cover its text."""
    reader = _open(data)
    out = SectionedText()
    failures: list[str] = []
    for number, page in enumerate(reader.pages, start=1):
        try:
            out.add(page.extract_text() or "", str(number))
        except Exception as exc:  # pypdf raises many types; one bad page must not sink the file
            failures.append(first_line(exc))
            logger.warning("%s: page %d unreadable: %s", source, number, failures[-1])
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
            title=metadata.get("title") or file_stem(source),
            metadata=metadata,
            pages=pages,
        )
    ]


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
    text = one_line(str(title or ""))
    for noise in _TITLE_NOISE:
        text = text.removeprefix(noise)
    return text


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if isinstance(value, dt.datetime) else None

