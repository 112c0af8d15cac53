"""Searching several collections as one: each collection ranks its own passages, and the
rankings are merged on their fused scores.

Each collection's `HybridRetriever` scores a passage by reciprocal-rank fusion of its dense
and lexical ranks with the same constant, so a score means the same thing in every
collection (a passage first on both sides scores 2 / (k + 1) anywhere) and the union can be
ordered by it; ties go to the higher cosine similarity, which the shared embedder also makes
comparable. Every hit keeps the name of the collection it came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from retrieval.types import Hit, Retriever


class SeveralRetriever:
    """`search(query, k)` over several collections' retrievers, keyed by collection name."""

    def __init__(self, retrievers: Mapping[str, Retriever]) -> None:
        if not retrievers:
            raise ValueError("name at least one collection to search")
        self._retrievers = dict(retrievers)

    def search(self, query: str, k: int) -> list[Hit]:
        hits = [
            replace(hit, collection=hit.collection or name)
            for name, retriever in self._retrievers.items()
            for hit in retriever.search(query, k)
        ]
        hits.sort(key=lambda h: (h.score, h.dense_score or 0.0), reverse=True)
        return hits[:k]
