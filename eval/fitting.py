"""Fitting the calibrated models: L2-regularised logistic regression and grouped cross-validation.

Pure numpy, a few dozen lines, so that every coefficient docqa ships can be re-derived and
checked by hand: Newton's method on the penalised log-likelihood converges in a handful of
steps for the few signals and few hundred rows involved. Features are standardised before
fitting (the penalty then treats them alike) and the means and scales travel with the model.

Cross-validation groups rows (by document, say) so that questions about one article are never
split between fitting and testing: out-of-fold predictions are then honest estimates of how the
model does on documents it never saw, and the dial's error rates are computed from them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

import numpy as np

from generation.calibration import Logistic

T = TypeVar("T")


def fit_logistic(
    rows: Sequence[Sequence[float]],
    labels: Sequence[bool],
    features: Sequence[str],
    *,
    l2: float = 1.0,
    iterations: int = 50,
) -> Logistic:
    """Maximise Σ log-likelihood − l2/2 · |w|² (the bias is not penalised).

    >>> m = fit_logistic([[0.0], [0.0], [1.0], [1.0]], [False, True, True, True], ["x"], l2=0.0)
    >>> round(m.probability({"x": 0.0}), 3), round(m.probability({"x": 1.0}), 3)
    (0.5, 1.0)
    """
    x = np.asarray(rows, dtype=float).reshape(len(rows), len(features))
    y = np.asarray(labels, dtype=float)
    if len(x) == 0 or y.min() == y.max():
        raise ValueError("fitting needs rows of both classes")
    means = x.mean(axis=0)
    scales = x.std(axis=0)
    scales[scales == 0] = 1.0
    z = np.hstack([np.ones((len(x), 1)), (x - means) / scales])
    w = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(z @ w, -30, 30)))
        gradient = z.T @ (y - p) - penalty * w
        hessian = (z * (p * (1 - p))[:, None]).T @ z + np.diag(penalty) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w += step
        if np.abs(step).max() < 1e-8:
            break
    return Logistic(
        tuple(features),
        tuple(float(v) for v in w[1:]),
        float(w[0]),
        tuple(float(m) for m in means),
        tuple(float(s) for s in scales),
    )


def folds(groups: Sequence[Hashable], k: int, *, seed: int = 0) -> list[int]:
    """A fold number per item, whole groups to a fold, folds as even in size as the groups
    allow (largest groups placed first, each into the currently smallest fold).

    >>> folds(["a", "a", "b", "c", "c", "c"], 2)
    [1, 1, 1, 0, 0, 0]
    """
    sizes: dict[Hashable, int] = {}
    for g in groups:
        sizes[g] = sizes.get(g, 0) + 1
    rng = np.random.default_rng(seed)
    order = list(sizes)
    rng.shuffle(order)  # ties broken at random but reproducibly
    order.sort(key=lambda g: -sizes[g])
    load = [0] * k
    assigned: dict[Hashable, int] = {}
    for g in order:
        fold = int(np.argmin(load))
        assigned[g] = fold
        load[fold] += sizes[g]
    return [assigned[g] for g in groups]


def out_of_fold(
    items: Sequence[T],
    fold_of: Sequence[int],
    fit: Callable[[Sequence[T]], Callable[[T], float]],
) -> list[float]:
    """For every item, the prediction of a model fitted on the other folds only.

    >>> mean = lambda train: (lambda item, m=sum(train) / len(train): m)
    >>> out_of_fold([1.0, 2.0, 3.0, 4.0], [0, 0, 1, 1], mean)
    [3.5, 3.5, 1.5, 1.5]
    """
    predictions = [0.0] * len(items)
    for fold in sorted(set(fold_of)):
        train = [it for it, f in zip(items, fold_of, strict=True) if f != fold]
        model = fit(train)
        for i, f in enumerate(fold_of):
            if f == fold:
                predictions[i] = model(items[i])
    return predictions
