"""Named collections: separate piles of documents (a thesis, a client, the house papers), each
its own index with its own manifest.

A collection is nothing but a place for an index: the default one is `index_dir` (so an index
made before collections is the default collection, and `--index DIR` keeps working), the others
are folders named after them under `collections_dir` — or, on PostgreSQL, schemas named
`<store.postgres_schema>_<name>`. Every command works on the collection the settings name
(`Settings.collection`); this module lists, creates, renames and deletes them.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from core.errors import DocqaError
from docqa.config import DEFAULT_COLLECTION, Settings, collection_name_problem
from docqa.pipeline import index_location, open_store
from index.manifest import Manifest
from index.open import drop_index, index_exists, index_size, move_index

UPLOADS = "uploads"  # where the chat and the API keep uploaded copies, in the index's folder


class CollectionError(DocqaError, ValueError):
    """A collection that does not exist, already exists, or cannot have that name."""


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    """One collection as `docqa collections` lists it."""

    name: str
    location: str
    exists: bool
    files: int = 0
    chunks: int = 0
    size_bytes: int = 0
    last_ingest: str | None = None  # ISO 8601, UTC: the newest file's ingest

    def to_dict(self) -> dict:
        return asdict(self)


class Collections:
    """The collections of one configuration (one `index_dir`, `collections_dir` and store).

    `manifest` says what a new or opened index must hold (the pipeline's: the embedding
    model and chunking); it is called only when an index is created or opened."""

    def __init__(self, settings: Settings, manifest: Callable[[], Manifest] | None = None) -> None:
        self._settings = settings
        self._manifest = manifest or _no_manifest

    def settings(self, name: str) -> Settings:
        return self._settings.for_collection(_valid(name))

    def exists(self, name: str) -> bool:
        return index_exists(index_location(self.settings(name)))

    def names(self) -> list[str]:
        """The default collection first (even before anything is ingested into it: commands
        use it when none is named), then every other that holds an index, by name."""
        st = self._settings.store
        if st.backend == "postgres":
            from index.postgres import PostgresStore

            assert st.postgres_dsn is not None
            prefix = st.postgres_schema + "_"
            others = [
                s.removeprefix(prefix)
                for s in PostgresStore.schemas(st.postgres_dsn, st.postgres_schema)
                if s.startswith(prefix)
            ]
        else:
            folder = self._settings.collections_dir
            others = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        return [DEFAULT_COLLECTION] + sorted(
            n
            for n in others
            if n != DEFAULT_COLLECTION and not collection_name_problem(n) and self.exists(n)
        )

    def info(self, name: str) -> CollectionInfo:
        settings = self.settings(name)
        location = index_location(settings)
        if not index_exists(location):
            if name != DEFAULT_COLLECTION:
                raise CollectionError(f"there is no collection {name!r}")
            return CollectionInfo(name, settings.index_location, exists=False)
        store = open_store(settings, self._manifest, create=False, read_only=True)
        try:
            files = store.files()
            chunks = store.count_chunks()
        finally:
            store.close()
        newest = max((f.ingested_at for f in files), default=None)
        return CollectionInfo(
            name,
            settings.index_location,
            exists=True,
            files=len(files),
            chunks=chunks,
            size_bytes=index_size(location),
            last_ingest=(
                None
                if newest is None
                else datetime.fromtimestamp(newest, UTC).isoformat(timespec="seconds")
            ),
        )

    def list(self) -> list[CollectionInfo]:
        return [self.info(n) for n in self.names()]

    def create(self, name: str) -> CollectionInfo:
        """An empty collection, ready for `ingest --collection NAME`."""
        settings = self.settings(name)
        if index_exists(index_location(settings)):
            raise CollectionError(f"collection {name!r} already exists")
        open_store(settings, self._manifest, create=True, check_chunking=True).close()
        return self.info(name)

    def rename(self, name: str, to: str) -> CollectionInfo:
        """Give collection `name` the name `to`. The default collection keeps its place (an
        index made before collections lives there): copy it out by ingesting instead."""
        if DEFAULT_COLLECTION in (name, to):
            raise CollectionError("the default collection cannot be renamed, nor replaced")
        if not self.exists(name):
            raise CollectionError(f"there is no collection {name!r}")
        if self.exists(to):
            raise CollectionError(f"collection {to!r} already exists")
        move_index(index_location(self.settings(name)), index_location(self.settings(to)))
        return self.info(to)

    def delete(self, name: str) -> None:
        """Delete the collection's index and the copies of files uploaded into it; the
        documents it was made from are not touched, nor anything else in its folder."""
        if not self.exists(name):
            raise CollectionError(f"there is no collection {name!r}")
        settings = self.settings(name)
        uploads = settings.index_folder / UPLOADS
        if uploads.is_dir():
            shutil.rmtree(uploads)
        drop_index(index_location(settings))


def _no_manifest() -> Manifest:
    raise RuntimeError("opening a collection's index needs the pipeline's manifest")


def _valid(name: str) -> str:
    if problem := collection_name_problem(name):
        raise CollectionError(problem)
    return name
