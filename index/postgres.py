"""The index in PostgreSQL: pgvector for dense search, PostgreSQL full-text search for lexical.

For a collection that a team shares, or one that outgrows a laptop: the usual PostgreSQL tools
back it up, replicate it and scale it out. One schema holds one index (the `docqa` schema by
default), with the same tables as the SQLite store — manifest, files, documents, chunks —
and the same guarantees:

- every file is replaced in one transaction, so a killed ingest leaves each document fully
  present or absent;
- the manifest is checked on every open (`IndexMismatchError` for another embedder);
- one writer at a time (`pg_try_advisory_lock`, dropped by the server when the writer's
  connection dies), refused at once with the holder's pid;
- a question reads one committed state (`REPEATABLE READ`), even while another process ingests.

There is no vector file to keep in step: the embeddings live in a `vector` column with an HNSW
index (inner product), so `flush` has nothing to do. The lexical side is PostgreSQL's
full-text search — a generated `tsvector` column with a GIN index finds the chunks — scored by
the same BM25 as SQLite FTS5, computed from the term frequencies the tsvector keeps.

Not here: parsing, chunking, embedding — this module stores what it is given.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from index.base import Catalogue, passage_from_row
from index.errors import IndexBusyError, IndexNotFoundError, StoreUnavailableError
from index.manifest import Manifest, check_manifest, manifest_from_rows, manifest_rows
from index.types import Document, Passage

log = logging.getLogger(__name__)

TEXT_CONFIG = "english"  # PostgreSQL's Snowball stemmer + stop words: the SQLite side's porter
_LOCK_CLASS = 0x646F6371  # "docq": the advisory-lock namespace of docqa writers
_HNSW_MAX_EF = 1000  # pgvector's upper bound on hnsw.ef_search
_MAX_CACHED_COUNTS = 50_000
BM25_K1, BM25_B = 1.2, 0.75  # SQLite FTS5's bm25() constants, so both stores rank alike
_WORD = re.compile(r"\w+")


def _schema_sql(dimension: int) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, sha256 TEXT NOT NULL, size BIGINT NOT NULL,
    mtime DOUBLE PRECISION NOT NULL, format TEXT NOT NULL,
    ingested_at DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id BIGSERIAL PRIMARY KEY,
    path TEXT NOT NULL REFERENCES files(path) ON DELETE CASCADE,
    key TEXT NOT NULL, title TEXT NOT NULL, url TEXT NOT NULL, format TEXT NOT NULL,
    metadata JSONB NOT NULL);
CREATE INDEX IF NOT EXISTS documents_path ON documents(path);
CREATE TABLE IF NOT EXISTS chunks (
    id BIGSERIAL PRIMARY KEY,
    document_id BIGINT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, text TEXT NOT NULL, section TEXT NOT NULL, heading TEXT NOT NULL,
    page INTEGER, start_offset INTEGER NOT NULL, end_offset INTEGER NOT NULL,
    tokens INTEGER NOT NULL, embedding vector({dimension}) NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('{TEXT_CONFIG}', text || ' ' || heading))
        STORED);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks(document_id);
CREATE INDEX IF NOT EXISTS chunks_tsv ON chunks USING gin (tsv);
CREATE INDEX IF NOT EXISTS chunks_embedding ON chunks USING hnsw (embedding vector_ip_ops);
"""


# The lexical query: each term through plainto_tsquery (so no user text is parsed as tsquery
# syntax), the non-empty ones OR-ed.
_TERMS_QUERY = f"""
(SELECT coalesce(string_agg(q, ' | '), '')::tsquery FROM (
    SELECT plainto_tsquery('{TEXT_CONFIG}', t)::text AS q FROM unnest(%s::text[]) AS t) AS s
 WHERE q <> '')
"""


class PostgresStore(Catalogue):
    """An index in one PostgreSQL schema. Use `PostgresStore.open`; close it when done."""

    def __init__(self, conn: Any, schema: str, manifest: Manifest, ef_search: int) -> None:
        self._conn = conn
        self.schema = schema
        self.manifest = manifest
        self._ef_search = ef_search
        self._lock_key = zlib.crc32(schema.encode()) & 0x7FFFFFFF
        self._stats: tuple[int, int, float] = (-1, 0, 0.0)  # generation, chunks, mean tokens
        self._lexeme_counts: dict[str, int] = {}
        self._stem_cache: dict[str, list[str]] = {}

    # ---- opening -------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        dsn: str,
        schema: str,
        expected: Manifest,
        *,
        create: bool,
        check_chunking: bool = False,
        ef_search: int = 100,
    ) -> PostgresStore:
        """Open (or with `create`, make) the index in `schema`, checking its manifest.

        Creating needs the `vector` extension, or the right to create it in the database.
        """
        conn = _connect(dsn)
        try:
            location = _describe(conn, schema)
            if create:
                _create(conn, schema, expected.dimension)
            elif not _exists(conn, schema):
                raise IndexNotFoundError(f"no index in {location}: run `docqa ingest PATH` first")
            _use(conn, schema)
            rows = dict(conn.execute("SELECT key, value FROM manifest").fetchall())
            stored = manifest_from_rows(rows)
            if stored is None:
                if not create:
                    raise IndexNotFoundError(f"{location} is not a docqa index")
                with conn.transaction():
                    conn.cursor().executemany(
                        "INSERT INTO manifest(key, value) VALUES (%s, %s) "
                        "ON CONFLICT (key) DO NOTHING",
                        manifest_rows(expected),
                    )
                stored = manifest_from_rows(
                    dict(conn.execute("SELECT key, value FROM manifest").fetchall())
                )
                assert stored is not None
            check_manifest(location, stored, expected, check_chunking)
        except BaseException:
            conn.close()
            raise
        return cls(conn, schema, stored, ef_search)

    writable = True  # access rights are the database's to enforce

    def make_writable(self) -> None:
        """Nothing to do: one connection reads and writes."""

    @staticmethod
    def require(dsn: str, schema: str) -> None:
        """Raise `IndexNotFoundError` unless `schema` holds an index (cheap: no model needed)."""
        conn = _connect(dsn)
        try:
            if not _exists(conn, schema):
                raise IndexNotFoundError(
                    f"no index in {_describe(conn, schema)}: run `docqa ingest PATH` first"
                )
        finally:
            conn.close()

    @staticmethod
    def exists(dsn: str, schema: str) -> bool:
        conn = _connect(dsn)
        try:
            return _exists(conn, schema)
        finally:
            conn.close()

    @staticmethod
    def schemas(dsn: str, prefix: str) -> list[str]:
        """The schemas named `prefix` or `prefix_…` that hold an index."""
        conn = _connect(dsn)
        try:
            rows = conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname = %s OR nspname LIKE %s "
                "ORDER BY nspname",
                (prefix, prefix.replace("_", "\\_") + "\\_%"),
            ).fetchall()
            return [r[0] for r in rows if _exists(conn, r[0])]
        finally:
            conn.close()

    @staticmethod
    def size_of(dsn: str, schema: str) -> int:
        """Bytes of the schema's tables with their indexes and TOAST data."""
        conn = _connect(dsn)
        try:
            row = conn.execute(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind IN ('r', 'm')",
                (schema,),
            ).fetchone()
            return int(row[0])
        finally:
            conn.close()

    @staticmethod
    def rename(dsn: str, schema: str, to: str) -> None:
        from psycopg import sql

        conn = _connect(dsn)
        try:
            conn.execute(
                sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
                    sql.Identifier(schema), sql.Identifier(to)
                )
            )
        finally:
            conn.close()

    @staticmethod
    def drop(dsn: str, schema: str) -> None:
        """Delete the index in `schema` and everything in it (a temporary evaluation index)."""
        from psycopg import sql

        conn = _connect(dsn)
        try:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        finally:
            conn.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    def _sql(self, query: str) -> str:
        return query.replace("?", "%s")  # psycopg's placeholders

    # ---- reading -------------------------------------------------------------------------
    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Read as of one moment (a read-only REPEATABLE READ transaction), so a question never
        pairs a chunk with another version of its file while someone ingests. Nests as a
        no-op, and inside a write it reads the writer's own state."""
        from psycopg.pq import TransactionStatus

        if self._conn.info.transaction_status != TransactionStatus.IDLE:
            yield
            return
        with self._conn.transaction():
            self._conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield

    def get_chunks(self, ids: Iterable[int]) -> dict[int, Passage]:
        rows = self._conn.execute(
            "SELECT c.id, c.text, d.path, d.title, c.section, c.page, c.start_offset, "
            "c.end_offset, c.ordinal, d.key, d.url FROM chunks c "
            "JOIN documents d ON d.id = c.document_id "
            "WHERE c.id = ANY(%s)",
            (list(ids),),
        )
        return {r[0]: passage_from_row(r) for r in rows}

    def search_vectors(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Top-k chunk ids by inner product (cosine, as vectors are normalised).

        One HNSW scan returns at most `hnsw.ef_search` rows, and fewer where the graph has
        dead or unreachable entries (after deletions), so the search list is widened to `k`
        and the scan is iterative (pgvector ≥ 0.8): it goes on until it has `k` rows, in
        order. The scores are the exact inner products of the rows found.
        """
        if k <= 0:
            return []
        query = np.asarray(vector, dtype=np.float32)
        with self.snapshot():
            ef = min(max(self._ef_search, k), _HNSW_MAX_EF)
            self._conn.execute(
                "SELECT set_config('hnsw.ef_search', %s, true), "
                "set_config('hnsw.iterative_scan', 'strict_order', true)",
                (str(ef),),
            )
            rows = self._conn.execute(
                "SELECT id, -(embedding <#> %s) AS score FROM chunks "
                "ORDER BY embedding <#> %s LIMIT %s",
                (query, query, k),
            ).fetchall()
        return sorted(((int(i), float(s)) for i, s in rows), key=lambda r: r[1], reverse=True)

    def describe_vectors(self) -> str:
        return f"pgvector HNSW (inner product), ef_search {self._ef_search}, in {self.schema}"

    def similarities(self, vector: np.ndarray, ids: Sequence[int]) -> dict[int, float]:
        """Inner products of `vector` with the stored embeddings of `ids`."""
        if not ids:
            return {}
        query = np.asarray(vector, dtype=np.float32)
        rows = self._conn.execute(
            "SELECT id, -(embedding <#> %s) FROM chunks WHERE id = ANY(%s)", (query, list(ids))
        )
        return {int(i): float(s) for i, s in rows}

    @property
    def size(self) -> int:
        """Chunks in the index, counted once per write generation."""
        return self._collection_stats()[0]

    def _collection_stats(self) -> tuple[int, float]:
        """(chunks, mean tokens per chunk), read once per write generation."""
        generation = self._generation()
        if self._stats[0] != generation:
            n, mean = self._conn.execute(
                "SELECT count(*), coalesce(avg(tokens), 0) FROM chunks"
            ).fetchone()
            self._stats = (generation, int(n), float(mean))
            self._lexeme_counts = {}
        return self._stats[1], self._stats[2]

    def document_counts(self, terms: Sequence[str]) -> dict[str, int]:
        """How many chunks match each term (as PostgreSQL's text search parses it), from the
        per-stem counts BM25 uses, cached until the next write: the expensive terms are the
        common ones, which recur. A stop word matches nothing."""
        self._collection_stats()  # a new write generation empties the counts
        stems = self._stems(terms)
        counts = {}
        for term in terms:
            if len(stems[term]) <= 1:
                counts[term] = sum(self._lexeme_count(x) for x in stems[term])
            else:  # a term the parser splits ("e-mail"): chunks holding all of its parts
                counts[term] = int(
                    self._conn.execute(
                        f"SELECT count(*) FROM chunks WHERE tsv @@ plainto_tsquery('{TEXT_CONFIG}',"
                        " %s)",
                        (term,),
                    ).fetchone()[0]
                )
        return counts

    def _stems(self, terms: Sequence[str]) -> dict[str, list[str]]:
        """Each term's lexemes, as the tsvector column holds them (none for a stop word).

        A term's stems depend only on the text configuration, so they are kept: a bounded
        keyword search stems its words for the counts and again for the scores.
        """
        new = [t for t in dict.fromkeys(terms) if t not in self._stem_cache]
        if new:
            if len(self._stem_cache) + len(new) > _MAX_CACHED_COUNTS:
                self._stem_cache.clear()
            found: dict[str, list[str]] = {term: [] for term in new}
            rows = self._conn.execute(
                "SELECT t, lexeme FROM unnest(%s::text[]) AS t, "
                f"unnest(tsvector_to_array(to_tsvector('{TEXT_CONFIG}', t))) AS lexeme",
                (new,),
            )
            for term, lexeme in rows:
                found[term].append(lexeme)
            self._stem_cache.update(found)
        return {term: self._stem_cache[term] for term in terms}

    def search_terms(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Top-k chunk ids holding any of `terms`, by BM25.

        PostgreSQL's full-text search finds the chunks (the GIN index) and gives each stemmed
        term's frequency in a chunk (its positions in the tsvector); the score is the same
        Okapi BM25 as SQLite FTS5's `bm25()`, so the two stores rank alike. PostgreSQL's own
        `ts_rank` is not BM25: it ranked keyword hits differently enough to move the fused
        results (docs/backends.md).
        """
        if not terms or k <= 0:
            return []
        with self.snapshot():  # the statistics and the scores from one state
            n, mean_tokens = self._collection_stats()
            lexemes = list(dict.fromkeys(x for xs in self._stems(terms).values() for x in xs))
            if not lexemes or not n:
                return []
            idf = [_idf(n, self._lexeme_count(x)) for x in lexemes]
            rows = self._conn.execute(
                "SELECT c.id, sum(w.idf * (u.tf * (%(k1)s + 1)) / (u.tf + %(k1)s * "
                "(1 - %(b)s + %(b)s * c.tokens / %(avgdl)s))) AS score "
                f"FROM chunks c, {_TERMS_QUERY.replace('%s', '%(terms)s')} AS q(q), "
                # Only the query's stems of each chunk's tsvector are unnested: weight them A,
                # keep the A's (in C), rather than turn all of a chunk's words into rows.
                "LATERAL (SELECT lexeme, coalesce(array_length(positions, 1), 1) AS tf "
                "         FROM unnest(ts_filter(setweight(c.tsv, 'A', %(lexemes)s::text[]), "
                "                               '{a}'))) AS u "
                "JOIN unnest(%(lexemes)s::text[], %(idf)s::float8[]) AS w(lexeme, idf) "
                "  ON w.lexeme = u.lexeme "
                "WHERE c.tsv @@ q.q GROUP BY c.id ORDER BY score DESC, c.id LIMIT %(k)s",
                {
                    "k1": BM25_K1,
                    "b": BM25_B,
                    "avgdl": max(mean_tokens, 1.0),
                    "terms": list(terms),
                    "lexemes": lexemes,
                    "idf": idf,
                    "k": k,
                },
            )
            return [(int(i), float(s)) for i, s in rows]

    def _lexeme_count(self, lexeme: str) -> int:
        """Chunks holding a stemmed term, cached until the next write (with the stats)."""
        if lexeme not in self._lexeme_counts:
            if len(self._lexeme_counts) >= _MAX_CACHED_COUNTS:
                self._lexeme_counts.clear()
            row = self._conn.execute(
                "SELECT count(*) FROM chunks WHERE tsv @@ plainto_tsquery('simple', %s)",
                (lexeme,),
            ).fetchone()
            self._lexeme_counts[lexeme] = int(row[0])
        return self._lexeme_counts[lexeme]

    # ---- writing -------------------------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the index's writer lock for a batch of changes (an ingest, a removal).

        A session advisory lock: two writers, from any machine, never interleave; it refuses
        at once rather than wait behind an ingest that may take an hour, and the server drops
        it when the holder's connection dies, so a crash never leaves the index locked.
        """
        got = self._conn.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", (_LOCK_CLASS, self._lock_key)
        ).fetchone()[0]
        if not got:
            holder = self._conn.execute(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                "AND l.classid = %s AND l.objid = %s AND l.objsubid = 2",
                (_LOCK_CLASS, self._lock_key),
            ).fetchone()
            who = f" ({holder[0].removeprefix('docqa ')})" if holder and holder[0] else ""
            raise IndexBusyError(
                f"{_describe(self._conn, self.schema)} is being changed by another docqa "
                f"process{who}; try again when it has finished"
            )
        try:
            yield
        finally:
            if not self._conn.closed:
                self._conn.execute(
                    "SELECT pg_advisory_unlock(%s, %s)", (_LOCK_CLASS, self._lock_key)
                )

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
        import json

        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        with self._conn.transaction():
            self._conn.execute("DELETE FROM files WHERE path = %s", (path,))
            self._conn.execute(
                "INSERT INTO files(path, sha256, size, mtime, format, ingested_at) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (path, sha256, size, mtime, fmt, time.time()),
            )
            doc_ids: dict[str, int] = {}
            for doc in documents:
                metadata = json.dumps(doc.metadata, default=str).replace("\\u0000", "\\ufffd")
                doc_ids[doc.key] = self._conn.execute(
                    "INSERT INTO documents(path, key, title, url, format, metadata) "
                    "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                    (path, doc.key, _text(doc.title), doc.url, doc.format, metadata),
                ).fetchone()[0]
            rows = [
                (
                    doc_ids[c.doc_key],
                    c.ordinal,
                    _text(c.text),
                    _text(c.section),
                    _text(c.heading),
                    c.page,
                    c.start,
                    c.end,
                    len(_WORD.findall(c.text)) + len(_WORD.findall(c.heading)),
                    np.asarray(v, dtype=np.float32),
                )
                for c, v in zip(chunks, vectors, strict=True)
            ]
            self._conn.cursor().executemany(
                "INSERT INTO chunks(document_id, ordinal, text, section, heading, page, "
                "start_offset, end_offset, tokens, embedding) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
            self._bump_generation()

    def touch_file(self, path: str, *, size: int, mtime: float) -> None:
        """Record a new mtime for a file whose content hash did not change."""
        with self._conn.transaction():
            self._conn.execute(
                "UPDATE files SET size = %s, mtime = %s WHERE path = %s", (size, mtime, path)
            )

    def remove_file(self, path: str) -> int:
        """Delete a file and everything derived from it; returns the number of chunks removed."""
        with self._conn.transaction():
            removed = self._conn.execute(
                "SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id "
                "WHERE d.path = %s",
                (path,),
            ).fetchone()[0]
            deleted = self._conn.execute("DELETE FROM files WHERE path = %s", (path,)).rowcount
            if deleted:
                self._bump_generation()
        return int(removed)

    def flush(self) -> None:
        """Nothing to do: every change is committed with its file."""

    # ---- internals -----------------------------------------------------------------------
    def _bump_generation(self) -> None:
        self._conn.execute(
            "UPDATE manifest SET value = (value::bigint + 1)::text WHERE key = 'generation'"
        )


def _idf(chunks: int, holding: int) -> float:
    """FTS5's BM25 idf: ln((N − n + 0.5) / (n + 0.5)), floored at 1e-6 so that a term in more
    than half the chunks still counts a little rather than negatively."""
    return max(math.log((chunks - holding + 0.5) / (holding + 0.5)), 1e-6)


def _text(value: str) -> str:
    """PostgreSQL text cannot hold NUL; the replacement character keeps offsets true."""
    return value.replace("\x00", "\ufffd")


def _connect(dsn: str) -> Any:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise StoreUnavailableError(
            "the PostgreSQL store needs psycopg and pgvector: pip install 'docqa[postgres]'"
        ) from exc
    try:
        return psycopg.connect(
            dsn, autocommit=True, application_name=f"docqa pid {os.getpid()}", connect_timeout=10
        )
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreUnavailableError(f"cannot connect to PostgreSQL: {reason}") from exc


def _describe(conn: Any, schema: str) -> str:
    """Where an index lives, for messages: never the password."""
    info = conn.info
    return f"PostgreSQL schema {schema!r} in {info.dbname} on {info.host}:{info.port}"


def _exists(conn: Any, schema: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s)", (f'"{schema}".manifest',)).fetchone()
    return row[0] is not None


def _create(conn: Any, schema: str, dimension: int) -> None:
    """Create the extension, schema and tables if missing; serialised across processes."""
    import psycopg
    from psycopg import sql

    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_LOCK_CLASS,))
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.Error as exc:
            raise StoreUnavailableError(
                f"cannot use pgvector in {conn.info.dbname}: {str(exc).strip()}; install "
                "pgvector on the server (scripts/postgres.sh install) or ask its administrator"
                " to `CREATE EXTENSION vector`"
            ) from exc
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        _use(conn, schema)
        conn.execute(_schema_sql(dimension))


def _use(conn: Any, schema: str) -> None:
    from pgvector.psycopg import register_vector
    from psycopg import sql

    # The extension's types live in the schema it was created in (public by default).
    conn.execute(sql.SQL("SET search_path TO {}, public").format(sql.Identifier(schema)))
    register_vector(conn)
