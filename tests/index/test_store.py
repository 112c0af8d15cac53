import os

import numpy as np
import pytest

from index.base import Store
from index.errors import IndexMismatchError, IndexNotFoundError
from index.manifest import Manifest
from index.sqlite import IndexStore
from index.types import Document, Passage

pytestmark = pytest.mark.unit

MANIFEST = Manifest("hash-4", 4, 224, 1)


def put(store: Store, path: str, texts: list[str], seed: int = 0) -> None:
    doc = Document(source=path, text=" ".join(texts), format="text", title=path)
    chunks = [
        Passage(text=t, source=path, title=path, end=len(t), ordinal=i) for i, t in enumerate(texts)
    ]
    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(len(texts), 4)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    store.replace_file(
        path,
        sha256=f"h{seed}",
        size=1,
        mtime=1.0,
        fmt="text",
        documents=[doc],
        chunks=chunks,
        vectors=vecs,
    )


def test_missing_index_is_a_clear_error(open_store):
    with pytest.raises(IndexNotFoundError, match="run `docqa ingest PATH` first"):
        open_store(MANIFEST, create=False)


def test_other_embedding_model_is_refused(open_store):
    open_store(MANIFEST, create=True).close()
    other = Manifest("other-model", 8, 224, 1)
    with pytest.raises(IndexMismatchError, match="built with embedding model hash-4 \\(4-d\\)"):
        open_store(other, create=False)


def test_chunking_mismatch_only_matters_to_writers(open_store):
    open_store(MANIFEST, create=True).close()
    rechunked = Manifest("hash-4", 4, 128, 0)
    open_store(rechunked, create=False).close()
    with pytest.raises(IndexMismatchError, match="chunk_tokens=224"):
        open_store(rechunked, create=True, check_chunking=True)


def test_replace_then_remove_keeps_vectors_and_rows_in_step(open_store):
    store = open_store(MANIFEST, create=True)
    put(store, "/a", ["alpha one", "alpha two"])
    put(store, "/b", ["beta"], seed=1)
    put(store, "/a", ["alpha three"], seed=2)  # replaced: old chunks gone
    assert store.count_chunks() == 2
    assert store.remove_file("/b") == 1
    assert store.remove_file("/b") == 0
    found = store.search_terms(["alpha"], 9)
    texts = {c.text for c in store.get_chunks(i for i, _ in found).values()}
    assert texts == {"alpha three"}
    store.close()
    store = open_store(MANIFEST, create=False)
    assert [(f.path, f.documents, f.chunks) for f in store.files()] == [("/a", 1, 1)]
    hits = store.search_vectors(np.ones(4, dtype=np.float32), 10)
    assert len(hits) == 1
    assert store.size == 1


def test_dense_scores_are_inner_products_best_first(open_store):
    store = open_store(MANIFEST, create=True)
    put(store, "/a", [f"text {i}" for i in range(30)], seed=3)
    query = np.asarray([0.5, 0.5, 0.5, 0.5], dtype=np.float32)
    hits = store.search_vectors(query, 5)
    exact = store.similarities(query, store.chunk_ids())
    best = sorted(exact.values(), reverse=True)[:5]
    assert [s for _, s in hits] == pytest.approx(best, abs=1e-5)
    assert all(exact[i] == pytest.approx(s, abs=1e-5) for i, s in hits)


def test_terms_are_never_parsed_as_query_syntax(open_store):
    store = open_store(MANIFEST, create=True)
    put(store, "/a", ["alpha beta", "gamma"])
    for hostile in ['"', "AND", "NOT alpha", "a*", "(", "':*", "\\", "alpha | !beta"]:
        store.search_terms([hostile], 5)  # no syntax error, whatever it matches
    assert len(store.search_terms(["alpha", "gamma"], 5)) == 2


def test_text_with_nul_characters_is_stored(open_store):
    store = open_store(MANIFEST, create=True)
    put(store, "/nul", ["before\x00after"])
    (chunk,) = store.get_chunks(store.chunk_ids()).values()
    assert chunk.text.startswith("before") and chunk.text.endswith("after")
    assert len(chunk.text) == len("before\x00after")


def test_vectors_are_rebuilt_from_sqlite_when_the_cache_is_missing(tmp_path):
    store = IndexStore.open(tmp_path, MANIFEST, create=True)
    put(store, "/a", ["alpha", "beta", "gamma"])
    store._conn.close()  # simulate a crash: committed rows, FAISS file never written
    assert not list(tmp_path.glob("vectors-*.faiss"))
    with IndexStore.open(tmp_path, MANIFEST, create=False) as reopened:
        assert len(reopened.search_vectors(np.ones(4, dtype=np.float32), 10)) == 3
    assert len(list(tmp_path.glob("vectors-*.faiss"))) == 1


def test_paths_under_matches_folders_not_string_prefixes(open_store):
    store = open_store(MANIFEST, create=True)
    for p in ("/docs/a.md", "/docs/sub/b.md", "/docs2/c.md"):
        put(store, p, ["x"])
    assert sorted(store.paths_under("/docs")) == ["/docs/a.md", "/docs/sub/b.md"]
    assert store.paths_under("/docs/a.md") == ["/docs/a.md"]


def test_reading_more_chunks_than_sqlite_binds_at_once(open_store):
    store = open_store(MANIFEST, create=True)
    put(store, "/big", [f"chunk {i}" for i in range(2000)])
    ids = store.chunk_ids()
    assert len(store.get_chunks(ids)) == 2000
    assert len(store.similarities(np.ones(4, dtype=np.float32), ids)) == 2000


def test_a_second_writer_is_refused_until_the_first_is_done(open_store):
    from index.errors import IndexBusyError

    first = open_store(MANIFEST, create=True)
    second = open_store(MANIFEST, create=False)
    busy = f"another docqa process \\(pid {os.getpid()}\\)"
    with first.writing(), pytest.raises(IndexBusyError, match=busy), second.writing():
        pass
    with second.writing():
        put(second, "/a", ["alpha"])


def test_a_snapshot_does_not_see_a_later_commit(open_store):
    reader = open_store(MANIFEST, create=True)
    writer = open_store(MANIFEST, create=False)
    put(writer, "/a", ["alpha"])
    with reader.snapshot():
        assert reader.count_chunks() == 1
        put(writer, "/b", ["beta"], seed=1)
        assert reader.count_chunks() == 1
        assert reader.file_record("/b") is None
    assert reader.count_chunks() == 2


def test_postgres_ranks_keywords_by_the_same_bm25_as_sqlite(tmp_path, pg_database):
    from index.postgres import PostgresStore

    texts = [
        "alpha beta",
        "alpha alpha gamma delta",
        "gamma",
        "beta beta beta alpha",
        "delta epsilon zeta eta theta alpha",
        "iota",
    ]
    sqlite = IndexStore.open(tmp_path, MANIFEST, create=True)
    postgres = PostgresStore.open(pg_database, "bm25_parity", MANIFEST, create=True)
    for store in (sqlite, postgres):
        for i, text in enumerate(texts):
            put(store, f"/d{i}", [text], seed=i)
    try:
        for query in (["alpha"], ["beta", "gamma"], ["alpha", "delta", "iota"]):
            expected = sqlite.search_terms(query, 10)
            found = postgres.search_terms(query, 10)
            assert [s for _, s in found] == pytest.approx([s for _, s in expected], rel=1e-6)
            texts_of = {i: c.text for i, c in postgres.get_chunks(i for i, _ in found).items()}
            expected_texts = {
                i: c.text for i, c in sqlite.get_chunks(i for i, _ in expected).items()
            }
            assert [texts_of[i] for i, _ in found] == [expected_texts[i] for i, _ in expected]
    finally:
        sqlite.close()
        postgres.close()
