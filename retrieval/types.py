"""`Hit`: the one object that leaves the retrieval stage: a stored passage and its scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from index.types import Passage


@dataclass(frozen=True, slots=True, kw_only=True)
class Hit:
    """A retrieved passage and every score that ranked it.

    The provenance (file, title, section, page, offsets) is the passage's own; a hit adds only
    what retrieval measured. `score` is the fused reciprocal-rank score that orders hits;
    `dense_score` is the cosine similarity to the query (None if the dense retriever did not
    return it) and is what relevance thresholds use, because unlike RRF it is comparable
    across queries; `lexical_score` is BM25 (higher is better), None when the lexical side
    missed it. `collection` names the collection the passage came from, where it is known.
    """

    passage: Passage
    score: float
    dense_score: float | None = None
    lexical_score: float | None = None
    collection: str | None = None


class Retriever(Protocol):
    """Anything that ranks passages for a query; `HybridRetriever` is the real one."""

    def search(self, query: str, k: int) -> list[Hit]:
        """The k best passages for `query`, best first."""
        ...
