"""The index on disk: SQLite for files, documents, chunks and the manifest; FAISS for vectors.

One directory holds `index.sqlite3` and `vectors-<generation>.faiss`. SQLite is the source of
truth — every chunk row keeps its embedding — and each file is replaced in one transaction, so
a killed ingest leaves every document either fully present or absent. The FAISS file is a
cache of the vectors tagged with the generation counter that every write transaction bumps;
when the file for the current generation is missing (a crash before `flush`), it is rebuilt
from SQLite on open. So the two can never disagree for a reader.

Every open checks the manifest (see `ingest.manifest`): an index built with another embedder
is an `IndexMismatchError`, never silent garbage.

Not here: parsing, chunking, embedding — this module stores what it is given.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from ingest.errors import IngestError
from ingest.manifest import Manifest, check_manifest, read_manifest, write_manifest
from ingest.types import Chunk, Document

log = logging.getLogger(__name__)

DB_NAME = "index.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, sha256 TEXT NOT NULL, size INTEGER NOT NULL, mtime REAL NOT NULL,
    format TEXT NOT NULL, ingested_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL REFERENCES files(path) ON DELETE CASCADE,
    key TEXT NOT NULL, title TEXT NOT NULL, url TEXT NOT NULL, format TEXT NOT NULL,
    metadata TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS documents_path ON documents(path);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, text TEXT NOT NULL, section TEXT NOT NULL, page INTEGER,
    start INTEGER NOT NULL, end INTEGER NOT NULL, embedding BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks(document_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts
    USING fts5(text, heading, tokenize = 'porter unicode61');
"""


class IndexNotFoundError(IngestError):
    """Asked to read an index that does not exist yet."""


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


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """A chunk as read back from the index, with its document's provenance."""

    id: int
    text: str
    source: str
    title: str
    section: str
    page: int | None
    start: int
    end: int
    url: str
    doc_key: str


class IndexStore:
    """An open index directory. Use `IndexStore.open`; close it (or use `with`) when done."""

    def __init__(self, directory: Path, conn: sqlite3.Connection, manifest: Manifest) -> None:
        self.directory = directory
        self.manifest = manifest
        self._conn = conn
        self._dirty = False
        self._vectors = self._load_vectors()

    # ---- opening -------------------------------------------------------------------------
    @classmethod
    def open(cls, directory: Path, expected: Manifest, *, create: bool, check_chunking: bool
             = False) -> IndexStore:
        """Open (or with `create`, make) the index at `directory`, checking its manifest.

        The embedding model and dimension must always match; the chunking settings only when
        `check_chunking` (writers), since reading an index chunked differently is harmless.
        """
        directory = Path(directory)
        db_path = directory / DB_NAME
        if not create:
            cls.require(directory)
        directory.mkdir(parents=True, exist_ok=True)
        conn = _connect(db_path)
        stored = read_manifest(conn)
        if stored is None:
            if not create:
                raise IndexNotFoundError(f"{db_path} is not a docqa index")
            write_manifest(conn, expected)
            stored = expected
        check_manifest(directory, stored, expected, check_chunking)
        return cls(directory, conn, stored)

    @staticmethod
    def require(directory: Path) -> None:
        """Raise `IndexNotFoundError` unless `directory` holds an index database."""
        if not (Path(directory) / DB_NAME).exists():
            raise IndexNotFoundError(f"no index at {directory}: run `docqa ingest PATH` first")

    def __enter__(self) -> IndexStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.flush()
        self._conn.close()

    # ---- reading -------------------------------------------------------------------------
    def file_record(self, path: str) -> FileRecord | None:
        rows = self._file_rows("WHERE f.path = ?", (path,))
        return rows[0] if rows else None

    def files(self) -> list[FileRecord]:
        return self._file_rows("", ())

    def paths_under(self, root: str) -> list[str]:
        """Indexed paths equal to `root` or inside it (by path prefix, not by string prefix)."""
        prefix = root.rstrip(os.sep) + os.sep
        rows = self._conn.execute(
            "SELECT path FROM files WHERE path = ? OR substr(path, 1, ?) = ?",
            (root, len(prefix), prefix),
        )
        return [r[0] for r in rows]

    def count_chunks(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM chunks").fetchone()[0])

    def chunk_ids(self) -> list[int]:
        return [r[0] for r in self._conn.execute("SELECT id FROM chunks ORDER BY id")]

    def get_chunks(self, ids: Iterable[int]) -> dict[int, StoredChunk]:
        out: dict[int, StoredChunk] = {}
        for batch in _batches(list(ids)):
            marks = ",".join("?" * len(batch))
            rows = self._conn.execute(
                "SELECT c.id, c.text, d.path, d.title, c.section, c.page, c.start, c.end, "
                "d.url, d.key FROM chunks c JOIN documents d ON d.id = c.document_id "
                f"WHERE c.id IN ({marks})",
                batch,
            )
            out.update((r[0], StoredChunk(*r)) for r in rows)
        return out

    def search_vectors(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Top-k chunk ids by inner product (cosine, as vectors are normalised)."""
        if self._vectors.ntotal == 0 or k <= 0:
            return []
        query = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
        scores, ids = self._vectors.search(query, min(k, self._vectors.ntotal))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def similarities(self, vector: np.ndarray, ids: Sequence[int]) -> dict[int, float]:
        """Inner products of `vector` with the stored embeddings of `ids`."""
        found = self._vectors_of(ids)
        return {i: float(v @ vector) for i, v in found.items()}

    def _vectors_of(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        out: dict[int, np.ndarray] = {}
        for batch in _batches(list(ids)):
            marks = ",".join("?" * len(batch))
            rows = self._conn.execute(
                f"SELECT id, embedding FROM chunks WHERE id IN ({marks})", batch
            )
            out.update((r[0], np.frombuffer(r[1], dtype=np.float32)) for r in rows)
        return out

    def search_text(self, match: str, k: int) -> list[tuple[int, float]]:
        """Top-k chunk ids for an FTS5 MATCH expression, scored by BM25 (higher is better)."""
        if not match or k <= 0:
            return []
        rows = self._conn.execute(
            "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? "
            "ORDER BY bm25(chunks_fts) LIMIT ?",
            (match, k),
        )
        return [(int(r[0]), -float(r[1])) for r in rows]

    # ---- writing -------------------------------------------------------------------------
    def replace_file(
        self,
        path: str,
        *,
        sha256: str,
        size: int,
        mtime: float,
        fmt: str,
        documents: Sequence[Document],
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
    ) -> None:
        """Atomically swap everything stored for `path` for the given documents and chunks."""
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        new_ids: list[int] = []
        with self._conn:
            old_ids = self._delete_file_rows(path)
            self._conn.execute(
                "INSERT INTO files(path, sha256, size, mtime, format, ingested_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (path, sha256, size, mtime, fmt, time.time()),
            )
            doc_ids = {doc.key: self._insert_document(path, doc) for doc in documents}
            for chunk, vector in zip(chunks, vectors, strict=True):
                new_ids.append(self._insert_chunk(doc_ids[chunk.doc_key], chunk, vector))
            self._bump_generation()
        self._apply_vector_changes(old_ids, new_ids, vectors)

    def touch_file(self, path: str, *, size: int, mtime: float) -> None:
        """Record a new mtime for a file whose content hash did not change."""
        with self._conn:
            self._conn.execute(
                "UPDATE files SET size = ?, mtime = ? WHERE path = ?", (size, mtime, path)
            )

    def remove_file(self, path: str) -> int:
        """Delete a file and everything derived from it; returns the number of chunks removed."""
        with self._conn:
            old_ids = self._delete_file_rows(path)
            if old_ids:
                self._bump_generation()
        self._apply_vector_changes(old_ids, [], None)
        return len(old_ids)

    def flush(self) -> None:
        """Persist the FAISS cache for the current generation (atomic rename)."""
        if not self._dirty:
            return
        generation = self._generation()
        target = self.directory / f"vectors-{generation}.faiss"
        tmp = target.with_suffix(".faiss.tmp")
        faiss.write_index(self._vectors, str(tmp))
        os.replace(tmp, target)
        for stale in self.directory.glob("vectors-*.faiss"):
            if stale != target:
                stale.unlink(missing_ok=True)
        self._dirty = False

    # ---- internals -----------------------------------------------------------------------
    def _file_rows(self, where: str, params: tuple[Any, ...]) -> list[FileRecord]:
        rows = self._conn.execute(
            "SELECT f.path, f.sha256, f.size, f.mtime, f.format, "
            "(SELECT count(*) FROM documents d WHERE d.path = f.path), "
            "(SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id "
            " WHERE d.path = f.path), f.ingested_at "
            f"FROM files f {where} ORDER BY f.path",
            params,
        )
        return [FileRecord(*r) for r in rows]

    def _delete_file_rows(self, path: str) -> list[int]:
        ids = [
            r[0]
            for r in self._conn.execute(
                "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id "
                "WHERE d.path = ?",
                (path,),
            )
        ]
        self._conn.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(i,) for i in ids])
        self._conn.execute("DELETE FROM files WHERE path = ?", (path,))
        return ids

    def _insert_document(self, path: str, doc: Document) -> int:
        cur = self._conn.execute(
            "INSERT INTO documents(path, key, title, url, format, metadata) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (path, doc.key, doc.title, doc.url, doc.format, json.dumps(doc.metadata, default=str)),
        )
        return int(cur.lastrowid)

    def _insert_chunk(self, document_id: int, chunk: Chunk, vector: np.ndarray) -> int:
        blob = np.asarray(vector, dtype=np.float32).tobytes()
        cur = self._conn.execute(
            "INSERT INTO chunks(document_id, ordinal, text, section, page, start, end, embedding)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (document_id, chunk.ordinal, chunk.text, chunk.section, chunk.page, chunk.start,
             chunk.end, blob),
        )
        chunk_id = int(cur.lastrowid)
        self._conn.execute(
            "INSERT INTO chunks_fts(rowid, text, heading) VALUES (?, ?, ?)",
            (chunk_id, chunk.text, chunk.section or chunk.title),
        )
        return chunk_id

    def _apply_vector_changes(
        self, old_ids: list[int], new_ids: list[int], vectors: np.ndarray | None
    ) -> None:
        if old_ids:
            self._vectors.remove_ids(np.asarray(old_ids, dtype=np.int64))
        if new_ids and vectors is not None:
            self._vectors.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(new_ids, np.int64)
            )
        self._dirty = self._dirty or bool(old_ids or new_ids)

    def _generation(self) -> int:
        row = self._conn.execute("SELECT value FROM manifest WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    def _bump_generation(self) -> None:
        self._conn.execute(
            "INSERT INTO manifest(key, value) VALUES ('generation', '1') ON CONFLICT(key) "
            "DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    def _load_vectors(self) -> faiss.Index:
        path = self.directory / f"vectors-{self._generation()}.faiss"
        if path.exists():
            index = faiss.read_index(str(path))
            if index.ntotal == self.count_chunks():
                return index
            log.warning("%s disagrees with the database; rebuilding it", path.name)
        return self._rebuild_vectors()

    def _rebuild_vectors(self) -> faiss.Index:
        """Recreate the FAISS cache from the embeddings SQLite keeps (after a crash)."""
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.manifest.dimension))
        rows = self._conn.execute("SELECT id, embedding FROM chunks ORDER BY id").fetchall()
        if rows:
            log.info("rebuilding the vector index from %d stored embeddings", len(rows))
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
            index.add_with_ids(vecs.reshape(len(rows), self.manifest.dimension), ids)
        self._dirty = True
        return index


def _batches(ids: list[int], size: int = 900) -> Iterable[list[int]]:
    """Split id lists under SQLite's limit on bound parameters per statement."""
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def _connect(db_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db_path, isolation_level="DEFERRED", check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.executescript(_SCHEMA)
    return conn
