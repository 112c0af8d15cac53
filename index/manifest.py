"""The index manifest: what the stored vectors mean, checked every time an index is opened.

Vectors from two embedding models cannot be compared, so an index remembers the model id and
dimension it was built with, the chunking settings and the schema version, in its own SQLite
table. Opening it with other settings is an `IndexMismatchError` with a message that says what
differs and what to do.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from index.errors import IndexMismatchError

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class Manifest:
    """What the vectors in an index mean; two indexes with equal manifests are comparable."""

    embedding_model: str
    dimension: int
    chunk_tokens: int
    chunk_overlap: int
    schema_version: int = SCHEMA_VERSION


def read_manifest(conn: sqlite3.Connection) -> Manifest | None:
    return manifest_from_rows(dict(conn.execute("SELECT key, value FROM manifest").fetchall()))


def manifest_from_rows(values: dict[str, str]) -> Manifest | None:
    """The manifest in a store's key/value rows, or None when the store is new."""
    if "embedding_model" not in values:
        return None
    return Manifest(
        embedding_model=values["embedding_model"],
        dimension=int(values["dimension"]),
        chunk_tokens=int(values["chunk_tokens"]),
        chunk_overlap=int(values["chunk_overlap"]),
        schema_version=int(values["schema_version"]),
    )


def write_manifest(conn: sqlite3.Connection, manifest: Manifest) -> None:
    with conn:
        conn.executemany(
            "INSERT OR REPLACE INTO manifest(key, value) VALUES (?, ?)", manifest_rows(manifest)
        )


def manifest_rows(manifest: Manifest) -> list[tuple[str, str]]:
    """The key/value rows a new store keeps (its write generation starts at 0)."""
    return [
        ("embedding_model", manifest.embedding_model),
        ("dimension", str(manifest.dimension)),
        ("chunk_tokens", str(manifest.chunk_tokens)),
        ("chunk_overlap", str(manifest.chunk_overlap)),
        ("schema_version", str(manifest.schema_version)),
        ("generation", "0"),
    ]


def check_manifest(
    directory: Path | str, stored: Manifest, expected: Manifest, chunking: bool
) -> None:
    """Raise `IndexMismatchError` unless `stored` can be read (or, with `chunking`, written)
    with `expected`'s settings; `directory` names the index in the message."""
    if stored.schema_version != expected.schema_version:
        raise IndexMismatchError(
            f"index at {directory} has schema version {stored.schema_version}; this docqa "
            f"reads version {expected.schema_version}. Re-ingest into a new index directory."
        )
    if (stored.embedding_model, stored.dimension) != (expected.embedding_model, expected.dimension):
        raise IndexMismatchError(
            f"index at {directory} was built with embedding model {stored.embedding_model} "
            f"({stored.dimension}-d) but the settings use {expected.embedding_model} "
            f"({expected.dimension}-d); use the same model or another index directory"
        )
    if chunking and (stored.chunk_tokens, stored.chunk_overlap) != (
        expected.chunk_tokens,
        expected.chunk_overlap,
    ):
        raise IndexMismatchError(
            f"index at {directory} was chunked with chunk_tokens={stored.chunk_tokens}, "
            f"overlap={stored.chunk_overlap}; the settings say {expected.chunk_tokens}, "
            f"{expected.chunk_overlap}. Use the same settings or another index directory"
        )
