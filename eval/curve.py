"""The precision/coverage trade-off: what the guarded system shows at every threshold.

docqa shows an answer when the question's answerability is at least the threshold, and of that
answer the sentences whose probability of being a right answer (answerability × support) is at
least the threshold (abstaining when none is left). An evaluation run records both scores and
every sentence the model wrote, so the system's behaviour at *any* threshold can be replayed
without asking the model again — the way SQuAD 2.0's official evaluation replays a no-answer
probability.

An `Attempt` holds one question's replay: for each distinct cut of its sentences, whether the
answer made of the sentences above the cut is right. `sweep` walks the thresholds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from generation.support import shown_sentences


@dataclass(frozen=True, slots=True)
class Attempt:
    """One question as the guarded system saw it.

    `cuts` lists, for each distinct sentence probability p (highest first), whether the answer
    made of the sentences with probability ≥ p is right and its token F1 (None where the
    question set has no gold strings).
    """

    id: str
    answerable: bool
    answerability: float
    probabilities: tuple[float, ...]
    cuts: tuple[tuple[float, bool, float | None], ...]

    def at(self, threshold: float) -> tuple[bool, bool, float | None]:
        """(answered, right, f1) at `threshold`.

        >>> a = Attempt("q", True, 0.8, (0.9, 0.3), ((0.9, True, 1.0), (0.3, False, 0.5)))
        >>> a.at(0.5), a.at(0.2), a.at(0.85)
        ((True, True, 1.0), (True, False, 0.5), (False, False, None))
        """
        kept = shown_sentences(self.answerability, self.probabilities, threshold)
        if kept is None:
            return False, False, None
        cut = min(self.probabilities[i] for i in kept)
        for p, right, f1 in self.cuts:
            if p == cut:
                return True, right, f1
        raise ValueError(f"{self.id}: no recorded answer for the cut at {cut}")


def attempt(
    id: str,
    answerable: bool,
    answerability: float,
    probabilities: Sequence[float],
    judge: Callable[[Sequence[int]], tuple[bool, float | None]],
) -> Attempt:
    """Build an `Attempt`, asking `judge(indexes)` whether the answer made of those sentences
    is right (and its F1) once per distinct cut."""
    cuts = []
    for p in sorted(set(probabilities), reverse=True):
        right, f1 = judge([i for i, q in enumerate(probabilities) if q >= p])
        cuts.append((p, right, f1))
    return Attempt(id, answerable, answerability, tuple(probabilities), tuple(cuts))


@dataclass(frozen=True, slots=True)
class Point:
    """The system's figures at one threshold."""

    threshold: float
    answered: int
    right: int
    precision: float | None  # right ÷ answered
    coverage: float | None  # answered answerable ÷ answerable
    answerable_accuracy: float | None  # right answered answerable ÷ answerable
    wrong_unanswerable: float | None  # answered unanswerable ÷ unanswerable
    squad_f1: float  # SQuAD 2.0: mean F1, 1 for a right abstention
    squad_right: float  # the same with right/wrong in place of F1


def point(attempts: Sequence[Attempt], threshold: float) -> Point:
    """
    >>> yes = Attempt("a", True, 0.9, (0.8,), ((0.8, True, 1.0),))
    >>> no = Attempt("b", False, 0.6, (0.7,), ((0.7, False, 0.0),))
    >>> p = point([yes, no], 0.55)
    >>> p.precision, p.coverage, p.wrong_unanswerable, p.squad_f1
    (0.5, 1.0, 1.0, 0.5)
    >>> point([yes, no], 0.75).squad_f1
    1.0
    """
    answered = right = answered_answerable = right_answerable = answered_unanswerable = 0
    f1_total = right_total = 0.0
    for a in attempts:
        shown, ok, f1 = a.at(threshold)
        answered += shown
        right += shown and ok
        if a.answerable:
            answered_answerable += shown
            right_answerable += shown and ok
            f1_total += (f1 if f1 is not None else float(ok)) if shown else 0.0
            right_total += float(shown and ok)
        else:
            answered_unanswerable += shown
            f1_total += 0.0 if shown else 1.0
            right_total += 0.0 if shown else 1.0
    n_answerable = sum(a.answerable for a in attempts)
    n_unanswerable = len(attempts) - n_answerable
    return Point(
        threshold,
        answered,
        right,
        _rate(right, answered),
        _rate(answered_answerable, n_answerable),
        _rate(right_answerable, n_answerable),
        _rate(answered_unanswerable, n_unanswerable),
        f1_total / len(attempts) if attempts else 0.0,
        right_total / len(attempts) if attempts else 0.0,
    )


def thresholds(attempts: Sequence[Attempt]) -> list[float]:
    """Every threshold at which something changes (each recorded score), plus 0: between two
    consecutive scores the system behaves the same, so the curve is exact."""
    values = {0.0}
    for a in attempts:
        values.add(a.answerability)
        values.update(a.probabilities)
    return sorted(v for v in values if 0.0 <= v <= 1.0)


def sweep(attempts: Sequence[Attempt], grid: Sequence[float] | None = None) -> list[Point]:
    return [point(attempts, t) for t in (grid if grid is not None else thresholds(attempts))]


def best(points: Sequence[Point], key: str = "squad_f1") -> Point:
    """The point with the highest `key` (SQuAD 2.0's best threshold); ties go to the higher
    threshold, the more cautious one."""
    return max(points, key=lambda p: (getattr(p, key), p.threshold))


def area(points: Sequence[Point]) -> float | None:
    """Area under precision as a function of coverage: the best precision reached at each
    coverage, trapezoids between them, held flat from coverage 0 to the first. 1.0 only for a
    system that answers every answerable question right and nothing else.

    >>> pts = [Point(0.9, 1, 1, 1.0, 0.5, 0.5, 0.0, 0, 0), Point(0.1, 4, 2, 0.5, 1.0, 1.0, 1.0, 0, 0)]
    >>> area(pts)
    0.875
    """  # noqa: E501
    best_at: dict[float, float] = {}
    for p in points:
        if p.coverage is not None and p.precision is not None:
            best_at[p.coverage] = max(p.precision, best_at.get(p.coverage, 0.0))
    curve = sorted(best_at.items())
    if not curve:
        return None
    total = curve[0][0] * curve[0][1]
    for (c0, p0), (c1, p1) in zip(curve, curve[1:], strict=False):
        total += (c1 - c0) * (p0 + p1) / 2
    return total


RATES = ("precision", "coverage", "answerable_accuracy", "wrong_unanswerable")


def point_intervals(
    attempts: Sequence[Attempt], threshold: float, *, resamples: int = 2000, seed: int = 0
) -> dict[str, tuple[float, float, float] | None]:
    """Each rate of `point(attempts, threshold)` with its 95 % bootstrap interval over
    questions (one resample serves every rate).

    >>> a = [Attempt(str(i), True, 0.9, (0.9,), ((0.9, i % 2 == 0, None),)) for i in range(40)]
    >>> value, low, high = point_intervals(a, 0.5)["precision"]
    >>> value, 0.3 < low < 0.5 < high < 0.7
    (0.5, True)
    """
    if not attempts:
        return {key: None for key in RATES}
    # Each attempt's outcome at this threshold is fixed; resampling only reweights them.
    outcomes = [(a.answerable, *a.at(threshold)[:2]) for a in attempts]
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {key: [] for key in RATES}
    for _ in range(resamples):
        picks = [outcomes[i] for i in rng.integers(0, len(outcomes), len(outcomes))]
        for key, value in _rates(picks).items():
            if value is not None:
                samples[key].append(value)
    whole = _rates(outcomes)
    out: dict[str, tuple[float, float, float] | None] = {}
    for key in RATES:
        if whole[key] is None or not samples[key]:
            out[key] = None
            continue
        low, high = np.percentile(samples[key], [2.5, 97.5])
        out[key] = (float(whole[key]), float(low), float(high))
    return out


def _rates(outcomes: Sequence[tuple[bool, bool, bool]]) -> dict[str, float | None]:
    """(answerable, answered, right) triples → the four rates of a `Point`."""
    answered = [o for o in outcomes if o[1]]
    answerable = [o for o in outcomes if o[0]]
    unanswerable = [o for o in outcomes if not o[0]]
    return {
        "precision": _rate(sum(o[2] for o in answered), len(answered)),
        "coverage": _rate(sum(o[1] for o in answerable), len(answerable)),
        "answerable_accuracy": _rate(sum(o[1] and o[2] for o in answerable), len(answerable)),
        "wrong_unanswerable": _rate(sum(o[1] for o in unanswerable), len(unanswerable)),
    }


def _rate(count: int, total: int) -> float | None:
    return count / total if total else None


def from_outcome(outcome, question) -> Attempt:
    """The replay of one recorded guarded outcome (`eval.qa.Outcome`) against its question's
    gold answers; a question refused before scoring abstains at every threshold."""
    if outcome.answerability is None or not outcome.candidates:
        return Attempt(outcome.id, outcome.answerable, outcome.answerability or 0.0, (), ())
    texts = [c.text for c in outcome.candidates]
    probabilities = [
        c.probability if c.probability is not None else 1.0 for c in outcome.candidates
    ]

    def judge(kept: Sequence[int]) -> tuple[bool, float | None]:
        text = " ".join(texts[i] for i in kept)
        if not question.answerable:
            return False, 0.0
        return question.right(text), question.f1(text)

    return attempt(outcome.id, outcome.answerable, outcome.answerability, probabilities, judge)


@dataclass(frozen=True, slots=True)
class Tradeoff:
    """The guarded system's precision/coverage curve and where the dial's levels sit on it."""

    points: tuple[Point, ...]
    area: float | None
    best_f1: Point  # SQuAD 2.0's best threshold (token F1, 1 for a right abstention)
    best_right: Point  # the same with right/wrong answers
    levels: dict[str, Point]
    intervals: dict[str, dict[str, tuple[float, float, float] | None]]


def tradeoff(attempts: Sequence[Attempt], levels: Mapping[str, float]) -> Tradeoff:
    """The curve over every threshold, and each level's figures with bootstrap intervals."""
    points = sweep(attempts)
    at_levels = {name: point(attempts, t) for name, t in levels.items()}
    intervals = {name: point_intervals(attempts, t) for name, t in levels.items()}
    return Tradeoff(
        tuple(points),
        area(points),
        best(points, "squad_f1"),
        best(points, "squad_right"),
        at_levels,
        intervals,
    )
