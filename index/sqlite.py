"""The index on disk: SQLite for files, documents, chunks and the manifest; FAISS for vectors.

One directory holds `index.sqlite3` and `vectors-<generation>.faiss`. SQLite is the source of
truth — every chunk row keeps its embedding — and each file is replaced in one transaction, so
a killed ingest leaves every document either fully present or absent. The FAISS file is a
cache of the vectors tagged with the generation counter that every write transaction bumps;
when the file for the current generation is missing (a crash before `flush`), it is rebuilt
from SQLite on open. So the two can never disagree for a reader.

Every open checks the manifest (see `index.manifest`): an index built with another embedder
is an `IndexMismatchError`, never silent garbage.

Not here: parsing, chunking, embedding — this module stores what it is given.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from index.base import Catalogue, passage_from_row
from index.errors import (
    IndexBusyError,
    IndexDamagedError,
    IndexNotFoundError,
    IndexStorageError,
    StoreError,
    first_line,
)
from index.manifest import Manifest, check_manifest, read_manifest, write_manifest
from index.types import Document, Passage
from index.vectors import VectorIndex, VectorIndexPolicy

log = logging.getLogger(__name__)

DB_NAME = "index.sqlite3"
LOCK_NAME = "write.lock"
_MAX_CACHED_COUNTS = 50_000  # term → chunk count entries kept between writes

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


class IndexStore(Catalogue):
    """An open index directory. Use `IndexStore.open`; close it (or use `with`) when done."""

    def __init__(
        self,
        directory: Path,
        conn: sqlite3.Connection,
        manifest: Manifest,
        policy: VectorIndexPolicy | None = None,
        *,
        writable: bool = True,
    ) -> None:
        self.directory = directory
        self.writable = writable  # a reader's connection is read-only, and it saves nothing
        self.manifest = manifest
        self.policy = policy or VectorIndexPolicy()
        self._conn = conn
        self._dirty = False
        self._counts: dict[str, int] = {}
        self._counts_generation = -1
        self._loaded_generation = self._generation()
        self._vectors = self._load_vectors()

    # ---- opening -------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        directory: Path,
        expected: Manifest,
        *,
        create: bool,
        check_chunking: bool = False,
        policy: VectorIndexPolicy | None = None,
        read_only: bool = False,
    ) -> IndexStore:
        """Open (or with `create`, make) the index at `directory`, checking its manifest.

        The embedding model and dimension must always match; the chunking settings only when
        `check_chunking` (writers), since reading an index chunked differently is harmless.
        `policy` lays out the vector index by collection size (see `index.vectors`).
        `read_only` (commands that only read) opens the database read-only and saves nothing,
        so reading works on an index this user cannot write and never changes one it can;
        `make_writable` turns such a store into a writer later.
        """
        directory = Path(directory)
        db_path = directory / DB_NAME
        if not create:
            cls.require(directory)
        try:
            if create:
                directory.mkdir(parents=True, exist_ok=True)
            conn = _connect_reader(db_path) if read_only and not create else _connect(db_path)
            stored = read_manifest(conn)
        except sqlite3.DatabaseError as exc:
            raise _storage_error(directory, exc) from None
        except OSError as exc:
            raise IndexStorageError(
                f"cannot create the index at {directory}: {exc.strerror or exc}"
            ) from None
        if stored is None:
            if not create:
                raise IndexNotFoundError(f"{db_path} is not a docqa index")
            write_manifest(conn, expected)
            stored = expected
        check_manifest(directory, stored, expected, check_chunking)
        return cls(directory, conn, stored, policy, writable=create or not read_only)

    def make_writable(self) -> None:
        """Reconnect a read-only store for writing (the chat answers, then ingests an upload);
        the loaded vectors stay."""
        if self.writable:
            return
        try:
            conn = _connect(self.directory / DB_NAME)
        except sqlite3.DatabaseError as exc:
            raise _storage_error(self.directory, exc) from None
        self._conn.close()
        self._conn, self.writable = conn, True

    @staticmethod
    def exists(directory: Path) -> bool:
        """Whether `directory` holds an index database."""
        return (Path(directory) / DB_NAME).is_file()

    @staticmethod
    def require(directory: Path) -> None:
        """Raise `IndexNotFoundError` unless `directory` holds an index database."""
        if not IndexStore.exists(directory):
            raise IndexNotFoundError(f"no index at {directory}: run `docqa ingest PATH` first")

    def __enter__(self) -> IndexStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.flush()
        self._conn.close()

    # ---- reading -------------------------------------------------------------------------
    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Read as of one moment: every query inside sees the same committed state, even while
        another process is ingesting (SQLite's WAL keeps a read transaction's snapshot), so a
        question never pairs a chunk with another version of its file. On entry, a vector
        file another process has finished writing since is taken up. Nests as a no-op.
        """
        if self._conn.in_transaction:
            yield
            return
        self._conn.execute("BEGIN")
        try:
            self._follow_writer()
            yield
        finally:
            self._conn.execute("COMMIT")  # a read transaction: nothing to keep or lose

    def _follow_writer(self) -> None:
        generation = self._generation()
        if generation == self._loaded_generation or self._dirty:
            return
        # No file yet: the writer is mid-ingest, so keep the last complete vectors.
        if (index := self._read_vectors(generation)) is not None:
            self._vectors, self._loaded_generation = index, generation

    def get_chunks(self, ids: Iterable[int]) -> dict[int, Passage]:
        out: dict[int, Passage] = {}
        for batch in _batches(list(ids)):
            marks = ",".join("?" * len(batch))
            rows = self._conn.execute(
                "SELECT c.id, c.text, d.path, d.title, c.section, c.page, c.start, c.end, "
                "c.ordinal, d.key, d.url FROM chunks c JOIN documents d ON d.id = c.document_id "
                f"WHERE c.id IN ({marks})",
                batch,
            )
            out.update((r[0], passage_from_row(r)) for r in rows)
        return out

    def search_vectors(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Top-k chunk ids by inner product (cosine, as vectors are normalised).

        An approximate index's candidates are re-scored with the exact embeddings kept in
        SQLite, so the scores callers see (and the relevance gate compares) are exact.
        """
        found = self._vectors.search(vector, k)
        if self._vectors.exact or not found:
            return found
        exact = self.similarities(vector, [i for i, _ in found])
        return sorted(exact.items(), key=lambda item: item[1], reverse=True)[:k]

    def describe_vectors(self) -> str:
        """The vector index's layout in words, for tests and benchmarks."""
        return self._vectors.describe()

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

    @property
    def size(self) -> int:
        """Chunks in the index, without a query (the vector index holds one per chunk)."""
        return self._vectors.ntotal

    def document_counts(self, terms: Sequence[str]) -> dict[str, int]:
        """How many chunks contain each term (as FTS5 tokenizes it).

        Counting reads a term's whole posting list, so counts are cached until the next
        write; the terms that are expensive to count are the common ones, and those are the
        ones that recur across questions.
        """
        generation = self._generation()
        if self._counts_generation != generation:
            self._counts, self._counts_generation = {}, generation
        for term in terms:
            if term not in self._counts:
                if len(self._counts) >= _MAX_CACHED_COUNTS:
                    self._counts.clear()
                row = self._conn.execute(
                    "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (f'"{term}"',)
                ).fetchone()
                self._counts[term] = int(row[0])
        return {term: self._counts[term] for term in terms}

    def search_terms(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Top-k chunk ids holding any of `terms`, by BM25. Every term is quoted, so user
        punctuation can never be parsed as FTS5 syntax."""
        return self.search_text(" OR ".join('"' + t.replace('"', '""') + '"' for t in terms), k)

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
    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the index's writer lock for a batch of changes (an ingest, a removal).

        An advisory `flock` on `write.lock`, so two processes (or two stores in one process)
        never interleave their changes; it refuses at once with the holder's pid rather than
        waiting behind an ingest that may take an hour. The kernel drops the lock when its
        holder dies, even by SIGKILL, so a crash never leaves the index locked.
        """
        with writer_lock(self.directory):
            yield

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
    ) -> None:
        """Atomically swap everything stored for `path` for the given documents and chunks."""
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        new_ids: list[int] = []
        with self._storing(), self._conn:
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
        with self._storing(), self._conn:
            self._conn.execute(
                "UPDATE files SET size = ?, mtime = ? WHERE path = ?", (size, mtime, path)
            )

    def remove_file(self, path: str) -> int:
        """Delete a file and everything derived from it; returns the number of chunks removed."""
        with self._storing(), self._conn:
            old_ids = self._delete_file_rows(path)
            if old_ids:
                self._bump_generation()
        self._apply_vector_changes(old_ids, [], None)
        return len(old_ids)

    def flush(self) -> None:
        """Persist the FAISS cache for the current generation (atomic rename).

        The cache is an optimisation over SQLite, so failing to save it (a full disk, a
        read-only folder) is a warning, not an error: the next open rebuilds it. A read-only
        store keeps a rebuilt cache in memory and saves nothing.
        """
        if not self._dirty or not self.writable:
            return
        generation = self._generation()
        target = self.directory / f"vectors-{generation}.faiss"
        tmp = target.with_suffix(".faiss.tmp")
        if self._vectors.outgrown():
            self._vectors = self._rebuild_vectors()
        try:
            self._vectors.save(tmp)
            os.replace(tmp, target)
        except (OSError, RuntimeError) as exc:  # faiss reports I/O errors as RuntimeError
            tmp.unlink(missing_ok=True)
            log.warning(
                "%s: could not save the vector cache (%s); it is rebuilt from the "
                "database when next opened",
                self.directory,
                first_line(exc),
            )
            return
        for stale in self.directory.glob("vectors-*.faiss"):
            if stale != target:
                stale.unlink(missing_ok=True)
        self._dirty = False
        self._loaded_generation = generation

    @contextmanager
    def _storing(self) -> Iterator[None]:
        """Turn SQLite's write failures into one `IndexStorageError` line."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise _storage_error(self.directory, exc) from None

    # ---- internals -----------------------------------------------------------------------
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

    def _insert_chunk(self, document_id: int, chunk: Passage, vector: np.ndarray) -> int:
        blob = np.asarray(vector, dtype=np.float32).tobytes()
        cur = self._conn.execute(
            "INSERT INTO chunks(document_id, ordinal, text, section, page, start, end, embedding)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                document_id,
                chunk.ordinal,
                chunk.text,
                chunk.section,
                chunk.page,
                chunk.start,
                chunk.end,
                blob,
            ),
        )
        chunk_id = int(cur.lastrowid)
        self._conn.execute(
            "INSERT INTO chunks_fts(rowid, text, heading) VALUES (?, ?, ?)",
            (chunk_id, chunk.text, chunk.heading),
        )
        return chunk_id

    def _apply_vector_changes(
        self, old_ids: list[int], new_ids: list[int], vectors: np.ndarray | None
    ) -> None:
        if old_ids:
            self._vectors.remove(old_ids)
        if new_ids and vectors is not None:
            self._vectors.add(np.asarray(new_ids, np.int64), vectors)
        self._dirty = self._dirty or bool(old_ids or new_ids)

    def _bump_generation(self) -> None:
        self._conn.execute(
            "INSERT INTO manifest(key, value) VALUES ('generation', '1') ON CONFLICT(key) "
            "DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    def _load_vectors(self) -> VectorIndex:
        index = self._read_vectors(self._generation())
        if index is not None and not index.outgrown():
            return index
        if index is not None:
            log.info("the vector file no longer suits %d vectors; rebuilding it", index.ntotal)
        return self._rebuild_vectors()

    def _read_vectors(self, generation: int) -> VectorIndex | None:
        """The vector file written for `generation`, if it exists, can be read and holds every
        chunk; None means "rebuild it from the database"."""
        path = self.directory / f"vectors-{generation}.faiss"
        if not path.exists():
            return None
        try:
            index = VectorIndex.load(path, self.policy)
        except (OSError, RuntimeError) as exc:  # empty, truncated or not a FAISS file
            log.warning(
                "%s cannot be read (%s); rebuilding it from the database", path, first_line(exc)
            )
            return None
        if index.ntotal != self.count_chunks():
            log.warning("%s disagrees with the database; not using it", path.name)
            return None
        return index

    def _rebuild_vectors(self) -> VectorIndex:
        """Recreate the FAISS cache from the embeddings SQLite keeps: after a crash, or when
        the collection has outgrown the index's layout."""
        n = self.count_chunks()
        if n:
            log.info("building the vector index from %d stored embeddings", n)
        index = VectorIndex.build(
            self.manifest.dimension, n, self.policy, self._embedding_batches, self._sample
        )
        self._dirty = True
        return index

    def _embedding_batches(self, size: int = 20_000) -> Iterable[tuple[np.ndarray, np.ndarray]]:
        """Every stored embedding in id order, a bounded batch at a time (not all in memory)."""
        cursor = self._conn.execute("SELECT id, embedding FROM chunks ORDER BY id")
        while rows := cursor.fetchmany(size):
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
            yield ids, vectors.reshape(len(rows), self.manifest.dimension)

    def _sample(self, m: int) -> np.ndarray:
        """m stored embeddings drawn uniformly without replacement (seeded: reproducible)."""
        ids = np.asarray(self.chunk_ids(), dtype=np.int64)
        chosen = np.random.default_rng(0).choice(ids, size=min(m, len(ids)), replace=False)
        found = self._vectors_of(chosen.tolist())
        return np.stack([found[int(i)] for i in chosen])


def _batches(ids: list[int], size: int = 900) -> Iterable[list[int]]:
    """Split id lists under SQLite's limit on bound parameters per statement."""
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def _connect(db_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db_path, isolation_level="DEFERRED", check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.executescript(_SCHEMA)
    except sqlite3.DatabaseError:
        conn.close()
        raise
    return conn


def _connect_reader(db_path: Path) -> sqlite3.Connection:
    """A read-only connection: a reader must work on an index it cannot write (another
    user's, a read-only mount) and must never change one it can.

    SQLite reads a WAL database through a shared-memory file next to it; where that cannot be
    created (a read-only folder), no process can be writing, so the file is opened as
    immutable instead.
    """
    uri = "file:" + urllib.parse.quote(str(db_path.absolute())) + "?mode=ro"
    for suffix in ("", "&immutable=1"):
        conn = sqlite3.connect(
            uri + suffix, uri=True, isolation_level="DEFERRED", check_same_thread=False
        )
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            if suffix or not ("unable to open" in str(exc) or "readonly" in str(exc)):
                raise
            log.debug("%s: opening as immutable (%s)", db_path, exc)
    raise AssertionError("unreachable")


def _storage_error(directory: Path, exc: sqlite3.DatabaseError) -> StoreError:
    """One line for a database failure: damaged, full or read-only, and what to do."""
    text = str(exc)
    if "full" in text:
        return IndexStorageError(
            f"the disk holding the index at {directory} is full; free "
            "some space and run the command again (what was stored "
            "before is intact)"
        )
    if "readonly" in text or "read-only" in text:
        return IndexStorageError(
            f"the index at {directory} is read-only here; ingest into "
            "an index you can write (--index DIR)"
        )
    if isinstance(exc, sqlite3.OperationalError) and "unable to open" in text:
        return IndexStorageError(f"cannot open the index at {directory}: {text}")
    return IndexDamagedError(
        f"the index at {directory} is damaged ({text}); move it aside "
        "and ingest your documents again"
    )


def is_index_file(name: str) -> bool:
    """Whether a file name is one of an index's own: the database with its journal files,
    the vector files (and their temporary copies), the lock."""
    return name in (
        DB_NAME,
        f"{DB_NAME}-wal",
        f"{DB_NAME}-shm",
        f"{DB_NAME}-journal",
        LOCK_NAME,
    ) or (name.startswith("vectors-") and ".faiss" in name)


def index_files(directory: Path) -> list[Path]:
    """The files of the index in `directory`, and nothing else that may be in the folder."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and is_index_file(p.name))


@contextmanager
def writer_lock(directory: Path) -> Iterator[None]:
    """The writer lock of the index in `directory` (see `IndexStore.writing`)."""
    fd = os.open(Path(directory) / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            raise IndexBusyError(
                f"{directory} is being changed by another docqa process"
                f"{f' (pid {holder})' if holder else ''}; try again when it has finished"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
