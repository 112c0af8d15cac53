"""The logistic fit and the cross-validation folds, on numbers checked by hand."""

import math

import pytest

from eval.fitting import fit_logistic, folds, out_of_fold

pytestmark = pytest.mark.unit


def test_without_a_penalty_the_fit_matches_the_empirical_log_odds():
    # x = 0: 1 of 4 positive; x = 1: 3 of 4. The saturated model reproduces both rates, so
    # bias = logit(1/4) = -ln 3 and weight (in x's units) = logit(3/4) - logit(1/4) = 2 ln 3.
    rows = [[0.0]] * 4 + [[1.0]] * 4
    labels = [True, False, False, False, True, True, True, False]
    m = fit_logistic(rows, labels, ["x"], l2=0.0)
    assert m.probability({"x": 0.0}) == pytest.approx(0.25, abs=1e-6)
    assert m.probability({"x": 1.0}) == pytest.approx(0.75, abs=1e-6)
    # Standardised: mean 0.5, scale 0.5, so the stored weight is ln 3 per standard unit.
    assert (m.means, m.scales) == ((0.5,), (0.5,))
    assert m.weights[0] == pytest.approx(math.log(3), abs=1e-6)
    assert m.bias == pytest.approx(0.0, abs=1e-6)


def test_the_penalty_shrinks_weights_toward_zero_but_not_the_bias():
    rows = [[0.0]] * 4 + [[1.0]] * 4
    labels = [True, False, False, False, True, True, True, True]
    free = fit_logistic(rows, labels, ["x"], l2=0.0)
    shrunk = fit_logistic(rows, labels, ["x"], l2=10.0)
    assert 0 < shrunk.weights[0] < free.weights[0]
    # With the weight shrunk, the bias still matches the overall rate of 5/8 closely.
    average = (shrunk.probability({"x": 0.0}) + shrunk.probability({"x": 1.0})) / 2
    assert average == pytest.approx(5 / 8, abs=0.02)


def test_a_constant_feature_and_a_single_class_are_handled():
    m = fit_logistic(
        [[1.0, 0.0], [1.0, 1.0], [1.0, 2.0], [1.0, 3.0]], [False, False, True, True], ["const", "x"]
    )
    assert m.weights[0] == 0.0 and m.scales[0] == 1.0
    with pytest.raises(ValueError, match="both classes"):
        fit_logistic([[0.0], [1.0]], [True, True], ["x"])


def test_folds_keep_groups_whole_and_balance_sizes():
    groups = ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 2 + ["e"]
    assigned = folds(groups, 2)
    by_group = {}
    for g, f in zip(groups, assigned, strict=True):
        by_group.setdefault(g, set()).add(f)
    assert all(len(fs) == 1 for fs in by_group.values())
    sizes = [assigned.count(0), assigned.count(1)]
    assert sorted(sizes) == [7, 8]
    assert folds(groups, 2) == assigned  # reproducible


def test_out_of_fold_never_uses_an_items_own_fold():
    items = [1.0, 2.0, 10.0, 20.0]
    seen = []

    def fit(train):
        seen.append(sorted(train))
        mean = sum(train) / len(train)
        return lambda item: mean

    assert out_of_fold(items, [0, 0, 1, 1], fit) == [15.0, 15.0, 1.5, 1.5]
    assert seen == [[10.0, 20.0], [1.0, 2.0]]
