"""The relevance gate: refuse, before the model runs, only questions the passages are not about.

The gate compares the question with every sentence window of the retrieved passages (not with
whole chunks: a short question about one name scores low against a chunk that covers five
topics) and counts the question's content words that a passage contains (a rare name BM25
ranked first is evidence no embedding blurs). A question passes when either is high enough.
Both thresholds are chosen on development data so that no answerable question there is refused;
questions on the documents' topic that they do not answer are the answerability check's to
catch, not the gate's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from generation.language import HINT, looks_english
from generation.windows import SentenceWindows, term_coverage
from retrieval.types import Hit


@dataclass(frozen=True, slots=True)
class GateResult:
    passed: bool
    similarity: float  # best question–window cosine similarity over the passages
    coverage: float  # best share of the question's content words found in one passage
    reason: str
    # The question's embedding, for the stages after the gate (context selection).
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)


def passes(similarity: float, coverage: float, min_similarity: float, min_coverage: float) -> bool:
    """The gate's rule, shared with evaluations that replay it.

    >>> passes(0.1, 1.0, 0.3, 0.5), passes(0.1, 0.2, 0.3, 0.5)
    (True, False)
    """
    return similarity >= min_similarity or coverage >= min_coverage


class RelevanceGate:
    """`check(question, hits)`: may these passages answer the question at all?"""

    def __init__(self, windows: SentenceWindows, min_similarity: float, min_coverage: float):
        self._windows = windows
        self.min_similarity = min_similarity
        self.min_coverage = min_coverage

    def check(self, question: str, hits: Sequence[Hit]) -> GateResult:
        if not hits:
            return GateResult(False, 0.0, 0.0, "the index is empty")
        coverage = max(term_coverage(question, h.passage.text) for h in hits)
        vector = self._windows.embedder.embed([question])[0]
        passages = {n: h.passage.text for n, h in enumerate(hits, start=1)}
        best = self._windows.best(vector, passages)
        similarity = max(0.0, best.score) if best else 0.0
        if passes(similarity, coverage, self.min_similarity, self.min_coverage):
            return GateResult(True, similarity, coverage, "", vector)
        reason = (
            "the indexed documents do not seem to be about this: no retrieved sentence is close "
            f"to the question (best similarity {similarity:.2f}, needed "
            f"{self.min_similarity:.2f}) and no passage holds most of its words "
            f"({coverage:.0%}, needed {self.min_coverage:.0%})"
        )
        if not looks_english(question):
            reason = f"{HINT}; {reason}"
        return GateResult(False, similarity, coverage, reason, vector)
