"""Context selection: the sentences of the retrieved passages that bear on the question.

A grounded answer usually rests on one or two sentences of one passage, while the model reads
every token it is given at ~75 tokens a second on two cores: four whole passages cost seconds
before the first answer word. So the prompt gets the passages' sentence windows closest to the
question, scored with what the relevance gate has already computed (each window's embedding,
`generation.windows`) plus the question's rarer words (an IDF-weighted share, the way BM25
weighs a rare name), within a token budget. A window of three sentences keeps the neighbours a
fact's pronoun refers to; a chosen sentence that opens with one ("It", "This", "They") also
brings the sentence before it. Each passage keeps its heading in the prompt's label.

What is shown is a view: every span is in the passage's own offsets, the sources keep their
passages (the numbers a user clicks open the whole passage), and the fact-check reads the whole
cited passage, so selection changes what the model reads, never what an answer is checked
against. A passage none of whose sentences is chosen is left out of the prompt and the sources.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.sentences import sentence_spans
from generation.prompts import source_label
from generation.windows import SentenceWindows, stem
from retrieval.fusion import content_terms
from retrieval.types import Hit

CHARS_PER_TOKEN = 4.0  # English text in the default model's tokenizer: ~4.2 characters a token
SOURCE_OVERHEAD_TOKENS = 12  # a source's fence and number in the prompt, without its label
GAP = " … "  # between sentences of one passage that are not adjacent in it
# How much the question's (IDF-weighted) words found in a window add to its cosine similarity.
LEXICAL_WEIGHT = 0.3
_WORD = re.compile(r"[^\W\d_]{2,}")  # a word of two letters or more: more than a list marker
_REFERS_BACK = re.compile(
    r"^(?:it|its|this|these|that|those|they|their|them|he|his|him|she|her|such|there|then|"
    r"however|also|but|thus|therefore|the latter|the former)\b",
    re.IGNORECASE,
)


def estimate_tokens(text: str) -> int:
    """The tokens `text` costs in the prompt, estimated without a tokenizer (the selection runs
    before, and apart from, the model).

    >>> estimate_tokens(""), estimate_tokens("four"), estimate_tokens("x" * 41)
    (0, 1, 11)
    """
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@dataclass(frozen=True, slots=True)
class Excerpt:
    """The part of one retrieved passage the model is shown: sentence spans, in the passage's
    offsets and order."""

    hit: Hit
    spans: tuple[tuple[int, int], ...]

    @property
    def text(self) -> str:
        r"""The chosen sentences in passage order, "…" where sentences between them are left
        out (so the model does not read two distant sentences as one thought).

        >>> from index.types import Passage
        >>> p = Passage(text="One. Two. Three. Four.", source="a.md")
        >>> Excerpt(Hit(passage=p, score=1.0), ((0, 4), (5, 9), (17, 22))).text
        'One. Two. … Four.'
        >>> p = Passage(text="Tips\n- Warm up.\n- Use pre-norm.\n- Add dropout.", source="a.md")
        >>> Excerpt(Hit(passage=p, score=1.0), ((0, 4), (5, 15), (32, 46))).text
        'Tips\n- Warm up.\n…\n- Add dropout.'
        """
        full = self.hit.passage.text
        out: list[str] = []
        previous_end: int | None = None
        for start, end in self.spans:
            if previous_end is not None:
                between = full[previous_end:start]
                lines = "\n" in between  # list items and headings stay on lines of their own
                if not between.strip():
                    out.append("\n" if lines else " ")
                else:
                    out.append(f"\n{GAP.strip()}\n" if lines else GAP)
            out.append(full[start:end])
            previous_end = end
        return "".join(out)


def label_tokens(hit: Hit) -> int:
    """A source's cost in the prompt besides its text: fence, number and label."""
    return SOURCE_OVERHEAD_TOKENS + estimate_tokens(source_label(hit))


@dataclass(frozen=True, slots=True)
class Selection:
    """The excerpts to show the model, in retrieval order, and the best-scoring window: the
    sentences most likely to hold the answer, shown to the user before the model has read
    anything (`best` indexes `excerpts`; its span is in that passage's offsets)."""

    excerpts: tuple[Excerpt, ...]
    best: int
    best_span: tuple[int, int]

    @property
    def hits(self) -> list[Hit]:
        return [e.hit for e in self.excerpts]


class ContextSelector:
    """`select(question, vector, hits)`: the excerpts to show the model, within `budget`
    tokens of sources (excerpts, fences and labels together)."""

    def __init__(self, windows: SentenceWindows, budget: int) -> None:
        self._windows = windows
        self.budget = budget

    def select(
        self, question: str, hits: Sequence[Hit], vector: np.ndarray | None = None
    ) -> Selection | None:
        """Excerpts of `hits` in retrieval order; None when no passage has a sentence. The
        best-scoring window is always shown, even over the budget; the rest are added best
        first while they fit. `vector` is the question's embedding, where it is known."""
        if vector is None:
            vector = self._windows.embedder.embed([question])[0]
        texts = [h.passage.text for h in hits]
        sentences = [sentence_spans(t) for t in texts]
        pieces = [[t[a:b] for a, b in s] for t, s in zip(texts, sentences, strict=True)]
        weights = _idf(question, pieces)
        candidates: list[tuple[float, int, int, int]] = []  # score, passage, first, last sentence
        for i, text in enumerate(texts):
            spans, vectors = self._windows.embedded(text)
            if not spans:
                continue
            sims = vectors @ vector
            for (a, b), sim in zip(spans, sims, strict=True):
                first, last = _covered(sentences[i], a, b)
                lexical = _lexical(weights, text[a:b])
                candidates.append((float(sim) + LEXICAL_WEIGHT * lexical, i, first, last))
        if not candidates:
            return None
        # A heading at the top of a passage is in its label already (the prompt's from="…").
        headings = [_headings(h, t, s) for h, t, s in zip(hits, texts, sentences, strict=True)]
        candidates.sort(key=lambda c: -c[0])
        chosen: list[set[int]] = [set() for _ in hits]
        best: tuple[int, int, int] | None = None  # passage, span of the best window shown
        used = 0
        for _, i, first, last in candidates:
            wanted = set(range(first, last + 1))
            if _REFERS_BACK.match(texts[i][sentences[i][first][0] :]) and first > 0:
                wanted.add(first - 1)
            wanted = _with_markers(texts[i], sentences[i], wanted) - headings[i]
            new = wanted - chosen[i]
            if not new:
                continue
            cost = sum(estimate_tokens(texts[i][slice(*sentences[i][k])]) + 1 for k in new)
            if not chosen[i]:
                cost += label_tokens(hits[i])
            if used and used + cost > self.budget:
                continue
            chosen[i] |= new
            used += cost
            if best is None:  # the best window that has something to show
                best = (i, sentences[i][min(new)][0], sentences[i][max(new)][1])
            if used >= self.budget:
                break
        if best is None:  # nothing but headings and list markers
            return None
        kept = [i for i in range(len(hits)) if chosen[i]]
        top, start, end = best
        return Selection(
            tuple(_excerpt(hits[i], sentences[i], chosen[i]) for i in kept),
            kept.index(top),
            (start, end),
        )


def _with_markers(text: str, sentences: list[tuple[int, int]], wanted: set[int]) -> set[int]:
    """`wanted` without bare list markers ("1.", "-", "b)": the splitter ends a sentence after
    "1."), and with the marker of each chosen list item kept before it.

    >>> t = "Steps: 1. Open the lid. 2. Pour."
    >>> spans = [(0, 6), (7, 9), (10, 23), (24, 26), (27, 32)]
    >>> sorted(_with_markers(t, spans, {1, 2, 3}))
    [1, 2]
    """
    content = {k for k in wanted if _WORD.search(text[slice(*sentences[k])])}
    markers = {k - 1 for k in content if k > 0 and not _WORD.search(text[slice(*sentences[k - 1])])}
    return content | markers


def _headings(hit: Hit, text: str, sentences: list[tuple[int, int]]) -> set[int]:
    """The sentences of a passage that only repeat its title or a heading of its section."""
    p = hit.passage
    names = {n.strip().lower() for n in (p.title, *p.section.split(" > ")) if n.strip()}
    return {k for k, (a, b) in enumerate(sentences) if text[a:b].strip("#*: .").lower() in names}


def _covered(sentences: list[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """The first and last sentence of `sentences` a window [start, end) covers."""
    inside = [k for k, (a, b) in enumerate(sentences) if a >= start and b <= end]
    if not inside:  # cannot happen for windows cut from the same spans; be safe anyway
        nearest = min(range(len(sentences)), key=lambda k: abs(sentences[k][0] - start))
        return nearest, nearest
    return inside[0], inside[-1]


def _idf(question: str, sentences: list[list[str]]) -> dict[str, float]:
    """The question's stemmed content words, each weighted by its inverse frequency among the
    retrieved sentences: a word in every sentence says nothing about which one answers."""
    terms = {stem(t) for t in content_terms(question)}
    bags = [{stem(t) for t in content_terms(s)} for group in sentences for s in group]
    n = max(len(bags), 1)
    return {t: math.log(1 + n / (1 + sum(t in bag for bag in bags))) for t in terms}


def _lexical(weights: dict[str, float], text: str) -> float:
    """The IDF-weighted share of the question's words found in `text` (0 for a question
    without content words)."""
    total = sum(weights.values())
    if not total:
        return 0.0
    present = {stem(t) for t in content_terms(text)}
    return sum(w for t, w in weights.items() if t in present) / total


def _excerpt(hit: Hit, sentences: list[tuple[int, int]], chosen: set[int]) -> Excerpt:
    return Excerpt(hit, tuple(sentences[k] for k in sorted(chosen)))
