"""Retrieval benchmark: query latency, recall and index size from ten thousand to a million chunks.

    .venv/bin/python bench/retrieval.py [--sizes 10000,100000,1000000] [--queries 200]
        [--postgres DSN]

Embedding a million real chunks takes a day on two cores, so the scale points are synthetic,
built to look like real ones to the index:
- vectors are mixtures of three real all-MiniLM-L6-v2 embeddings of sentences from the
  project's own documentation plus noise, so they keep the real model's anisotropy (a
  narrow cone, not uniform noise on the sphere, which would flatter or ruin IVF unfairly);
- chunk text is ~120 words drawn from a 50,000-word Zipfian vocabulary, so BM25 posting
  lists are as skewed as natural language; queries are five words taken from one chunk.

Each collection is written through `IndexStore` (SQLite + FTS5 + FAISS, the real store) and
queried through `HybridRetriever` with k=10. The question embedding is the same at every
size, so it is measured once, separately, with the real model, and the search figures exclude
it, and it reports recall@10 against exact search computed in memory.

Two configurations of the same data are measured at every size: `before`, what docqa did
before it chose layouts by size (exact search, BM25 over every query word), and `after`, the
default settings (the layout the policy picks, BM25 bounded by `lexical_max_rows`). Since a
query's words come from one chunk, "BM25 hit@10" (that chunk in BM25's top 10) shows what the
bound costs in lexical quality.

With `--postgres DSN`, the same chunks (same seed, same ids) are also written through
`PostgresStore` into a schema of their own, dropped afterwards, and measured with the same
queries and the default settings: the `postgres` rows (pgvector HNSW, BM25 over PostgreSQL
full-text search), against the folder store's `after` rows.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from core.embedding import SentenceTransformerEmbedder  # noqa: E402
from docqa.config import RetrievalSettings  # noqa: E402
from eval.metrics import percentile  # noqa: E402
from index.base import Store  # noqa: E402
from index.manifest import Manifest  # noqa: E402
from index.sqlite import IndexStore  # noqa: E402
from index.types import Document, Passage  # noqa: E402
from index.vectors import VectorIndexPolicy  # noqa: E402
from retrieval.hybrid import HybridRetriever  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DIM = 384
K = 10
FILE_CHUNKS = 100  # chunks per synthetic file: one store transaction each
VOCABULARY = 50_000
WORDS_PER_CHUNK = 120
UNBOUNDED = 10**12
CONFIGURATIONS = {
    "before": (VectorIndexPolicy(exact_max=UNBOUNDED), UNBOUNDED),
    "after": (VectorIndexPolicy(), RetrievalSettings().lexical_max_rows),
}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def atoms(embedder: SentenceTransformerEmbedder) -> np.ndarray:
    """Real embeddings of the project's own prose: the building blocks of synthetic vectors."""
    text = " ".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))
    text += " " + (ROOT / "README.md").read_text()
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) >= 5]
    return embedder.embed(sentences[:600])


class Synthetic:
    """A reproducible stream of (text, vector) chunks and matching queries."""

    def __init__(self, atoms: np.ndarray, seed: int = 0) -> None:
        self._atoms = atoms
        self._rng = np.random.default_rng(seed)
        ranks = np.arange(1, VOCABULARY + 1)
        self._p = (1.0 / ranks) / (1.0 / ranks).sum()
        self._words = np.array([_word(i) for i in range(VOCABULARY)])

    def vectors(self, n: int) -> np.ndarray:
        picks = self._rng.integers(0, len(self._atoms), size=(n, 3))
        weights = self._rng.dirichlet(np.ones(3), size=n).astype(np.float32)
        v = np.einsum("nk,nkd->nd", weights, self._atoms[picks])
        v += 0.04 * self._rng.standard_normal((n, DIM)).astype(np.float32)
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    def texts(self, n: int) -> list[str]:
        ids = self._rng.choice(VOCABULARY, size=(n, WORDS_PER_CHUNK), p=self._p)
        return [" ".join(row) for row in self._words[ids]]

    def query_text(self, text: str) -> str:
        words = text.split()
        return " ".join(self._rng.choice(words, size=5, replace=False))


def _word(i: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = ""
    i += 26 * 26  # at least three letters: FTS ignores nothing, fts_query drops 1-letter words
    while i:
        i, r = divmod(i, 26)
        out += letters[r]
    return out


MANIFEST = Manifest("synthetic-minilm-mixture", DIM, 224, 1)


def fill(directory: Path, n: int, synthetic: Synthetic) -> tuple[np.ndarray, list[str], float]:
    """Write n chunks through the folder store (exact layout); returns their vectors and a
    text sample for queries, and the seconds it took."""
    policy = CONFIGURATIONS["before"][0]
    with IndexStore.open(directory, MANIFEST, create=True, policy=policy) as store:
        return write(store, n, synthetic)


def write(store: Store, n: int, synthetic: Synthetic) -> tuple[np.ndarray, list[str], float]:
    """n synthetic chunks through `store`, a hundred per file transaction."""
    all_vectors, sample = [], []
    started = time.perf_counter()
    for f in range(0, n, FILE_CHUNKS):
        m = min(FILE_CHUNKS, n - f)
        texts, vectors = synthetic.texts(m), synthetic.vectors(m)
        path = f"/synthetic/{f // FILE_CHUNKS:06d}.txt"
        doc = Document(source=path, text="", format="text", title=path)
        chunks = [
            Passage(text=t, source=path, title=path, end=len(t), ordinal=i)
            for i, t in enumerate(texts)
        ]
        store.replace_file(
            path,
            sha256=path,
            size=m,
            mtime=0.0,
            fmt="text",
            documents=[doc],
            chunks=chunks,
            vectors=vectors,
        )
        all_vectors.append(vectors)
        sample.append(texts[0])
    return np.concatenate(all_vectors), sample, time.perf_counter() - started


class FixedQuery:
    """An embedder stand-in returning the query vector the benchmark prepared."""

    model_id = "synthetic-minilm-mixture"
    dimension = DIM
    max_tokens = 256

    def __init__(self) -> None:
        self.vector = np.zeros(DIM, dtype=np.float32)

    def embed(self, texts):
        return np.stack([self.vector] * len(texts))

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def timed(fn, items) -> tuple[list[float], list]:
    seconds, results = [], []
    for item in items:
        start = time.perf_counter()
        results.append(fn(item))
        seconds.append(time.perf_counter() - start)
    return seconds, results


def measure(
    directory: Path,
    configuration: str,
    truth: np.ndarray,
    queries: np.ndarray,
    texts: list[str],
    sources: list[int],
) -> dict:
    policy, lexical_max_rows = CONFIGURATIONS[configuration]
    before = rss_mb()
    started = time.perf_counter()
    store = IndexStore.open(directory, MANIFEST, create=False, policy=policy)
    store.flush()  # a layout change is built and written here, as at the end of an ingest
    open_s = time.perf_counter() - started
    faiss_file = next(directory.glob("vectors-*.faiss"))
    out = query(store, lexical_max_rows, truth, queries, texts, sources)
    out.update(open_s=open_s, faiss_mb=faiss_file.stat().st_size / 2**20, rss_mb=rss_mb() - before)
    store.close()
    return out


def query(
    store: Store,
    lexical_max_rows: int,
    truth: np.ndarray,
    queries: np.ndarray,
    texts: list[str],
    sources: list[int],
) -> dict:
    """Dense, BM25 and fused latency, dense recall@10 and BM25 hit@10 on an open store."""
    query_embedder = FixedQuery()
    retriever = HybridRetriever(  # type: ignore[arg-type]
        store, query_embedder, candidates=20, lexical_max_rows=lexical_max_rows
    )

    dense_s, dense = timed(lambda q: store.search_vectors(q, K), queries)
    recall = float(
        np.mean([len({i for i, _ in found} & set(truth[j])) / K for j, found in enumerate(dense)])
    )
    lexical_s, lexical = timed(lambda t: retriever.lexical(t, K), texts)
    lexical_hit = float(
        np.mean(
            [
                any(i == source for i, _ in found)
                for source, found in zip(sources, lexical, strict=True)
            ]
        )
    )

    def fused(j: int):
        query_embedder.vector = queries[j]
        return retriever.fused(texts[j], K)

    fused_s, _ = timed(fused, range(len(queries)))
    return {
        "layout": store.describe_vectors().rsplit(", ", 1)[0],  # without the count
        "recall": recall,
        "lexical_hit": lexical_hit,
        "dense": dense_s,
        "bm25": lexical_s,
        "fused": fused_s,
    }


def measure_postgres(
    dsn: str,
    n: int,
    seed_base: np.ndarray,
    truth: np.ndarray,
    queries: np.ndarray,
    texts: list[str],
    sources: list[int],
) -> dict:
    """The same chunks through PostgresStore, in a schema of their own, dropped after."""
    from index.postgres import PostgresStore

    schema = f"bench_{n}_{os.getpid()}"
    try:
        with PostgresStore.open(dsn, schema, MANIFEST, create=True) as store:
            fill_s = write(store, n, Synthetic(seed_base, seed=n))[2]
            out = query(store, RetrievalSettings().lexical_max_rows, truth, queries, texts, sources)
            size = store._conn.execute("SELECT pg_total_relation_size('chunks')").fetchone()[0]
        out.update(open_s=fill_s, faiss_mb=size / 2**20, rss_mb=float("nan"))
        return out
    finally:
        PostgresStore.drop(dsn, schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dir", type=Path, help="where to build (default: a temporary folder)")
    parser.add_argument(
        "--postgres", metavar="DSN", help="also measure the PostgreSQL store on the same chunks"
    )
    args = parser.parse_args()

    embedder = SentenceTransformerEmbedder()
    base = atoms(embedder)
    question = "How long does the sourdough rest before baking?"
    embedder.embed([question])
    embed_s, _ = timed(lambda q: embedder.embed([q]), [question] * 50)
    print(
        f"atoms: {len(base)} real sentence embeddings; question embedding (real model, "
        f"not in the figures below): p50 {percentile(embed_s, 50) * 1e3:.1f} ms"
    )
    print(f"peak RSS so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")

    header = (
        "| chunks | configuration | recall@10 | BM25 hit@10 | dense p50 / p95 ms | "
        "BM25 p50 / p95 ms | fused p50 / p95 ms | FAISS file MB | "
        "RSS after open+queries MB | build s |"
    )
    rows = [header, "|" + "---|" * 10]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            synthetic = Synthetic(base, seed=n)
            directory = Path(tmp) / f"n{n}"
            vectors, sample, fill_s = fill(directory, n, synthetic)
            queries = synthetic.vectors(args.queries)
            texts = [synthetic.query_text(sample[i % len(sample)]) for i in range(args.queries)]
            sources = [(i % len(sample)) * FILE_CHUNKS + 1 for i in range(args.queries)]
            truth = _exact_top(vectors, queries)
            del vectors
            print(f"{n} chunks written through the store in {fill_s:.0f} s", flush=True)
            for name in CONFIGURATIONS:
                r = measure(directory, name, truth, queries, texts, sources)
                rows.append(
                    f"| {n:,} | {name}: {r['layout']} | {r['recall']:.3f} | "
                    f"{r['lexical_hit']:.2f} | "
                    + " | ".join(
                        f"{percentile(r[m], 50) * 1e3:.1f} / {percentile(r[m], 95) * 1e3:.1f}"
                        for m in ("dense", "bm25", "fused")
                    )
                    + f" | {r['faiss_mb']:.0f} | {r['rss_mb']:.0f} | {r['open_s']:.1f} |"
                )
                print(rows[-1], flush=True)
            if args.postgres:
                r = measure_postgres(args.postgres, n, base, truth, queries, texts, sources)
                rows.append(
                    f"| {n:,} | postgres: {r['layout']} | {r['recall']:.3f} | "
                    f"{r['lexical_hit']:.2f} | "
                    + " | ".join(
                        f"{percentile(r[m], 50) * 1e3:.1f} / {percentile(r[m], 95) * 1e3:.1f}"
                        for m in ("dense", "bm25", "fused")
                    )
                    + f" | {r['faiss_mb']:.0f} (table + indexes) | — | {r['open_s']:.0f} "
                    "(write) |"
                )
                print(rows[-1], flush=True)
            db = directory / "index.sqlite3"
            print(f"SQLite file: {db.stat().st_size / 2**20:.0f} MB", flush=True)
    print("\n".join(rows))
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def _exact_top(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    import faiss

    index = faiss.IndexFlatIP(DIM)
    index.add(vectors)
    return index.search(queries, K)[1] + 1  # store ids count from 1 in insertion order


if __name__ == "__main__":
    main()
