"""Exceptions the ingest stage raises; the CLI turns each into one line naming the file."""

from __future__ import annotations

from core.errors import DocqaError
from index.errors import first_line as first_line  # the parsers' one-line reasons


class IngestError(DocqaError):
    """Base class: something about one input file or the index prevents ingesting it."""


class UnreadableError(IngestError):
    """The file could not be read at all (missing, permission, I/O error): nothing is known
    about its content, so the index keeps what it had for it."""


class UnsupportedFormatError(IngestError):
    """The content is not a format docqa can read (binary data, an unknown archive…)."""


class ParseError(IngestError):
    """The file claims a known format but its content is broken (corrupt PDF, bad DOCX…)."""


class DecodeError(IngestError):
    """Text whose encoding cannot be determined with confidence."""


class EmptyDocumentError(IngestError):
    """The file holds no extractable text."""
