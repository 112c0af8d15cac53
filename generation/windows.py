"""Sentence windows of passages, embedded once per passage and shared by every check.

A passage of 200 word pieces often covers several topics, so its one embedding says little
about whether it holds a particular fact: a short question about one name scores low against
the whole chunk that names it. Single sentences and runs of `window` sentences are the unit the
relevance gate compares the question with and the unit the fact-check compares an answer
sentence with; the passage embedded once serves both, and the best window is the evidence span
shown to the user.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from core.embedding import Embedder
from core.sentences import sentence_spans
from retrieval.fusion import content_terms

CACHE_PASSAGES = 256
WINDOW = 3  # sentences: a fact and the two around it that name its subject


@dataclass(frozen=True, slots=True)
class Match:
    """The best window for a vector: its cosine similarity, source number and span."""

    score: float
    source: int
    start: int
    end: int


class SentenceWindows:
    """`best(vector, passages)`: the window of the passages most similar to `vector`."""

    def __init__(self, embedder: Embedder, window: int = WINDOW) -> None:
        self.embedder = embedder
        self._window = window
        self._cache: dict[str, tuple[list[tuple[int, int]], np.ndarray]] = {}

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Single sentences and runs of `window` sentences: support may span a sentence break.

        >>> from core.fakes import HashEmbedder
        >>> t = "One. Two. Three."
        >>> [t[a:b] for a, b in SentenceWindows(HashEmbedder(8), window=2).spans(t)]
        ['One.', 'Two.', 'Three.', 'One. Two.', 'Two. Three.']
        """
        sents = sentence_spans(text)
        out = list(sents)
        for i in range(len(sents) - 1):
            out.append((sents[i][0], sents[min(i + self._window, len(sents)) - 1][1]))
        return out

    def embedded(self, text: str) -> tuple[list[tuple[int, int]], np.ndarray]:
        """The windows of `text` and their embeddings, computed once per distinct passage."""
        if text not in self._cache:
            if len(self._cache) >= CACHE_PASSAGES:
                self._cache.clear()
            windows = self.spans(text)
            vectors = (
                self.embedder.embed([text[a:b] for a, b in windows])
                if windows
                else np.zeros((0, self.embedder.dimension), dtype=np.float32)
            )
            self._cache[text] = (windows, vectors)
        return self._cache[text]

    def best(self, vector: np.ndarray, passages: Mapping[int, str]) -> Match | None:
        """The most similar window over all `passages` ({n: text}); None if they are empty."""
        spans: list[tuple[int, int, int]] = []
        blocks = []
        for n, text in passages.items():
            windows, embedded = self.embedded(text)
            spans += [(n, a, b) for a, b in windows]
            blocks.append(embedded)
        if not spans:
            return None
        sims = np.concatenate(blocks) @ vector
        i = int(np.argmax(sims))
        n, a, b = spans[i]
        return Match(float(sims[i]), n, a, b)


_SUFFIX = re.compile(r"(?:'s|ies|es|s|ing|ed|ly)$")


def stem(word: str) -> str:
    """A crude stem, enough to match a question's word with the passage's form of it: common
    endings dropped, then at most six letters kept.

    >>> [stem(w) for w in ("Normans", "controlled", "control", "cities", "gas")]
    ['norman', 'contro', 'contro', 'cit', 'gas']
    """
    word = word.lower()
    if len(word) <= 4:
        return word
    return (_SUFFIX.sub("", word) or word)[:6]


def term_coverage(question: str, text: str) -> float:
    """The share of the question's content words (crudely stemmed) that occur in `text`; 1.0
    for a question without content words, which cannot be told off-topic this way.

    >>> term_coverage("Who was Margaret Hale?", "... Margaret Hale, the rector's daughter ...")
    1.0
    >>> term_coverage("What is the capital of France?", "The capital city of the Normans.")
    0.5
    """
    terms = {stem(t) for t in content_terms(question)}
    if not terms:
        return 1.0
    present = {stem(t) for t in content_terms(text)}
    return len(terms & present) / len(terms)
