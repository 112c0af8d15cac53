"""Incremental ingest: files → documents → chunks → vectors → the index, one file at a time.

Bookkeeping is by file: an unchanged file (same size and mtime, or else the same sha256) is
skipped without parsing or embedding; a changed one is replaced in one transaction; a file
that disappeared from a folder being ingested is removed. A bad file becomes a `FileOutcome`
with a one-line reason and the batch goes on. Chunks from several small files are embedded
together so the encoder sees full batches.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tqdm import tqdm

from ingest.chunking import chunk_document, embedding_text
from ingest.embedding import Embedder
from ingest.errors import IngestError
from ingest.loaders import documents_from_bytes, iter_files, read_checked
from ingest.store import IndexStore
from ingest.types import Chunk, Document

log = logging.getLogger(__name__)

Status = Literal["indexed", "updated", "unchanged", "removed", "failed"]


@dataclass(frozen=True, slots=True)
class FileOutcome:
    path: str
    status: Status
    chunks: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class IngestReport:
    outcomes: tuple[FileOutcome, ...]
    elapsed_s: float

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failed(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def chunks(self) -> int:
        return sum(o.chunks for o in self.outcomes if o.status in ("indexed", "updated"))

    def summary(self) -> str:
        files = sum(1 for o in self.outcomes if o.status != "removed")
        return (
            f"{files} files: {self.count('indexed')} indexed, {self.count('updated')} updated, "
            f"{self.count('unchanged')} unchanged (skipped), {self.count('failed')} failed, "
            f"{self.count('removed')} removed; {self.chunks} chunks in {self.elapsed_s:.1f} s"
        )


@dataclass(slots=True)
class _Pending:
    path: str
    sha256: str
    size: int
    mtime: float
    fmt: str
    replacing: bool
    documents: list[Document]
    chunks: list[Chunk] = field(default_factory=list)


class Ingester:
    """Ingests paths into an open `IndexStore` with one embedder and one chunking setting."""

    def __init__(
        self,
        store: IndexStore,
        embedder: Embedder,
        *,
        chunk_tokens: int,
        overlap_sentences: int,
        max_file_bytes: int,
        batch_size: int = 64,
    ) -> None:
        if chunk_tokens > embedder.max_tokens:
            raise ValueError(
                f"chunk_tokens={chunk_tokens} exceeds the embedder's input limit of "
                f"{embedder.max_tokens} tokens: chunk tails would be silently truncated"
            )
        self._store = store
        self._embedder = embedder
        self._chunk_tokens = chunk_tokens
        self._overlap = overlap_sentences
        self._max_bytes = max_file_bytes
        self._batch_size = batch_size

    def ingest(
        self,
        paths: Sequence[Path],
        *,
        progress: bool = False,
        on_outcome: Callable[[FileOutcome], None] | None = None,
    ) -> IngestReport:
        started = time.perf_counter()
        outcomes: list[FileOutcome] = []

        def record(outcome: FileOutcome) -> None:
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)

        roots = [Path(os.path.abspath(p)) for p in paths]
        files = list(iter_files(roots))
        pending: list[_Pending] = []
        with tqdm(total=len(files), unit="file", disable=not progress, desc="ingest") as bar:
            for path in files:
                item = self._prepare(path, record)
                if item is not None:
                    pending.append(item)
                if sum(len(p.chunks) for p in pending) >= self._batch_size:
                    self._commit(pending, record)
                    pending = []
                bar.update(1)
            self._commit(pending, record)
        seen = {str(p) for p in files}
        for root in roots:
            if root.is_dir():
                for gone in self._store.paths_under(str(root)):
                    if gone not in seen:
                        record(FileOutcome(gone, "removed", self._store.remove_file(gone)))
        self._store.flush()
        return IngestReport(tuple(outcomes), time.perf_counter() - started)

    def _prepare(self, path: Path, record: Callable[[FileOutcome], None]) -> _Pending | None:
        """Decide whether `path` needs work; parse and chunk it if so."""
        key = str(path)
        try:
            stat = path.stat()
            known = self._store.file_record(key)
            if known and known.size == stat.st_size and known.mtime == stat.st_mtime:
                record(FileOutcome(key, "unchanged", known.chunks))
                return None
            data = read_checked(path, self._max_bytes)
            sha = hashlib.sha256(data).hexdigest()
            if known and known.sha256 == sha:
                self._store.touch_file(key, size=stat.st_size, mtime=stat.st_mtime)
                record(FileOutcome(key, "unchanged", known.chunks))
                return None
            fmt, documents = documents_from_bytes(data, path)
            chunks = self._chunk(documents)
        except (IngestError, OSError) as exc:
            record(FileOutcome(key, "failed", reason=_reason(exc)))
            return None
        except Exception as exc:  # a parser library bug must not end the batch
            log.debug("unexpected error on %s", key, exc_info=True)
            record(FileOutcome(key, "failed", reason=f"{type(exc).__name__}: {exc}"))
            return None
        return _Pending(key, sha, stat.st_size, stat.st_mtime, fmt, known is not None,
                        documents, chunks)

    def _chunk(self, documents: list[Document]) -> list[Chunk]:
        chunks: list[Chunk] = []
        for doc in documents:
            chunks.extend(
                chunk_document(
                    doc, self._embedder.count_tokens, self._chunk_tokens, self._overlap
                )
            )
        return chunks

    def _commit(self, pending: list[_Pending], record: Callable[[FileOutcome], None]) -> None:
        """Embed the pending files' chunks in one batch, then store each file atomically."""
        if not pending:
            return
        texts = [embedding_text(c) for item in pending for c in item.chunks]
        vectors = self._embedder.embed(texts)
        offset = 0
        for item in pending:
            n = len(item.chunks)
            self._store.replace_file(
                item.path, sha256=item.sha256, size=item.size, mtime=item.mtime, fmt=item.fmt,
                documents=item.documents, chunks=item.chunks, vectors=vectors[offset:offset + n],
            )
            offset += n
            record(FileOutcome(item.path, "updated" if item.replacing else "indexed", n))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file or directory"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    return str(exc) or type(exc).__name__
