"""Opening the index a configuration names: a folder (SQLite + FAISS) or a PostgreSQL schema.

`Location` says where an index is and how it is laid out, in plain values: the application's
settings are turned into one at the top (`docqa.pipeline`), so this package never reads them.
Each store module is imported only when its kind of index is opened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from index.base import Store
from index.manifest import Manifest


@dataclass(frozen=True, slots=True)
class Location:
    """Where an index is kept and how its vectors are laid out."""

    backend: Literal["faiss", "postgres"]
    directory: Path
    postgres_dsn: str | None = None
    postgres_schema: str = "docqa"
    hnsw_ef_search: int = 100
    exact_search_max: int = 50_000
    ivf_nprobe: int = 32
    quantize_vectors: bool = True


def open_store(
    location: Location,
    manifest: Callable[[], Manifest],
    *,
    create: bool,
    check_chunking: bool = False,
    read_only: bool = False,
) -> Store:
    """Open the index at `location`, checking it against `manifest()`.

    Without `create`, a missing index fails before `manifest` is called: working it out may
    load the embedding model, and a missing index should be a fast error. `read_only` opens a
    folder index for reading only (see `IndexStore.open`).
    """
    if location.backend == "postgres":
        from index.postgres import PostgresStore

        if location.postgres_dsn is None:
            raise ValueError("a PostgreSQL index needs a DSN")
        if not create:
            PostgresStore.require(location.postgres_dsn, location.postgres_schema)
        return PostgresStore.open(
            location.postgres_dsn,
            location.postgres_schema,
            manifest(),
            create=create,
            check_chunking=check_chunking,
            ef_search=location.hnsw_ef_search,
        )
    from index.sqlite import IndexStore
    from index.vectors import VectorIndexPolicy

    if not create:
        IndexStore.require(location.directory)
    policy = VectorIndexPolicy(
        exact_max=location.exact_search_max,
        nprobe=location.ivf_nprobe,
        quantize=location.quantize_vectors,
    )
    return IndexStore.open(
        location.directory,
        manifest(),
        create=create,
        check_chunking=check_chunking,
        policy=policy,
        read_only=read_only,
    )


def index_exists(location: Location) -> bool:
    """Whether `location` holds an index (cheap: nothing is opened for writing)."""
    if location.backend == "postgres":
        from index.postgres import PostgresStore

        assert location.postgres_dsn is not None
        return PostgresStore.exists(location.postgres_dsn, location.postgres_schema)
    from index.sqlite import IndexStore

    return IndexStore.exists(location.directory)


def index_size(location: Location) -> int:
    """Bytes the index takes: its folder's files, or its schema's tables and indexes."""
    if location.backend == "postgres":
        from index.postgres import PostgresStore

        assert location.postgres_dsn is not None
        return PostgresStore.size_of(location.postgres_dsn, location.postgres_schema)
    from index.sqlite import index_files

    return sum(f.stat().st_size for f in index_files(location.directory))


def drop_index(location: Location) -> None:
    """Delete the index at `location`, holding its writer lock so that no ingest is cut off
    half-way. In a folder only the index's own files go (the folder too, if nothing else is
    left in it): `--index` may have named a folder that holds other things."""
    if location.backend == "postgres":
        from index.postgres import PostgresStore

        assert location.postgres_dsn is not None
        PostgresStore.drop(location.postgres_dsn, location.postgres_schema)
        return
    from index.sqlite import LOCK_NAME, index_files, writer_lock

    folder = location.directory
    if not folder.exists():
        return
    with writer_lock(folder):
        for f in index_files(folder):
            if f.name != LOCK_NAME:
                f.unlink(missing_ok=True)
    (folder / LOCK_NAME).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty: what else is there stays
        folder.rmdir()


def move_index(location: Location, to: Location) -> None:
    """Give the index at `location` the place `to` (a rename); `to` must be free."""
    if index_exists(to):
        raise FileExistsError(f"{_where(to)} already holds an index")
    if location.backend == "postgres":
        from index.postgres import PostgresStore

        assert location.postgres_dsn is not None
        PostgresStore.rename(location.postgres_dsn, location.postgres_schema, to.postgres_schema)
        return
    from index.sqlite import writer_lock

    with writer_lock(location.directory):
        to.directory.parent.mkdir(parents=True, exist_ok=True)
        location.directory.rename(to.directory)


def _where(location: Location) -> str:
    if location.backend == "postgres":
        return f"PostgreSQL schema {location.postgres_schema!r}"
    return str(location.directory)
