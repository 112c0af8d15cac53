"""Format parsers: bytes of one file in, a list of `Document`s out.

`parse` dispatches on the format string that `ingest.sniff.sniff` returned; each module
handles one format and shares clean-up and section bookkeeping through `_common`. Every
parser raises EmptyDocumentError when nothing readable is left, ParseError when the content
is broken. Parsers never touch the file system: the loader reads, they only interpret bytes.
"""

from __future__ import annotations

from collections.abc import Callable

from index.types import Document
from ingest.errors import UnsupportedFormatError
from ingest.parsers import docx, feed, html, markdown, pdf, text

Parser = Callable[[bytes, str], list[Document]]

PARSERS: dict[str, Parser] = {
    module.FORMAT: module.parse for module in (markdown, text, html, feed, pdf, docx)
}


def parse(data: bytes, source: str, fmt: str) -> list[Document]:
    """Parse `data` (the bytes of the file at `source`) as format `fmt`."""
    try:
        parser = PARSERS[fmt]
    except KeyError:
        raise UnsupportedFormatError(f"no parser for format {fmt!r}") from None
    return parser(data, source)
