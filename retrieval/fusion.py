"""Reciprocal-rank fusion and the FTS5 query builder: pure functions, no index needed."""

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


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[K]], k: int = 60
) -> list[tuple[K, float]]:
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


def fts_query(text: str) -> str:
    """Turn free text into a safe FTS5 MATCH expression: quoted content words, OR-ed.

    Quoting every token means user punctuation can never be parsed as FTS5 syntax.

    >>> fts_query('What is "INT4" quantization, and how?')
    '"int4" OR "quantization"'
    """
    seen: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        if token not in STOPWORDS and len(token) > 1 and token not in seen:
            seen.append(token)
    return " OR ".join(f'"{t}"' for t in seen)
