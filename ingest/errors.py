"""Exceptions the ingest stage raises; the CLI turns each into one line naming the file."""

from __future__ import annotations

MAX_REASON_CHARS = 160


def first_line(exc: BaseException) -> str:
    """A library exception's message cut to one line (and to a readable length: zipfile puts
    whole headers' bytes in its messages), for one-line error reasons.

    >>> first_line(ValueError("bad header b'" + "x" * 500 + "'"))[-12:]
    'xxxxxxxxxx …'
    """
    lines = str(exc).strip().splitlines()
    line = lines[0] if lines else type(exc).__name__
    return line if len(line) <= MAX_REASON_CHARS else line[:MAX_REASON_CHARS - 2] + " …"


class IngestError(Exception):
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


class IndexMismatchError(IngestError):
    """The index was built with different embedding or chunking settings than requested."""
