"""The root of docqa's errors: everything a user can cause is a `DocqaError` whose message is
one line naming the file, setting, index or model and, where there is one, what to do.

Each stage raises its own kind (`IngestError`, `StoreError`, `ConfigError`, `ModelError`,
`ServerError`, …); the CLI and the chat catch this one class and show the message as it is.
"""

from __future__ import annotations


class DocqaError(Exception):
    """Base class of every error a user can cause or fix."""
