"""The ingester's pooled embedding and its parsing thread: same index, same outcomes, in order."""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import pytest

import ingest.ingester as ingester_module
from core.fakes import HashEmbedder
from index.manifest import Manifest
from index.sqlite import IndexStore
from ingest.chunking import embedding_text
from ingest.ingester import FileOutcome, Ingester

pytestmark = pytest.mark.unit

SENTENCES = (
    "The harbour crane lifts {n} containers a day.",
    "Ferries leave the north pier every {n} minutes in summer.",
    "The lighthouse lamp was replaced after {n} years of service.",
    "Fishermen report {n} kilos of cod from the outer banks.",
)


def write_corpus(root: Path, files: int, seed: int = 0) -> list[Path]:
    """Markdown files from one to many chunks each, so pools mix lengths and split files."""
    rng = random.Random(seed)
    root.mkdir(exist_ok=True)
    paths = []
    for i in range(files):
        parts = [f"# Note {i}\n"]
        for s in range(rng.randint(1, 4)):
            parts.append(f"\n## Part {s}\n\n")
            parts.extend(
                rng.choice(SENTENCES).format(n=rng.randint(1, 999)) + " "
                for _ in range(rng.randint(1, 14))
            )
        path = root / f"note{i:03d}.md"
        path.write_text("".join(parts))
        paths.append(path)
    return paths


def open_store(directory: Path, embedder: HashEmbedder) -> IndexStore:
    return IndexStore.open(
        directory, Manifest(embedder.model_id, 64, 48, 1), create=True, check_chunking=True
    )


def make_ingester(store: IndexStore, embedder: HashEmbedder, **kwargs) -> Ingester:
    return Ingester(
        store, embedder, chunk_tokens=48, overlap_sentences=1, max_file_bytes=1_000_000, **kwargs
    )


def stored_by_file(store: IndexStore) -> dict[str, list[str]]:
    """Each file's embedding texts, in chunk order."""
    out: dict[str, list[str]] = {}
    chunks = store.get_chunks(store.chunk_ids())
    for c in sorted(chunks.values(), key=lambda c: (c.source, c.id)):
        text = embedding_text(c)
        out.setdefault(c.source, []).append(text)
    return out


def test_pooled_embedding_stores_what_embedding_each_file_alone_stores(tmp_path, embedder):
    write_corpus(tmp_path / "corpus", 40)
    reports, texts = [], []
    for name, pool in (("alone", 1), ("pooled", 10_000)):
        store = open_store(tmp_path / name, embedder)
        embedder.calls.clear()
        reports.append(
            make_ingester(store, embedder, pool_chunks=pool).ingest([tmp_path / "corpus"])
        )
        texts.append(stored_by_file(store))
        if pool == 1:
            assert len(embedder.calls) == 40  # one call per file: nothing was pooled
        else:
            assert embedder.calls == [reports[-1].chunks]  # the whole corpus in one call
        # Every stored vector is the vector of its own text embedded on its own.
        for cid, chunk in store.get_chunks(store.chunk_ids()).items():
            text = embedding_text(chunk)
            vector = HashEmbedder(dimension=64).embed([text])[0]
            assert store.similarities(vector, [cid])[cid] == pytest.approx(1.0, abs=1e-5)
        store.close()
    assert texts[0] == texts[1]
    assert reports[0].chunks == reports[1].chunks > 40
    assert reports[0].outcomes == reports[1].outcomes


def test_the_pool_bounds_each_embed_call(tmp_path, embedder):
    write_corpus(tmp_path / "corpus", 60)
    store = open_store(tmp_path / "index", embedder)
    report = make_ingester(store, embedder, pool_chunks=16).ingest([tmp_path / "corpus"])
    largest_file = max(o.chunks for o in report.outcomes)
    assert len(embedder.calls) > 3
    # A call closes as soon as the pool is full, so it overshoots by less than one file.
    assert all(n < 16 + largest_file for n in embedder.calls)
    assert all(n >= 16 for n in embedder.calls[:-1])
    assert sum(embedder.calls) == report.chunks == store.count_chunks()
    store.close()


def test_default_pool_is_several_encoder_batches(tmp_path, embedder):
    write_corpus(tmp_path / "corpus", 60)
    store = open_store(tmp_path / "index", embedder)
    report = make_ingester(store, embedder, batch_size=8).ingest([tmp_path / "corpus"])
    pool = ingester_module.POOL_BATCHES * 8
    assert report.chunks > pool
    assert all(n >= pool for n in embedder.calls[:-1])
    store.close()


def test_a_file_failing_in_the_worker_is_one_outcome_and_the_rest_is_stored(
    tmp_path, embedder, monkeypatch
):
    paths = write_corpus(tmp_path / "corpus", 12)
    bad = paths[5]
    threads: set[str] = set()
    original = ingester_module.documents_from_bytes

    def flaky(data: bytes, path: Path, source=None):
        threads.add(threading.current_thread().name)
        if path == bad:
            raise KeyError("parser bug")
        return original(data, path, source)

    monkeypatch.setattr(ingester_module, "documents_from_bytes", flaky)
    store = open_store(tmp_path / "index", embedder)
    report = make_ingester(store, embedder, pool_chunks=10).ingest([tmp_path / "corpus"])
    assert threading.current_thread().name not in threads  # parsing ran off this thread
    assert report.failed == [FileOutcome(str(bad), "failed", reason="KeyError: 'parser bug'")]
    assert report.count("indexed") == 11
    assert {f.path for f in store.files()} == {str(p) for p in paths if p != bad}
    store.close()


def test_outcome_order_does_not_depend_on_the_workers_timing(tmp_path, embedder, monkeypatch):
    paths = write_corpus(tmp_path / "corpus", 30)
    (tmp_path / "corpus" / "empty.md").write_bytes(b"")
    (tmp_path / "corpus" / "blob.bin").write_bytes(bytes(range(256)) * 8)
    original = ingester_module.documents_from_bytes
    rng = random.Random(1)

    def slow_sometimes(data: bytes, path: Path, source=None):
        time.sleep(rng.choice((0, 0, 0.002, 0.01)))
        return original(data, path, source)

    monkeypatch.setattr(ingester_module, "documents_from_bytes", slow_sometimes)
    orders = []
    for run in range(3):
        # Each run sees the same index state: half indexed, one of those since touched.
        store = open_store(tmp_path / f"index{run}", embedder)
        make_ingester(store, embedder).ingest(paths[:15])
        os.utime(paths[3], (run + 1, run + 1))  # not the mtime stored: checked by hash
        paths[7].write_text(paths[7].read_text() + " An appended sentence.")
        report = make_ingester(store, embedder, pool_chunks=8).ingest([tmp_path / "corpus"])
        orders.append([(os.path.basename(o.path), o.status) for o in report.outcomes])
        paths[7].write_text(paths[7].read_text().removesuffix(" An appended sentence."))
        store.close()
    assert orders[0] == orders[1] == orders[2]
    statuses = dict(orders[0])
    assert statuses["note003.md"] == statuses["note010.md"] == "unchanged"
    assert statuses["note007.md"] == "updated" and statuses["note020.md"] == "indexed"
    assert statuses["empty.md"] == statuses["blob.bin"] == "failed"
    assert len(orders[0]) == 32


def test_touched_identical_file_gets_its_new_mtime_recorded(tmp_path, embedder):
    paths = write_corpus(tmp_path / "corpus", 3)
    store = open_store(tmp_path / "index", embedder)
    make_ingester(store, embedder).ingest([tmp_path / "corpus"])
    os.utime(paths[1], (5, 5))
    report = make_ingester(store, embedder).ingest([tmp_path / "corpus"])
    assert report.count("unchanged") == 3
    assert store.file_record(str(paths[1])).mtime == 5
    store.close()


class ThreadCheckingStore:
    """Forwards to an IndexStore and records any call made off the thread that created it."""

    def __init__(self, store: IndexStore) -> None:
        self._store = store
        self._owner = threading.get_ident()
        self.foreign_calls: list[str] = []

    def __getattr__(self, name: str):
        attribute = getattr(self._store, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            if threading.get_ident() != self._owner:
                self.foreign_calls.append(name)
            return attribute(*args, **kwargs)

        return call


def test_the_index_is_only_used_from_the_calling_thread(tmp_path, embedder):
    paths = write_corpus(tmp_path / "corpus", 20)
    store = open_store(tmp_path / "index", embedder)
    make_ingester(store, embedder).ingest(paths[:10])
    os.utime(paths[2], (1, 1))  # skipped by hash: touch_file
    (tmp_path / "corpus" / "empty.md").write_bytes(b"")
    paths[4].unlink()  # removed
    checking = ThreadCheckingStore(store)
    report = make_ingester(checking, embedder, pool_chunks=5).ingest([tmp_path / "corpus"])
    assert report.count("removed") == 1 and report.count("failed") == 1
    assert checking.foreign_calls == []
    store.close()


@pytest.mark.parametrize("limit", ["files", "bytes"])
def test_parsing_runs_a_bounded_way_ahead(tmp_path, embedder, monkeypatch, limit):
    write_corpus(tmp_path / "corpus", 30)
    if limit == "files":
        monkeypatch.setattr(ingester_module, "LOOKAHEAD_FILES", 3)
        ahead = 3
    else:
        monkeypatch.setattr(ingester_module, "LOOKAHEAD_BYTES", 1)  # one file at a time
        ahead = 1
    parsed: list[Path] = []
    original = ingester_module.documents_from_bytes

    def tracking(data: bytes, path: Path, source=None):
        parsed.append(path)
        return original(data, path, source)

    monkeypatch.setattr(ingester_module, "documents_from_bytes", tracking)
    done: list[str] = []
    store = open_store(tmp_path / "index", embedder)

    class Watching(HashEmbedder):
        def embed(self, texts):
            # pool_chunks=1 embeds each file as its parse result is taken: the file being
            # embedded is the len(done)-th, and at most `ahead` files after it were screened.
            current = len(done)
            assert len(parsed) <= current + ahead
            return super().embed(texts)

    ing = make_ingester(store, Watching(dimension=64), pool_chunks=1)
    report = ing.ingest([tmp_path / "corpus"], on_outcome=lambda o: done.append(o.path))
    assert report.count("indexed") == 30 and len(parsed) == 30
    store.close()


def test_progress_counts_a_file_when_its_outcome_is_final(tmp_path, embedder, monkeypatch):
    write_corpus(tmp_path / "corpus", 25)
    (tmp_path / "corpus" / "empty.md").write_bytes(b"")
    bars = []

    class FakeBar:
        def __init__(self, total: int, **_: object) -> None:
            self.total, self.n = total, 0
            bars.append(self)

        def __enter__(self) -> FakeBar:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def update(self, n: int) -> None:
            self.n += n

    monkeypatch.setattr(ingester_module, "tqdm", FakeBar)
    seen: list[tuple[int, int]] = []
    store = open_store(tmp_path / "index", embedder)
    report = make_ingester(store, embedder, pool_chunks=20).ingest(
        [tmp_path / "corpus"], on_outcome=lambda o: seen.append((bars[0].n, len(seen) + 1))
    )
    assert bars[0].total == bars[0].n == 26 == len(report.outcomes)
    assert all(n == count for n, count in seen)  # never ahead of (or behind) the outcomes
    store.close()


def test_an_error_while_embedding_stops_the_worker_and_propagates(tmp_path, monkeypatch):
    write_corpus(tmp_path / "corpus", 30)

    class Broken(HashEmbedder):
        def embed(self, texts):
            raise RuntimeError("encoder out of memory")

    store = open_store(tmp_path / "index", HashEmbedder(dimension=64))
    before = threading.active_count()
    with pytest.raises(RuntimeError, match="out of memory"):
        make_ingester(store, Broken(dimension=64), pool_chunks=4).ingest([tmp_path / "corpus"])
    assert threading.active_count() == before
    assert store.files() == []
    store.close()


def test_empty_pool_results_are_not_embedded(tmp_path, embedder):
    store = open_store(tmp_path / "index", embedder)
    (tmp_path / "only-empty.md").write_bytes(b"")
    report = make_ingester(store, embedder).ingest([tmp_path / "only-empty.md"])
    assert report.count("failed") == 1 and embedder.calls == []
    store.close()
