"""The evaluation metrics, as pure functions over plain values.

Nothing here knows about models or indexes, so every figure in a report can be checked by
hand. Conventions follow the sources people compare against: SQuAD's answer normalisation and
token F1, the BEIR/TREC definitions of nDCG, recall and MRR, and the Mann–Whitney form of
ROC-AUC (ties count one half). An empty denominator gives `None`, not 0: "no unanswerable
questions" must not print as "never hallucinates".
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def rate(count: float, total: int) -> float | None:
    """`count / total`, or None when there is nothing to divide by.

    >>> rate(1, 4), rate(0, 0)
    (0.25, None)
    """
    return count / total if total else None


# ---- answers (SQuAD v1.1 evaluation script) ------------------------------------------------
def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation and the articles a/an/the, collapse whitespace.

    >>> normalize_answer("The  Eiffel Tower!")
    'eiffel tower'
    """
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCT))
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(gold)


def token_f1(prediction: str, gold: str) -> float:
    """Harmonic mean of token precision and recall after normalisation.

    >>> token_f1("six identical layers", "6 layers"), token_f1("six layers", "six layers")
    (0.4, 1.0)
    """
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def best_f1(prediction: str, golds: Sequence[str]) -> float:
    """The best F1 over the gold answers, as SQuAD scores a question with several."""
    return max((token_f1(prediction, g) for g in golds), default=0.0)


def best_exact(prediction: str, golds: Sequence[str]) -> bool:
    return any(exact_match(prediction, g) for g in golds)


# ---- latency ----------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile with linear interpolation between order statistics (numpy's default).

    >>> percentile([1, 2, 3, 4], 50), percentile([1, 2, 3, 4], 95), percentile([], 50)
    (2.5, 3.85, None)
    """
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


# ---- ranking (BEIR) ---------------------------------------------------------------------------
def ndcg_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k with linear gains, as trec_eval and BEIR compute it.

    >>> round(ndcg_at_k(["b", "a"], {"a": 1}, 10), 4)
    0.6309
    """
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    """Share of the relevant documents found in the top k.

    >>> recall_at_k(["a", "x", "b"], {"a": 1, "b": 2, "c": 1}, 2)
    0.3333333333333333
    """
    wanted = {doc for doc, g in relevant.items() if g > 0}
    return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0


def reciprocal_rank(ranked: Sequence[str], relevant: Mapping[str, int]) -> float:
    """1 / rank of the first relevant document, 0 when none is retrieved.

    >>> reciprocal_rank(["x", "y", "a"], {"a": 1})
    0.3333333333333333
    """
    return next((1 / (i + 1) for i, doc in enumerate(ranked) if relevant.get(doc, 0) > 0), 0.0)


def dedupe(ids: Iterable[str]) -> list[str]:
    """Keep the first occurrence of each id: a document ranks where its best chunk ranks.

    >>> dedupe(["a", "b", "a", "c", "b"])
    ['a', 'b', 'c']
    """
    return list(dict.fromkeys(ids))


# ---- binary detection -------------------------------------------------------------------------
def confusion(truth: Sequence[bool], predicted: Sequence[bool]) -> tuple[int, int, int, int]:
    """(true positives, false positives, true negatives, false negatives)."""
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} labels but {len(predicted)} predictions")
    pairs = list(zip(truth, predicted, strict=True))
    return (
        sum(t and p for t, p in pairs),
        sum(p and not t for t, p in pairs),
        sum(not t and not p for t, p in pairs),
        sum(t and not p for t, p in pairs),
    )


def balanced_accuracy(truth: Sequence[bool], predicted: Sequence[bool]) -> float | None:
    """Mean of the recall on each class; 0.5 is chance whatever the class balance.

    >>> balanced_accuracy([True, True, False, False], [True, False, False, False])
    0.75
    """
    tp, fp, tn, fn = confusion(truth, predicted)
    recalls = [r for r in (rate(tp, tp + fn), rate(tn, tn + fp)) if r is not None]
    return sum(recalls) / len(recalls) if recalls else None


def precision_recall(
    truth: Sequence[bool], predicted: Sequence[bool]
) -> tuple[float | None, float | None]:
    """Precision and recall on the positive class.

    >>> precision_recall([True, True, False], [True, False, True])
    (0.5, 0.5)
    """
    tp, fp, _, fn = confusion(truth, predicted)
    return rate(tp, tp + fp), rate(tp, tp + fn)


def roc_auc(truth: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Probability that a random positive scores above a random negative (ties count 1/2).

    >>> roc_auc([True, False, True, False], [0.9, 0.1, 0.4, 0.4])
    0.875
    """
    pairs = sorted(zip(scores, truth, strict=True), key=lambda st: st[0])
    n_pos = sum(1 for _, t in pairs if t)
    n_neg = len(pairs) - n_pos
    if not n_pos or not n_neg:
        return None
    # Mann–Whitney from ranks (ties share the mean rank): O(n log n), so bootstrapping it is
    # affordable.
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        mean_rank = (i + 1 + j) / 2
        rank_sum += mean_rank * sum(1 for _, t in pairs[i:j] if t)
        i = j
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def bootstrap_rate(
    flags: Sequence[bool], *, resamples: int = 2000, seed: int = 0
) -> tuple[float, float] | None:
    """The 95 % percentile bootstrap interval of the share of true `flags` (items resampled
    with replacement); None for no items.

    >>> bootstrap_rate([True] * 10), bootstrap_rate([])
    ((1.0, 1.0), None)
    >>> low, high = bootstrap_rate([True, False] * 50)
    >>> 0.39 < low < 0.5 < high < 0.61
    True
    """
    return bootstrap_ratio([(float(f), 1.0) for f in flags], resamples=resamples, seed=seed)


def bootstrap_ratio(
    pairs: Sequence[tuple[float, float]], *, resamples: int = 2000, seed: int = 0
) -> tuple[float, float] | None:
    """The 95 % bootstrap interval of Σ numerator ÷ Σ denominator, resampling the pairs: a
    rate over sentences, say, whose questions are the unit of sampling. None when the
    denominators sum to 0.

    >>> bootstrap_ratio([(1, 2)] * 20)
    (0.5, 0.5)
    >>> bootstrap_ratio([(0, 0)]) is None
    True
    """
    if not pairs or sum(d for _, d in pairs) == 0:
        return None
    import numpy as np

    values = np.asarray(pairs, dtype=float)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(values), size=(resamples, len(values)))
    num, den = values[picks, 0].sum(axis=1), values[picks, 1].sum(axis=1)
    ratios = num[den > 0] / den[den > 0]
    low, high = np.percentile(ratios, [2.5, 97.5])
    return float(low), float(high)


def bootstrap_statistic(
    items: Sequence, statistic, *, resamples: int = 2000, seed: int = 0
) -> tuple[float, float] | None:
    """The 95 % percentile bootstrap interval of any `statistic(sample)` (None where it is
    undefined, such samples left out). For statistics that are not a mean, e.g. ROC-AUC.

    >>> bootstrap_statistic([1.0, 1.0, 1.0], lambda xs: sum(xs) / len(xs))
    (1.0, 1.0)
    """
    import numpy as np

    if not items or statistic(items) is None:
        return None
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        v = statistic([items[i] for i in rng.integers(0, len(items), len(items))])
        if v is not None:
            values.append(v)
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], *, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float, float] | None:
    """Mean of b − a over paired items and its 95 % bootstrap interval (percentile method).

    Resampling the items (queries), not the scores, keeps each pair together: two systems
    scored on the same queries differ by less than their separate spreads suggest. An interval
    that holds 0 means the sample cannot tell the two apart. None for no pairs.

    >>> paired_bootstrap([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])
    (0.0, 0.0, 0.0)
    >>> diff, low, high = paired_bootstrap([0.0] * 10, [1.0] * 10)
    >>> (diff, low, high)
    (1.0, 1.0, 1.0)
    """
    if len(a) != len(b):
        raise ValueError(f"{len(a)} and {len(b)} items: a paired comparison needs equal counts")
    if not a:
        return None
    import numpy as np

    diffs = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(diffs), size=(resamples, len(diffs)))
    means = diffs[picks].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(diffs.mean()), float(low), float(high)
