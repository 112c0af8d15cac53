import numpy as np
import pytest

from ingest.errors import IndexMismatchError
from ingest.manifest import Manifest
from ingest.store import IndexNotFoundError, IndexStore
from ingest.types import Chunk, Document

pytestmark = pytest.mark.unit

MANIFEST = Manifest("hash-4", 4, 224, 1)


def put(store: IndexStore, path: str, texts: list[str], seed: int = 0) -> None:
    doc = Document(source=path, text=" ".join(texts), format="text", title=path)
    chunks = [Chunk(t, path, path, "", None, 0, len(t), i) for i, t in enumerate(texts)]
    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(len(texts), 4)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    store.replace_file(path, sha256=f"h{seed}", size=1, mtime=1.0, fmt="text",
                       documents=[doc], chunks=chunks, vectors=vecs)


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(IndexNotFoundError, match="run `docqa ingest PATH` first"):
        IndexStore.open(tmp_path / "none", MANIFEST, create=False)


def test_other_embedding_model_is_refused(tmp_path):
    IndexStore.open(tmp_path, MANIFEST, create=True).close()
    other = Manifest("other-model", 8, 224, 1)
    with pytest.raises(IndexMismatchError, match="built with embedding model hash-4 \\(4-d\\)"):
        IndexStore.open(tmp_path, other, create=False)


def test_chunking_mismatch_only_matters_to_writers(tmp_path):
    IndexStore.open(tmp_path, MANIFEST, create=True).close()
    rechunked = Manifest("hash-4", 4, 128, 0)
    IndexStore.open(tmp_path, rechunked, create=False).close()
    with pytest.raises(IndexMismatchError, match="chunk_tokens=224"):
        IndexStore.open(tmp_path, rechunked, create=True, check_chunking=True)


def test_replace_then_remove_keeps_faiss_and_sqlite_in_step(tmp_path):
    with IndexStore.open(tmp_path, MANIFEST, create=True) as store:
        put(store, "/a", ["alpha one", "alpha two"])
        put(store, "/b", ["beta"], seed=1)
        put(store, "/a", ["alpha three"], seed=2)  # replaced: old chunks gone
        assert store.count_chunks() == 2
        assert store.remove_file("/b") == 1
        assert store.remove_file("/b") == 0
        found = store.search_text('"alpha"', 9)
        texts = {c.text for c in store.get_chunks(i for i, _ in found).values()}
        assert texts == {"alpha three"}
    with IndexStore.open(tmp_path, MANIFEST, create=False) as store:
        assert [f.path for f in store.files()] == ["/a"]
        hits = store.search_vectors(np.ones(4, dtype=np.float32), 10)
        assert len(hits) == 1


def test_vectors_are_rebuilt_from_sqlite_when_the_cache_is_missing(tmp_path):
    store = IndexStore.open(tmp_path, MANIFEST, create=True)
    put(store, "/a", ["alpha", "beta", "gamma"])
    store._conn.close()  # simulate a crash: committed rows, FAISS file never written
    assert not list(tmp_path.glob("vectors-*.faiss"))
    with IndexStore.open(tmp_path, MANIFEST, create=False) as reopened:
        assert len(reopened.search_vectors(np.ones(4, dtype=np.float32), 10)) == 3
    assert len(list(tmp_path.glob("vectors-*.faiss"))) == 1


def test_paths_under_matches_folders_not_string_prefixes(tmp_path):
    with IndexStore.open(tmp_path, MANIFEST, create=True) as store:
        for p in ("/docs/a.md", "/docs/sub/b.md", "/docs2/c.md"):
            put(store, p, ["x"])
        assert sorted(store.paths_under("/docs")) == ["/docs/a.md", "/docs/sub/b.md"]
        assert store.paths_under("/docs/a.md") == ["/docs/a.md"]


def test_reading_more_chunks_than_sqlite_binds_at_once(tmp_path):
    with IndexStore.open(tmp_path, MANIFEST, create=True) as store:
        put(store, "/big", [f"chunk {i}" for i in range(2000)])
        ids = store.chunk_ids()
        assert len(store.get_chunks(ids)) == 2000
        assert len(store.similarities(np.ones(4, dtype=np.float32), ids)) == 2000
