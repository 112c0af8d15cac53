"""The threshold replay, the precision/coverage curve and its intervals, checked by hand."""

import pytest

from eval.curve import Attempt, area, attempt, best, point, point_intervals, sweep, thresholds

pytestmark = pytest.mark.unit

# a1 answerable, answered right by its one sentence; a2 answerable, right only without its
# weak second sentence; a3 unanswerable with a mid answerability; a4 unanswerable, low.
A1 = Attempt("a1", True, 0.9, (0.8,), ((0.8, True, 1.0),))
A2 = Attempt("a2", True, 0.6, (0.7, 0.3), ((0.7, True, 0.8), (0.3, False, 0.4)))
A3 = Attempt("a3", False, 0.7, (0.5,), ((0.5, False, 0.0),))
A4 = Attempt("a4", False, 0.2, (0.9,), ((0.9, False, 0.0),))
ALL = [A1, A2, A3, A4]


def test_at_zero_everything_is_shown():
    p = point(ALL, 0.0)
    assert (p.answered, p.right) == (4, 1)
    assert (p.precision, p.coverage, p.answerable_accuracy, p.wrong_unanswerable) == (
        0.25,
        1.0,
        0.5,
        1.0,
    )
    assert p.squad_f1 == pytest.approx((1.0 + 0.4) / 4) and p.squad_right == 0.25


def test_a_threshold_drops_weak_sentences_and_unanswerable_questions():
    p = point(ALL, 0.5)  # a2 loses its weak sentence; a4 abstains; a3 still answers
    assert (p.answered, p.right, p.precision, p.wrong_unanswerable) == (3, 2, 2 / 3, 0.5)
    assert p.squad_f1 == pytest.approx((1.0 + 0.8 + 0.0 + 1.0) / 4)
    p = point(ALL, 0.6)  # a3's only sentence falls below: it abstains too
    assert (p.answered, p.right, p.precision, p.coverage, p.wrong_unanswerable) == (
        2,
        2,
        1.0,
        1.0,
        0.0,
    )
    assert p.squad_f1 == pytest.approx(0.95) and p.squad_right == 1.0
    p = point(ALL, 0.9)  # a1's sentence (0.8) is below: nothing is shown
    assert (p.answered, p.precision, p.coverage, p.squad_f1) == (0, None, 0.0, 0.5)


def test_the_sweep_visits_every_recorded_score_and_finds_squads_best_threshold():
    assert thresholds(ALL) == [0.0, 0.2, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9]
    points = sweep(ALL)
    assert best(points, "squad_f1").threshold == 0.6
    assert best(points, "squad_right").threshold == 0.6
    # best precision at coverage 0.5 is 1.0 (thresholds 0.7, 0.8) and at 1.0 is 1.0 (0.6)
    assert area(points) == pytest.approx(0.5 * 1.0 + 0.5 * 1.0)


def test_attempt_asks_the_judge_once_per_distinct_cut():
    asked = []

    def judge(kept):
        asked.append(list(kept))
        return len(kept) == 1, None

    a = attempt("q", True, 0.8, [0.4, 0.9, 0.4], judge)
    assert asked == [[1], [0, 1, 2]]
    assert a.at(0.5) == (True, True, None) and a.at(0.4) == (True, False, None)


def test_point_intervals_hold_the_value_and_are_reproducible():
    many = [A1, A2, A3, A4] * 10
    iv = point_intervals(many, 0.5)
    value, low, high = iv["precision"]
    assert value == pytest.approx(2 / 3) and low < value < high
    assert iv["coverage"] == (1.0, 1.0, 1.0)
    assert point_intervals(many, 0.5) == iv
    assert point_intervals([], 0.5)["precision"] is None
