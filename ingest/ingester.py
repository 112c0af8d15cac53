"""Incremental ingest: files → documents → chunks → vectors → the index, one file at a time.

Bookkeeping is by file, keyed by its real path: an unchanged file (same size and mtime, or else
the same sha256) is skipped without parsing or embedding (unless `force`); a changed one is
replaced in one transaction; a file that disappeared from a folder being ingested is removed. A
bad file becomes a `FileOutcome` with a one-line reason and the batch goes on.

Nothing is deleted for not having been seen when it could not be looked at: files under a
folder that could not be listed, or under a link that was not followed, stay indexed, and a
file that cannot be read keeps its indexed version. A file that was read and no longer yields
text (emptied, corrupted, encrypted, scanned) is removed: its old text is no longer what the
file says, and an answer must not cite it.

Embedding dominates ingest time, and an encoder batch costs as much as its longest text times
its size. So chunks from many files are pooled (several encoder batches' worth) and embedded in
one call, which the embedder sorts by length: the batches it forms hold texts of similar length
and little padding. Reading, hashing, parsing and chunking the next files runs in one
background thread meanwhile; every index access stays on the calling thread, because the SQLite
connection must not be shared between threads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tqdm import tqdm

from core.embedding import Embedder
from index.base import FileRecord, Store
from index.types import Document, Passage
from ingest.chunking import chunk_document, embedding_text
from ingest.errors import IngestError, UnreadableError
from ingest.loaders import (
    Skipped,
    documents_from_bytes,
    find_files,
    is_within,
    read_checked,
    source_key,
)

log = logging.getLogger(__name__)

Status = Literal["indexed", "updated", "unchanged", "removed", "failed", "skipped"]

# How many encoder batches' worth of chunks are pooled before one embed call, by default. The
# pool sorts by length only within itself: 16 batches (1,024 chunks) brought ingest to 0.95 of
# the encoder's whole-corpus throughput on 1,935 chunks, against 0.89 for 8 (bench/ingest.py);
# a pool's texts and vectors stay a few megabytes. A killed ingest loses at most one pool's
# embedding work, never consistency: files are stored whole, after their vectors exist.
POOL_BATCHES = 16
# Bounds on the files read and parsed ahead of the one being stored: enough to keep the parser
# busy for a whole embed call, yet a bounded amount of memory (one file always goes ahead,
# whatever its size, or a file over the bound could never be read).
LOOKAHEAD_FILES = 256
LOOKAHEAD_BYTES = 16 * 1024 * 1024


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

    @property
    def skipped(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == "skipped"]

    def summary(self) -> str:
        files = sum(1 for o in self.outcomes if o.status not in ("removed", "skipped"))
        skipped = f", {self.count('skipped')} skipped" if self.count("skipped") else ""
        return (
            f"{files} files: {self.count('indexed')} indexed, {self.count('updated')} updated, "
            f"{self.count('unchanged')} unchanged (skipped), {self.count('failed')} failed, "
            f"{self.count('removed')} removed{skipped}; {self.chunks} chunks in "
            f"{self.elapsed_s:.1f} s"
        )


@dataclass(frozen=True, slots=True)
class _Job:
    """A file that the size+mtime check could not skip, as the main thread saw it."""

    key: str
    path: Path
    size: int
    mtime: float
    known: FileRecord | None


@dataclass(slots=True)
class _Pending:
    path: str
    sha256: str
    size: int
    mtime: float
    fmt: str
    replacing: bool
    documents: list[Document]
    chunks: list[Passage] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Stale:
    """An indexed file that was read and no longer yields text: its outcome, and the sign
    that its earlier version must leave the index (a file that could not be read at all
    comes back as a plain outcome, and keeps it)."""

    outcome: FileOutcome


class Ingester:
    """Ingests paths into an open `Store` with one embedder and one chunking setting.

    `pool_chunks` (default `POOL_BATCHES` × `batch_size`) is how many chunks gather before one
    embed call: a bound, give or take the chunks of the file that fills the pool, since a
    file's chunks are never split between calls (each file is stored whole, in one
    transaction, once all of its vectors exist).
    """

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        *,
        chunk_tokens: int,
        overlap_sentences: int,
        max_file_bytes: int,
        batch_size: int = 64,
        pool_chunks: int | None = None,
        within: Sequence[Path] | None = None,
        exclude: Sequence[Path] = (),
        force: bool = False,
    ) -> None:
        if chunk_tokens > embedder.max_tokens:
            raise ValueError(
                f"chunk_tokens={chunk_tokens} exceeds the embedder's input limit of "
                f"{embedder.max_tokens} tokens: chunk tails would be silently truncated"
            )
        pool = POOL_BATCHES * batch_size if pool_chunks is None else pool_chunks
        if pool < 1:
            raise ValueError(f"pool_chunks must be at least 1, not {pool}")
        self._store = store
        self._embedder = embedder
        self._chunk_tokens = chunk_tokens
        self._overlap = overlap_sentences
        self._max_bytes = max_file_bytes
        self._pool = pool
        # Folders a caller on someone else's behalf (the chat UI) may read: files whose real
        # path, symlinks resolved, lies outside them fail instead of being read.
        self._within = None if within is None else [Path(os.path.realpath(r)) for r in within]
        self._exclude = list(exclude)  # folders never walked into (the index's own)
        self._force = force  # re-read files whose size and mtime did not change

    def ingest(
        self,
        paths: Sequence[Path],
        *,
        progress: bool = False,
        on_outcome: Callable[[FileOutcome], None] | None = None,
    ) -> IngestReport:
        """Ingest files and folders, holding the index's writer lock throughout: a second
        ingest into the same index, from any process, is refused (`IndexBusyError`)."""
        with self._store.writing():
            return self._ingest(paths, progress, on_outcome)

    def _ingest(
        self,
        paths: Sequence[Path],
        progress: bool,
        on_outcome: Callable[[FileOutcome], None] | None,
    ) -> IngestReport:
        started = time.perf_counter()
        outcomes: list[FileOutcome] = []
        found = find_files([Path(p) for p in paths], exclude=self._exclude)
        with tqdm(total=len(found.files), unit="file", disable=not progress, desc="ingest") as bar:

            def record(outcome: FileOutcome) -> None:
                outcomes.append(outcome)
                # A file counts as done when its outcome is final (stored, skipped or failed),
                # not when it was parsed: pooled files still wait for their vectors.
                if outcome.status in ("indexed", "updated", "unchanged", "failed"):
                    bar.update(1)
                if on_outcome is not None:
                    on_outcome(outcome)

            for skipped in found.skipped:
                record(self._skipped(skipped))
            self._ingest_files(found.files, record)
        seen = {key for key, _ in found.files}
        unseen = [s.path for s in found.skipped if s.unseen]
        for root in dict.fromkeys(os.path.realpath(p) for p in paths if os.path.isdir(p)):
            for gone in self._store.paths_under(source_key(root)):
                if gone not in seen and not any(is_within(gone, u) for u in unseen):
                    record(FileOutcome(gone, "removed", self._store.remove_file(gone)))
        self._store.flush()
        return IngestReport(tuple(outcomes), time.perf_counter() - started)

    def _skipped(self, skipped: Skipped) -> FileOutcome:
        reason = skipped.reason
        if skipped.unseen and (kept := len(self._store.paths_under(skipped.path))):
            reason += f"; its {kept} indexed file{'s' if kept != 1 else ''} kept as they were"
        return FileOutcome(skipped.path, "skipped", reason=reason)

    def _ingest_files(
        self, files: list[tuple[str, Path]], record: Callable[[FileOutcome], None]
    ) -> None:
        """Screen files here, parse them on a worker thread, embed and store them here.

        Results are taken in file order and every outcome is recorded on this thread at a point
        that does not depend on the worker's timing, so the report's order is deterministic.
        """
        queue = iter(files)
        ahead: deque[tuple[_Job, Future[_Pending | FileOutcome]]] = deque()
        ahead_bytes = 0
        pending: list[_Pending] = []
        pooled = 0
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="docqa-ingest")
        try:
            while True:
                # Top up the look-ahead before the next (maybe long) embed call, so the worker
                # has files to parse while this thread waits for the encoder.
                while len(ahead) < LOOKAHEAD_FILES and (not ahead or ahead_bytes < LOOKAHEAD_BYTES):
                    item = next(queue, None)
                    if item is None:
                        break
                    job = self._screen(*item, record)
                    if job is not None:
                        ahead.append((job, worker.submit(self._parse, job)))
                        ahead_bytes += job.size
                if not ahead:
                    break
                job, future = ahead.popleft()
                ahead_bytes -= job.size
                result = future.result()
                if isinstance(result, _Stale):
                    chunks = self._store.remove_file(job.key)
                    removed = f"; its earlier version ({chunks} chunks) was removed from the index"
                    record(
                        dataclasses.replace(result.outcome, reason=result.outcome.reason + removed)
                    )
                    continue
                if isinstance(result, FileOutcome):
                    if result.status == "unchanged":  # same content, new mtime: remember it
                        self._store.touch_file(result.path, size=job.size, mtime=job.mtime)
                    record(result)
                    continue
                pending.append(result)
                pooled += len(result.chunks)
                if pooled >= self._pool:
                    self._commit(pending, record)
                    pending, pooled = [], 0
            self._commit(pending, record)
        finally:
            # On an error here, files not yet started are not parsed for nothing.
            worker.shutdown(wait=True, cancel_futures=True)

    def _screen(self, key: str, path: Path, record: Callable[[FileOutcome], None]) -> _Job | None:
        """Skip `path` by size and mtime if the index has it so; else say what the index knows.

        Runs on the calling thread: it reads the index.
        """
        if self._within is not None and not _inside(path, self._within):
            record(FileOutcome(key, "failed", reason="outside the folders allowed here"))
            return None
        known = self._store.file_record(key)
        try:
            stat = path.stat()
        except OSError as exc:
            record(FileOutcome(key, "failed", reason=_reason(exc) + (_KEPT if known else "")))
            return None
        if (
            known
            and not self._force
            and known.size == stat.st_size
            and known.mtime == stat.st_mtime
        ):
            record(FileOutcome(key, "unchanged", known.chunks))
            return None
        return _Job(key, path, stat.st_size, stat.st_mtime, known)

    def _parse(self, job: _Job) -> _Pending | FileOutcome | _Stale:
        """Read, hash, parse and chunk one file, or say why not; runs on the worker thread.

        It must not touch the index (the SQLite connection belongs to the calling thread): a
        file whose hash matches comes back as an "unchanged" outcome and the caller records
        its new mtime. Every error becomes a "failed" outcome, so one bad file (or a parser
        library bug) does not end the batch; an indexed file that was read and failed comes
        back `_Stale`, for the caller to remove its earlier version.
        """
        key = job.key
        try:
            data = read_checked(job.path, self._max_bytes)
            sha = hashlib.sha256(data).hexdigest()
            if job.known and job.known.sha256 == sha and not self._force:
                return FileOutcome(key, "unchanged", job.known.chunks)
            fmt, documents = documents_from_bytes(data, job.path, key)
            chunks = self._chunk(documents)
        except UnreadableError as exc:
            return FileOutcome(
                key, "failed", reason=_reason(exc) + (_KEPT if job.known is not None else "")
            )
        except (IngestError, OSError) as exc:
            failed = FileOutcome(key, "failed", reason=_reason(exc))
        except Exception as exc:
            log.debug("unexpected error on %s", key, exc_info=True)
            failed = FileOutcome(key, "failed", reason=f"{type(exc).__name__}: {exc}")
        else:
            return _Pending(
                key, sha, job.size, job.mtime, fmt, job.known is not None, documents, chunks
            )
        return _Stale(failed) if job.known is not None else failed

    def _chunk(self, documents: list[Document]) -> list[Passage]:
        chunks: list[Passage] = []
        for doc in documents:
            chunks.extend(
                chunk_document(doc, self._embedder.count_tokens, self._chunk_tokens, self._overlap)
            )
        return chunks

    def _commit(self, pending: list[_Pending], record: Callable[[FileOutcome], None]) -> None:
        """Embed the pooled files' chunks in one call, then store each file atomically.

        One call over the whole pool lets the embedder sort its texts by length, so each
        encoder batch pads little.
        """
        if not pending:
            return
        texts = [embedding_text(c) for item in pending for c in item.chunks]
        vectors = self._embedder.embed(texts)
        offset = 0
        for item in pending:
            n = len(item.chunks)
            self._store.replace_file(
                item.path,
                sha256=item.sha256,
                size=item.size,
                mtime=item.mtime,
                fmt=item.fmt,
                documents=item.documents,
                chunks=item.chunks,
                vectors=vectors[offset : offset + n],
            )
            offset += n
            record(FileOutcome(item.path, "updated" if item.replacing else "indexed", n))


_KEPT = "; the index keeps its earlier version"


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    real = os.path.realpath(path)
    return any(is_within(real, str(root)) for root in roots)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file or directory"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    return str(exc) or type(exc).__name__
