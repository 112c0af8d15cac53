"""Hybrid retrieval over a `StoreReader`: dense and BM25 candidates, fused by RRF.

Dense search finds paraphrases; BM25 finds rare exact terms (model names, numbers, acronyms)
that a 384-d sentence embedding blurs. Fusing ranks rather than scores avoids calibrating two
incomparable scales against each other.
"""

from __future__ import annotations

import logging

import numpy as np

from core.embedding import Embedder
from index.base import StoreReader
from retrieval.fusion import (
    affordable_terms,
    content_terms,
    reciprocal_rank_fusion,
)
from retrieval.types import Hit

log = logging.getLogger(__name__)

# Extra fused candidates read so that dropping repeated passages still leaves k.
DUPLICATE_SLACK = 4


class HybridRetriever:
    """`search(query, k)` → the k best passages, best first."""

    def __init__(
        self,
        store: StoreReader,
        embedder: Embedder,
        *,
        candidates: int = 20,
        rrf_k: int = 60,
        lexical_max_rows: int = 10_000,
        collection: str | None = None,
    ) -> None:
        self._store = store
        self._collection = collection
        self._embedder = embedder
        self._candidates = candidates
        self._rrf_k = rrf_k
        self._lexical_max_rows = lexical_max_rows

    def dense(self, query: str, k: int) -> list[tuple[int, float]]:
        """Top-k chunk ids by cosine similarity alone."""
        vector = self._embedder.embed([query])[0]
        with self._store.snapshot():
            return self._store.search_vectors(vector, k)

    def lexical(self, query: str, k: int) -> list[tuple[int, float]]:
        """Top-k chunk ids by BM25 alone.

        In a large collection the query's most common words are left out of the match when
        scoring every chunk that holds them would exceed `lexical_max_rows` (see
        `affordable_terms`); dense search covers what such words mean.
        """
        terms = content_terms(query)
        with self._store.snapshot():
            if self._store.size > self._lexical_max_rows:
                counts = self._store.document_counts(terms)
                terms = affordable_terms(counts, self._lexical_max_rows)
            return self._store.search_terms(terms, k)

    def fused(self, query: str, k: int) -> list[tuple[int, float]]:
        """Top-k chunk ids by reciprocal-rank fusion of the two, without loading the chunks."""
        return self._fuse(query, k)[0]

    def search(self, query: str, k: int) -> list[Hit]:
        """The k best passages, best first, each saying something the ones above it do not:
        a passage whose text another one above it holds (the same article in a feed and as a
        web page, a file indexed under two names) gives its place to the next one."""
        with self._store.snapshot():  # one committed state, while another process ingests
            fused, dense_scores, lexical_scores, vector = self._fuse(query, k + DUPLICATE_SLACK)
            missing = [i for i, _ in fused if i not in dense_scores]
            dense_scores.update(self._store.similarities(vector, missing))
            chunks = self._store.get_chunks(i for i, _ in fused)
        hits: list[Hit] = []
        seen: list[str] = []
        for i, score in fused:
            if i not in chunks or len(hits) == k:
                continue
            text = _comparable(chunks[i].text)
            if any(text in other for other in seen):
                continue
            seen.append(text)
            hits.append(
                Hit(
                    passage=chunks[i],
                    score=score,
                    dense_score=dense_scores.get(i),
                    lexical_score=lexical_scores.get(i),
                    collection=self._collection,
                )
            )
        return hits

    def _fuse(
        self, query: str, k: int
    ) -> tuple[list[tuple[int, float]], dict[int, float], dict[int, float], np.ndarray]:
        depth = max(k, self._candidates)
        vector = self._embedder.embed([query])[0]
        with self._store.snapshot():
            dense = self._store.search_vectors(vector, depth)
            lexical = self.lexical(query, depth)
        fused = reciprocal_rank_fusion(
            [[i for i, _ in dense], [i for i, _ in lexical]], k=self._rrf_k
        )[:k]
        return fused, dict(dense), dict(lexical), vector


def _comparable(text: str) -> str:
    """Text as compared for repeats: case and spacing do not make a passage new.

    >>> _comparable("  The Dough\\n rests  ") == _comparable("the dough rests")
    True
    """
    return " ".join(text.lower().split())
