"""The index's errors: one base, `StoreError`, for everything about where documents are kept.

Every message is one line that names the index and, where there is one, what to do; the CLI
prints it as it is. `first_line` makes library exceptions' messages fit that rule.
"""

from __future__ import annotations

from core.errors import DocqaError

MAX_REASON_CHARS = 160


def first_line(exc: BaseException) -> str:
    """A library exception's message cut to one line (and to a readable length: zipfile puts
    whole headers' bytes in its messages), for one-line error reasons.

    >>> first_line(ValueError("bad header b'" + "x" * 500 + "'"))[-12:]
    'xxxxxxxxxx …'
    """
    lines = str(exc).strip().splitlines()
    line = lines[0] if lines else type(exc).__name__
    return line if len(line) <= MAX_REASON_CHARS else line[: MAX_REASON_CHARS - 2] + " …"


class StoreError(DocqaError):
    """Base class: the index cannot be opened, read or written as asked."""


class IndexNotFoundError(StoreError):
    """Asked to read an index that does not exist yet."""


class IndexBusyError(StoreError):
    """Another writer holds the index: two ingests must never interleave."""


class IndexMismatchError(StoreError):
    """The index was built with different embedding or chunking settings than requested."""


class IndexDamagedError(StoreError):
    """The index database cannot be read: the message names it and says what to do."""


class IndexStorageError(StoreError):
    """The index cannot be written (a full disk, a read-only folder): one line naming the
    index, the reason and what to do. What was committed before stays consistent."""


class StoreUnavailableError(StoreError):
    """The database cannot be reached or lacks what the store needs (pgvector)."""
