"""Word (.docx) documents with python-docx: body paragraphs and tables in reading order.

"Title" and "Heading N" styles (or custom styles based on them) build the section path; list
paragraphs get "- "; table rows become "a | b | c" (a table inside a cell is kept there).
Before python-docx sees the file, the zip directory is checked so a small file that inflates to
gigabytes is refused, not unpacked.

This module does not read headers, footers, footnotes, comments, text boxes or tracked
changes, and does not look inside embedded objects.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from typing import Any

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from index.types import Document, Span
from ingest.errors import EmptyDocumentError, ParseError, first_line
from ingest.parsers._common import (
    HeadingPath,
    SectionedText,
    file_stem,
    jsonable,
    one_line,
)

logger = logging.getLogger(__name__)

FORMAT = "docx"
MAX_EXPANDED_BYTES = 200 * 1024 * 1024
MAX_RATIO = 100  # text-heavy real documents compress ~10–20x
_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.I)
_MB = 1024 * 1024


def parse(data: bytes, source: str) -> list[Document]:
    """Return one Document; ParseError for a broken or suspicious package."""
    _check_zip(data)
    try:
        document = docx.Document(io.BytesIO(data))
        text, sections, first_heading = _body(document)
        metadata = _metadata(document.core_properties)
    except EmptyDocumentError:
        raise EmptyDocumentError("no text in the document") from None
    except ParseError:
        raise
    except Exception as exc:  # python-docx / lxml / zipfile raise many types
        raise ParseError(f"corrupt DOCX: {first_line(exc)}") from exc
    return [
        Document(
            source=source,
            text=text,
            format=FORMAT,
            title=metadata.get("title") or first_heading or file_stem(source),
            metadata=metadata,
            sections=sections,
        )
    ]


def _check_zip(data: bytes) -> None:
    """Refuse unreadable archives and zip bombs using only the central directory."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
    except Exception as exc:  # BadZipFile, NotImplementedError (odd versions), OSError, …
        raise ParseError(f"corrupt DOCX: {first_line(exc)}") from exc
    too_big = expanded > MAX_EXPANDED_BYTES
    too_dense = expanded > 10 * _MB and expanded > MAX_RATIO * max(len(data), 1)
    if too_big or too_dense:
        raise ParseError(f"DOCX expands to {expanded / _MB:.0f} MB (zip bomb?)")


def _body(document: Any) -> tuple[str, tuple[Span, ...], str]:
    out = SectionedText()
    path = HeadingPath()
    first_heading = ""
    previous_was_item = False
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            out.add(_table_text(block), path.label)
            previous_was_item = False
            continue
        text = block.text
        level = _heading_level(block)
        if level is not None and text.strip():
            heading = one_line(text)
            first_heading = first_heading or heading
            out.add(heading, path.enter(level, heading))
            previous_was_item = False
        elif _is_list_item(block):
            out.add("- " + text, path.label, separator="\n" if previous_was_item else "\n\n")
            previous_was_item = True
        else:
            out.add(text, path.label)
            previous_was_item = False
    text, sections = out.build()
    return text, sections, first_heading


def _heading_level(paragraph: Paragraph) -> int | None:
    """0 for Title, N for Heading N; follows `based on` so custom heading styles count."""
    style = paragraph.style
    for _ in range(4):
        if style is None:
            return None
        name = (style.name or "").strip()
        if name.lower() == "title":
            return 0
        match = _HEADING_STYLE.match(name)
        if match:
            return int(match.group(1))
        style = style.base_style
    return None


def _is_list_item(paragraph: Paragraph) -> bool:
    properties = paragraph._p.pPr  # python-docx has no public numbering API
    if properties is not None and properties.numPr is not None:
        return True
    name = paragraph.style.name if paragraph.style is not None else ""
    return (name or "").lower().startswith("list")


def _table_text(table: Table, depth: int = 0) -> str:
    """One line per row; merged cells (which python-docx repeats) appear once; a table
    nested in a cell is written inside that cell, its rows separated by "; "."""
    lines = []
    for row in table.rows:
        cells: list[str] = []
        seen: set[Any] = set()  # holding the elements keeps lxml's proxies (and ids) stable
        for cell in row.cells:
            if cell._tc not in seen:
                seen.add(cell._tc)
                cells.append(_cell_text(cell, depth))
        lines.append(" | ".join(cells))
    return "\n".join(lines)


MAX_TABLE_DEPTH = 8  # nesting deeper than this is not a layout anyone wrote by hand


def _cell_text(cell: Any, depth: int) -> str:
    parts = []
    for block in cell.iter_inner_content():
        if isinstance(block, Table):
            if depth < MAX_TABLE_DEPTH:
                nested = _table_text(block, depth + 1)
                parts.append("[" + "; ".join(nested.split("\n")) + "]")
        else:
            parts.append(block.text)
    return one_line(" ".join(p for p in parts if p.strip()))


def _metadata(core: Any) -> dict[str, Any]:
    fields = {
        "title": one_line(core.title or ""),
        "author": one_line(core.author or ""),
        "subject": one_line(core.subject or ""),
        "keywords": one_line(core.keywords or ""),
        "created": core.created,
        "modified": core.modified,
    }
    return jsonable({k: v for k, v in fields.items() if v})
