"""Golden cases for the metrics, each worked out by hand in its comment."""

import math

import pytest

from eval import metrics as m

pytestmark = pytest.mark.unit


def test_squad_normalisation_and_f1():
    assert m.normalize_answer("An  apple, the PEAR!") == "apple pear"
    # "the 40 berths" → [40, berths]; gold "40" → [40]: p 1/2, r 1 → F1 2/3.
    assert m.token_f1("the 40 berths", "40") == pytest.approx(2 / 3)
    assert m.token_f1("nothing shared", "40") == 0.0
    assert m.best_f1("40 berths", ["forty", "40 berths"]) == 1.0
    assert m.best_exact("The 40 berths.", ["40 berths"]) and not m.exact_match("40", "41")
    assert m.token_f1("", "") == 1.0 and m.token_f1("a", "x") == 0.0  # "a" is an article


def test_percentiles_interpolate_like_numpy():
    values = [5.0, 1.0, 3.0]  # sorted 1 3 5: p50 = 3; p95 at position 1.9 → 3 + 0.9 × 2
    assert m.percentile(values, 50) == 3.0
    assert m.percentile(values, 95) == pytest.approx(4.8)
    assert m.percentile([7.0], 95) == 7.0 and m.percentile([], 50) is None


def test_ndcg_recall_and_mrr():
    relevant = {"a": 2, "b": 1, "z": 0}
    ranked = ["x", "a", "b"]
    # DCG = 2/log2(3) + 1/log2(4) = 1.26186 + 0.5; IDCG = 2/log2(2) + 1/log2(3) = 2.63093
    assert m.ndcg_at_k(ranked, relevant, 10) == pytest.approx(
        (2 / math.log2(3) + 0.5) / (2 + 1 / math.log2(3))
    )
    assert m.ndcg_at_k(ranked, relevant, 1) == 0.0
    assert m.ndcg_at_k(["a", "b"], relevant, 10) == pytest.approx(1.0)
    assert m.recall_at_k(ranked, relevant, 2) == 0.5  # "z" has grade 0: not relevant
    assert m.recall_at_k(ranked, relevant, 3) == 1.0
    assert m.reciprocal_rank(ranked, relevant) == 0.5
    assert m.reciprocal_rank(["x"], relevant) == 0.0
    assert m.dedupe(["a", "a", "b"]) == ["a", "b"]


def test_binary_detection_metrics():
    truth = [True, True, True, False, False]
    predicted = [True, True, False, True, False]
    assert m.confusion(truth, predicted) == (2, 1, 1, 1)
    # recall on positives 2/3, on negatives 1/2 → balanced (2/3 + 1/2) / 2
    assert m.balanced_accuracy(truth, predicted) == pytest.approx(7 / 12)
    assert m.precision_recall(truth, predicted) == pytest.approx((2 / 3, 2 / 3))
    # positives 0.9 0.8 0.3 vs negatives 0.8 0.1: wins 1+1, 0.5+1, 0+1 = 4.5 of 6
    assert m.roc_auc(truth, [0.9, 0.8, 0.3, 0.8, 0.1]) == 0.75
    assert m.roc_auc([True, True], [0.1, 0.2]) is None
    assert m.precision_recall([False], [False]) == (None, None)
    with pytest.raises(ValueError, match="2 labels but 1 predictions"):
        m.confusion([True, False], [True])
