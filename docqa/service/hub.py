"""What every server front (REST, OpenAI-compatible, MCP) answers through: the collections,
one pipeline per collection (or set of collections) sharing the models, and one lock.

The lock discipline is the chat's: a llama.cpp context answers one prompt at a time and an
ingest must not interleave with a question's reads, so every verb that touches a model or an
index holds `Hub.lock`. Requests wait for it in turn; past `max_waiting` waiting requests a new
one is refused at once (`Busy`, HTTP 503) rather than queued for minutes, so a burst of
requests cannot pile up threads and memory until the server falls over.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from core.errors import DocqaError
from docqa.collections import CollectionError, CollectionInfo, Collections
from docqa.pipeline import Pipeline
from generation.types import Answer, AnswerEvent, final_answer
from index.base import FileRecord
from index.types import Passage
from ingest.ingester import IngestReport
from retrieval.types import Hit

log = logging.getLogger(__name__)

MAX_CONVERSATIONS = 256
MAX_PIPELINES = 16  # collections (and sets of them) kept open; each holds its indexes open


class Busy(DocqaError):
    """Too many requests are already waiting for the model and the index."""


class OutsideRootsError(DocqaError, PermissionError):
    """A path the server may not read: it lies outside every allowed root."""


class Hub:
    """The library verbs a server offers, over named collections, under one lock."""

    def __init__(
        self, base: Pipeline, *, max_waiting: int = 64, roots: Sequence[Path] = ()
    ) -> None:
        self.base = base  # the default collection; its models serve every collection
        self.collections = Collections(base.settings, base.manifest)
        self.lock = threading.Lock()
        self._max_waiting = max_waiting
        self._waiting = 0
        self._count = threading.Lock()
        self._pipelines: dict[str, Pipeline] = {}
        self._conversations: dict[str, tuple[str, list[Answer]]] = {}  # oldest first
        self.roots = tuple(Path(r).expanduser().resolve() for r in roots)

    # ---- the lock --------------------------------------------------------------------------
    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the model and index lock, waiting in turn, or raise `Busy` when too many
        requests already wait."""
        with self._count:
            if self._waiting >= self._max_waiting:
                raise Busy(
                    f"{self._waiting} requests are already waiting for the model; try again soon"
                )
            self._waiting += 1
        try:
            self.lock.acquire()
        finally:
            with self._count:
                self._waiting -= 1
        try:
            yield
        finally:
            self.lock.release()

    # ---- collections -----------------------------------------------------------------------
    def pipeline(self, collections: str | Sequence[str] = "default") -> Pipeline:
        """The pipeline over `collections` (a name, "a,b", or a list), built once."""
        named = collections if isinstance(collections, str) else ",".join(collections)
        key = ",".join(self.base.settings.for_collection(named).collections)
        if key in self._pipelines:
            self._pipelines[key] = self._pipelines.pop(key)  # the most recently used last
            return self._pipelines[key]
        for name in key.split(","):
            if not self.collections.exists(name) and name != "default":
                raise CollectionError(f"there is no collection {name!r}")
        while len(self._pipelines) >= MAX_PIPELINES:  # close the least recently used
            oldest = self._pipelines.pop(next(iter(self._pipelines)))
            if oldest is not self.base:
                oldest.close()
        self._pipelines[key] = (
            self.base if key == self.base.settings.collection else self.base.on(key)
        )
        return self._pipelines[key]

    def list_collections(self) -> list[CollectionInfo]:
        with self.hold():
            return self.collections.list()

    def create_collection(self, name: str) -> CollectionInfo:
        with self.hold():
            return self.collections.create(name)

    def rename_collection(self, name: str, to: str) -> CollectionInfo:
        with self.hold():
            self._forget(name)
            return self.collections.rename(name, to)

    def delete_collection(self, name: str) -> None:
        with self.hold():
            self._forget(name)
            self.collections.delete(name)

    def _forget(self, name: str) -> None:
        """Close the pipelines that read collection `name` before it moves or goes."""
        for key in [k for k in self._pipelines if name in k.split(",")]:
            pipeline = self._pipelines.pop(key)
            if pipeline is not self.base:
                pipeline.close()
            else:  # keep the models; only the store is reopened on next use
                self._pipelines[key] = pipeline
                pipeline.close_store()

    # ---- documents -------------------------------------------------------------------------
    def sources(self, collection: str) -> list[FileRecord]:
        """The indexed files; none for a default collection nothing was ingested into yet."""
        with self.hold():
            pipeline = self.pipeline(collection)  # an unknown collection is an error
            return pipeline.sources() if self.collections.exists(collection) else []

    def ingest(
        self,
        collection: str,
        paths: Sequence[Path],
        *,
        trusted: bool = False,
    ) -> IngestReport:
        """Ingest files into a collection. Paths a client names must lie inside the allowed
        roots (`trusted`: files the server itself saved, such as uploads)."""
        within = None if trusted else self._within(paths)
        with self.hold():
            return self.pipeline(collection).ingest(paths, within=within)

    def remove(self, collection: str, path: str) -> list[tuple[str, int]]:
        with self.hold():
            pipeline = self.pipeline(collection)
            if not pipeline.indexed_under(Path(path)):
                raise FileNotFoundError(f"{path} is not in collection {collection!r}")
            return pipeline.remove(path)

    def _within(self, paths: Sequence[Path]) -> list[Path]:
        if not self.roots:
            raise OutsideRootsError(
                "this server reads no paths (serve.ingest_roots is empty); upload the files"
            )
        for path in paths:
            real = Path(path).expanduser().resolve()
            if not any(real == r or real.is_relative_to(r) for r in self.roots):
                raise OutsideRootsError(f"{path}: outside the folders this server may read")
        return list(self.roots)

    # ---- questions -------------------------------------------------------------------------
    def search(self, collections: str | Sequence[str], query: str, k: int) -> list[Hit]:
        if not query.strip():
            raise ValueError("the query is empty")
        with self.hold():
            return self.pipeline(collections).retriever().search(query, k)

    def ask(
        self,
        collections: str | Sequence[str],
        question: str,
        history: Sequence[tuple[str, str]] = (),
    ) -> Answer:
        return final_answer(self.stream(collections, question, history))

    def stream(
        self,
        collections: str | Sequence[str],
        question: str,
        history: Sequence[tuple[str, str]] = (),
    ) -> Iterator[AnswerEvent]:
        """The answer's events, holding the lock until the last one, or until the consumer
        closes the generator (a client that went away): `close()` releases the lock."""
        with self.hold():
            yield from self.pipeline(collections).stream(question, history)

    # ---- documents as text, hashes, conversations ------------------------------------------
    def document(self, collection: str, sha256: str) -> tuple[str, str]:
        """(path, text as indexed) of the file in `collection` whose content hash is
        `sha256` (a name that cannot smuggle a path)."""
        with self.hold():
            store = self.pipeline(collection).store()
            record = next((f for f in store.files() if f.sha256 == sha256), None)
            if record is None:
                raise FileNotFoundError(f"no document {sha256} in collection {collection!r}")
            chunks = store.get_chunks(store.file_chunk_ids(record.path))
        return record.path, _join(list(chunks.values()))

    def export(self, conversation: str, fmt: str) -> str:
        """A conversation as Markdown or HTML (`Pipeline.export`)."""
        collections, answers = self.conversation(conversation)
        with self.hold():  # the export reads the indexes for the files' content hashes
            return self.pipeline(collections).export(answers, fmt)

    def record(self, conversation: str, collections: str, answer: Answer) -> None:
        """Keep an answer in a conversation, for follow-ups and export (the newest
        `MAX_CONVERSATIONS` conversations are kept, in memory)."""
        with self._count:
            turns = self._conversations.pop(conversation, (collections, []))
            turns[1].append(answer)
            self._conversations[conversation] = turns
            while len(self._conversations) > MAX_CONVERSATIONS:
                self._conversations.pop(next(iter(self._conversations)))

    def conversation(self, conversation: str) -> tuple[str, list[Answer]]:
        with self._count:
            if conversation not in self._conversations:
                raise FileNotFoundError(f"no conversation {conversation!r} on this server")
            collections, answers = self._conversations[conversation]
            return collections, list(answers)

    def close(self) -> None:
        for pipeline in self._pipelines.values():
            if pipeline is not self.base:
                pipeline.close()
        self._pipelines.clear()


def _join(passages: Sequence[Passage]) -> str:
    """Chunks (in reading order) back into the text they were cut from: neighbours overlap by
    a sentence or two, and the overlap is read once, by the chunks' character offsets. A chunk
    that starts before the last one did begins the next document of the file."""
    parts: list[str] = []
    end = last_start = -1
    for p in passages:
        if p.start < last_start or p.start >= end:  # the next document, or a gap
            parts.append(("\n\n" if parts else "") + p.text)
        elif p.end > end:
            parts.append(p.text[end - p.start :])
        last_start, end = p.start, max(end, p.end) if p.start >= last_start else p.end
    return "".join(parts)
