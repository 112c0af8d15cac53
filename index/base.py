"""What every index is and holds, whatever keeps it: the reader and writer protocols, the
records they return, and the SQL both stores share.

`StoreReader` is what retrieval and listing need; `Store` adds what ingest and removal need.
The records they hold (`index.types`: documents and passages) and `FileRecord` are defined in
this package, so neither ingest nor retrieval has to reach into the other for them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from index.manifest import Manifest
from index.types import Document, Passage

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True, slots=True)
class FileRecord:
    path: str
    sha256: str
    size: int
    mtime: float
    format: str
    documents: int
    chunks: int
    ingested_at: float

    def to_dict(self) -> dict[str, Any]:
        """As `docqa sources --json` and the API list it."""
        return {
            "path": self.path,
            "format": self.format,
            "documents": self.documents,
            "chunks": self.chunks,
            "sha256": self.sha256,
            "size": self.size,
            "ingested_at": self.ingested_at,
        }


def passage_from_row(row: Sequence[Any]) -> Passage:
    """A stored passage from a row of `id, text, path, title, section, page, start, end,
    ordinal, key, url`: the column order both stores select in."""
    id_, text, source, title, section, page, start, end, ordinal, doc_key, url = row
    return Passage(
        id=id_,
        text=text,
        source=source,
        title=title,
        section=section,
        page=page,
        start=start,
        end=end,
        ordinal=ordinal,
        doc_key=doc_key,
        url=url,
    )


class StoreReader(Protocol):
    """What retrieval, listing and evaluation need of an index, whatever holds it.

    Two implementations: `index.sqlite.IndexStore` (SQLite + FAISS in a folder, the default)
    and `index.postgres.PostgresStore` (PostgreSQL + pgvector, for a collection shared by a
    team). Chunk ids are the store's own; scores are inner products (dense) and the store's
    text ranking, higher is better (lexical).
    """

    manifest: Manifest

    def close(self) -> None: ...
    def snapshot(self) -> AbstractContextManager[None]: ...
    def file_record(self, path: str) -> FileRecord | None: ...
    def files(self) -> list[FileRecord]: ...
    def paths_under(self, root: str) -> list[str]: ...
    def count_chunks(self) -> int: ...
    def chunk_ids(self) -> list[int]: ...
    def file_chunk_ids(self, path: str) -> list[int]: ...
    def get_chunks(self, ids: Iterable[int]) -> dict[int, Passage]: ...
    def search_vectors(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]: ...
    def describe_vectors(self) -> str: ...
    def similarities(self, vector: np.ndarray, ids: Sequence[int]) -> dict[int, float]: ...
    @property
    def size(self) -> int: ...
    def document_counts(self, terms: Sequence[str]) -> dict[str, int]: ...
    def search_terms(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]: ...


class Store(StoreReader, Protocol):
    """A store that can also be written: what ingest and removal need. Both stores are one;
    a reader opened read-only becomes a writer with `make_writable`."""

    writable: bool

    def make_writable(self) -> None: ...
    def writing(self) -> AbstractContextManager[None]: ...
    def replace_file(
        self,
        path: str,
        *,
        sha256: str,
        size: int,
        mtime: float,
        fmt: str,
        documents: Sequence[Document],
        chunks: Sequence[Passage],
        vectors: np.ndarray,
    ) -> None: ...
    def touch_file(self, path: str, *, size: int, mtime: float) -> None: ...
    def remove_file(self, path: str) -> int: ...
    def flush(self) -> None: ...


class Catalogue:
    """The reads on files and chunks that both stores answer with the same SQL.

    Written with `?` placeholders; a store whose driver wants another style (psycopg's `%s`)
    rewrites them in `_sql`. Kept to queries that are standard SQL, so that both dialects run
    them unchanged.
    """

    _conn: Any

    def _sql(self, query: str) -> str:
        return query

    def _rows(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self._conn.execute(self._sql(query), tuple(params)).fetchall())

    def file_record(self, path: str) -> FileRecord | None:
        rows = self._file_rows("WHERE f.path = ?", (path,))
        return rows[0] if rows else None

    def files(self) -> list[FileRecord]:
        return self._file_rows("", ())

    def paths_under(self, root: str) -> list[str]:
        """Indexed paths equal to `root` or inside it (by path prefix, not by string prefix)."""
        prefix = root.rstrip(os.sep) + os.sep
        rows = self._rows(
            "SELECT path FROM files WHERE path = ? OR substr(path, 1, ?) = ?",
            (root, len(prefix), prefix),
        )
        return [r[0] for r in rows]

    def count_chunks(self) -> int:
        return int(self._rows("SELECT count(*) FROM chunks")[0][0])

    def chunk_ids(self) -> list[int]:
        return [r[0] for r in self._rows("SELECT id FROM chunks ORDER BY id")]

    def file_chunk_ids(self, path: str) -> list[int]:
        """The chunks of one file, in document and reading order."""
        rows = self._rows(
            "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE d.path = ? ORDER BY d.id, c.ordinal",
            (path,),
        )
        return [r[0] for r in rows]

    def _file_rows(self, where: str, params: tuple[Any, ...]) -> list[FileRecord]:
        rows = self._rows(
            "SELECT f.path, f.sha256, f.size, f.mtime, f.format, "
            "(SELECT count(*) FROM documents d WHERE d.path = f.path), "
            "(SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id "
            " WHERE d.path = f.path), f.ingested_at "
            f"FROM files f {where} ORDER BY f.path",
            params,
        )
        return [
            FileRecord(
                path=path,
                sha256=sha256,
                size=size,
                mtime=mtime,
                format=fmt,
                documents=documents,
                chunks=chunks,
                ingested_at=ingested_at,
            )
            for path, sha256, size, mtime, fmt, documents, chunks, ingested_at in rows
        ]

    def _generation(self) -> int:
        rows = self._rows("SELECT value FROM manifest WHERE key = 'generation'")
        return int(rows[0][0]) if rows else 0
