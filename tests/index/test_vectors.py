"""The vector index follows the collection's size: exact, then IVF, then exact again."""

import numpy as np
import pytest

from index.manifest import Manifest
from index.sqlite import IndexStore
from index.types import Document, Passage
from index.vectors import VectorIndexPolicy

pytestmark = pytest.mark.unit

DIM = 16
MANIFEST = Manifest("random-16", DIM, 224, 1)
# Small thresholds so a few hundred vectors exercise every layout; nprobe ≥ cells makes the
# IVF search exhaustive, so its results must equal exact search after re-scoring.
EXHAUSTIVE = VectorIndexPolicy(exact_max=200, nprobe=4096)


def unit_vectors(n: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def put(store: IndexStore, path: str, vectors: np.ndarray) -> None:
    texts = [f"{path} chunk {i}" for i in range(len(vectors))]
    doc = Document(source=path, text=" ".join(texts), format="text", title=path)
    chunks = [
        Passage(text=t, source=path, title=path, end=len(t), ordinal=i) for i, t in enumerate(texts)
    ]
    store.replace_file(
        path,
        sha256=path,
        size=1,
        mtime=1.0,
        fmt="text",
        documents=[doc],
        chunks=chunks,
        vectors=vectors,
    )


def fill(store: IndexStore, files: int, per_file: int = 50) -> np.ndarray:
    for f in range(files):
        put(store, f"/d/{f}.txt", unit_vectors(per_file, seed=f))
    store.flush()
    return np.concatenate([unit_vectors(per_file, seed=f) for f in range(files)])


def brute_force(store: IndexStore, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    ids = store.chunk_ids()
    scores = store.similarities(query, ids)
    return sorted(scores.items(), key=lambda kv: kv[1], reverse=True)[:k]


def test_small_collections_are_searched_exactly(tmp_path):
    with IndexStore.open(tmp_path, MANIFEST, create=True, policy=EXHAUSTIVE) as store:
        fill(store, files=4)  # 200 vectors: at the threshold, still exact
        assert store.describe_vectors() == "exact, 200 vectors"
        query = unit_vectors(1, seed=99)[0]
        found, expected = store.search_vectors(query, 5), brute_force(store, query, 5)
        assert [i for i, _ in found] == [i for i, _ in expected]
        assert [s for _, s in found] == pytest.approx([s for _, s in expected])


def test_outgrowing_exact_search_switches_to_ivf_with_exact_scores(tmp_path):
    with IndexStore.open(tmp_path, MANIFEST, create=True, policy=EXHAUSTIVE) as store:
        fill(store, files=6)  # 300 vectors → 2·√300 ≈ 32 cells
        assert store.describe_vectors().startswith("IVF 32 cells")
        assert "8-bit codes" in store.describe_vectors()
        for seed in range(100, 110):
            query = unit_vectors(1, seed=seed)[0]
            found = store.search_vectors(query, 10)
            expected = brute_force(store, query, 10)
            assert [i for i, _ in found] == [i for i, _ in expected]
            assert [s for _, s in found] == pytest.approx([s for _, s in expected])


def test_ivf_layout_survives_reopening_and_accepts_changes(tmp_path):
    with IndexStore.open(tmp_path, MANIFEST, create=True, policy=EXHAUSTIVE) as store:
        fill(store, files=6)
    # Reopened indexes are memory-mapped; FAISS aborts on changing a mapped index, so the
    # first change must load a private copy first.
    with IndexStore.open(tmp_path, MANIFEST, create=False, policy=EXHAUSTIVE) as store:
        assert store.describe_vectors().startswith("IVF")
        fresh = unit_vectors(5, seed=500)
        put(store, "/d/new.txt", fresh)
        store.remove_file("/d/0.txt")
        assert store.count_chunks() == 255
        (best, score), *_ = store.search_vectors(fresh[2], 1)
        assert score == pytest.approx(1.0)
        assert store.get_chunks([best])[best].source == "/d/new.txt"
    with IndexStore.open(tmp_path, MANIFEST, create=False, policy=EXHAUSTIVE) as store:
        assert store.count_chunks() == 255
        assert store.search_vectors(fresh[2], 1)[0][1] == pytest.approx(1.0)


def test_shrinking_collection_returns_to_exact_search(tmp_path):
    with IndexStore.open(tmp_path, MANIFEST, create=True, policy=EXHAUSTIVE) as store:
        fill(store, files=6)
        for f in range(4):
            store.remove_file(f"/d/{f}.txt")
        store.flush()  # 100 vectors ≤ exact_max / 2
        assert store.describe_vectors() == "exact, 100 vectors"


def test_growing_fourfold_retrains_the_cells(tmp_path):
    policy = VectorIndexPolicy(exact_max=100, nprobe=4096)
    with IndexStore.open(tmp_path, MANIFEST, create=True, policy=policy) as store:
        fill(store, files=3)  # 150 vectors → 32 cells
        assert store.describe_vectors().startswith("IVF 32 cells")
        for f in range(3, 12):
            put(store, f"/d/{f}.txt", unit_vectors(50, seed=f))
        store.flush()  # 600 vectors → 64 cells
        assert store.describe_vectors().startswith("IVF 64 cells")


def test_changing_the_policy_relays_the_index_on_open(tmp_path):
    with IndexStore.open(tmp_path, MANIFEST, create=True) as store:
        fill(store, files=6)
        assert store.describe_vectors().startswith("exact")
    with IndexStore.open(tmp_path, MANIFEST, create=False, policy=EXHAUSTIVE) as store:
        assert store.describe_vectors().startswith("IVF")
