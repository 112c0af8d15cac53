"""Reciprocal-rank fusion and the query's content terms: pure functions, no index needed."""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

_TOKEN = re.compile(r"\w+", re.UNICODE)

# Function words carry no evidence and make BM25 match every chunk; the list is short on
# purpose so content words in questions ("how many layers") survive.
STOPWORDS = frozenset(
    (
        "a an and are as at be but by can could did do does for from had has have how i "
        "in into is it its me my of on or our should so than that the their them then "
        "there these they this those to was we were what when where which who whom why "
        "will with would you your about"
    ).split()
)


def reciprocal_rank_fusion(rankings: Sequence[Sequence[K]], k: int = 60) -> list[tuple[K, float]]:
    """Fuse ranked lists: each item scores the sum of 1 / (k + rank) over the lists it is in.

    Ties keep the order in which items were first seen, so the result is deterministic.

    >>> reciprocal_rank_fusion([["a", "b"], ["b", "c"]], k=1)
    [('b', 0.8333333333333333), ('a', 0.5), ('c', 0.3333333333333333)]
    """
    scores: dict[K, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: kv[1], reverse=True)


def content_terms(text: str) -> list[str]:
    """The distinct content words of free text, lower-cased, in order of first appearance.

    >>> content_terms('What is "INT4" quantization, and how? INT4!')
    ['int4', 'quantization']
    """
    seen: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        if token not in STOPWORDS and len(token) > 1 and token not in seen:
            seen.append(token)
    return seen


def affordable_terms(document_counts: dict[str, int], max_rows: int) -> list[str]:
    """The rarest terms whose chunks together stay within `max_rows`, rarest first.

    BM25 scores every chunk that matches any query term, so its cost grows with the terms'
    document frequencies; a word found in a large share of the chunks costs the most and, by
    its low IDF, moves the ranking least. The rarest term is always kept, even over budget, so
    a query never becomes empty; terms found nowhere cost nothing and are dropped.

    >>> affordable_terms({"the": 900, "sourdough": 3, "rest": 120, "zzz": 0}, 200)
    ['sourdough', 'rest']
    >>> affordable_terms({"common": 900, "usual": 800}, 200)
    ['usual']
    """
    kept: list[str] = []
    rows = 0
    for term, count in sorted(document_counts.items(), key=lambda tc: tc[1]):
        if count == 0:
            continue
        if kept and rows + count > max_rows:
            break
        kept.append(term)
        rows += count
    return kept
