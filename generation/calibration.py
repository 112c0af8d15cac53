"""Calibrated decisions: fitted logistic models and the levels of the precision/coverage dial.

docqa decides two things with probabilities rather than hand-set similarities: whether the
retrieved sources state the answer to the question (answerability), and whether each answer
sentence is supported by the passage it cites *and* answers the question (support). Each is a
logistic model over signals that the pipeline measures anyway (the answer model's own yes/no
probabilities, embedding similarities, the deterministic claim check). One threshold applies to
both, so a level is one number: "show an answer, and a sentence of it, only when the estimated
probability that it is right is at least this".

The numbers live in `calibration.json` beside this module. They are written by
`python -m eval.calibrate`, which records the data it was fitted on, the command, and the error
rates each level had on development questions it was not fitted on; nothing here is set by hand.
This module only reads and applies them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
LEVELS = ("strict", "balanced", "lenient")
_CLIP = 1e-4


def logit(p: float) -> float:
    """log(p / (1 − p)), with p clipped away from 0 and 1 so a certain model stays finite.

    >>> round(logit(0.5), 3), round(logit(1.0), 2)
    (0.0, 9.21)
    """
    p = min(max(p, _CLIP), 1 - _CLIP)
    return math.log(p / (1 - p))


def sigmoid(x: float) -> float:
    """
    >>> sigmoid(0.0), round(sigmoid(logit(0.9)), 6)
    (0.5, 0.9)
    """
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    e = math.exp(x)
    return e / (1 + e)


@dataclass(frozen=True, slots=True)
class Logistic:
    """P(y = 1 | signals) = sigmoid(bias + Σ weight · signal), over named signals.

    Features are standardised when fitted; `means` and `scales` undo that here so the
    weights stay comparable with each other in the JSON file.
    """

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    means: tuple[float, ...] = ()
    scales: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.features)
        if (
            len(self.weights) != n
            or len(self.means) not in (0, n)
            or len(self.scales) not in (0, n)
        ):
            raise ValueError("a logistic model needs one weight (and mean, scale) per feature")

    def score(self, signals: Mapping[str, float]) -> float:
        """The log-odds; a missing signal is an error, never a silent zero."""
        missing = [f for f in self.features if f not in signals]
        if missing:
            raise KeyError(f"signals missing for the calibrated model: {', '.join(missing)}")
        total = self.bias
        for i, name in enumerate(self.features):
            total += self.weights[i] * self._standard(i, float(signals[name]))
        return total

    def probability(self, signals: Mapping[str, float]) -> float:
        """
        >>> Logistic(("a",), (2.0,), -1.0).probability({"a": 0.5})
        0.5
        """
        return sigmoid(self.score(signals))

    def bounds(
        self, signals: Mapping[str, float], free: Mapping[str, tuple[float, float]]
    ) -> tuple[float, float]:
        """The lowest and highest probability while each `free` signal ranges over its
        (low, high), the other signals fixed: when both lie on the same side of a threshold,
        measuring the free signals cannot change the decision, so they need not be measured.

        >>> m = Logistic(("cheap", "costly", "other"), (4.0, 1.0, -1.0), 0.0)
        >>> [round(p, 3) for p in m.bounds({"cheap": -3.0}, {"costly": (-1, 1), "other": (0, 1)})]
        [0.0, 0.0]
        >>> [round(p, 2) for p in m.bounds({"cheap": 0.0}, {"costly": (-1, 1), "other": (0, 1)})]
        [0.12, 0.73]
        """
        low, high = self.extremes(signals, free)
        return self.probability(low), self.probability(high)

    def extremes(
        self, signals: Mapping[str, float], free: Mapping[str, tuple[float, float]]
    ) -> tuple[dict[str, float], dict[str, float]]:
        """The signals with each free one at the end of its range that makes the probability
        lowest, and at the end that makes it highest."""
        low, high = dict(signals), dict(signals)
        for name, ends in free.items():
            a, b = sorted(ends)  # the probability rises with a signal of positive weight
            positive = self.weights[self.features.index(name)] >= 0
            low[name], high[name] = (a, b) if positive else (b, a)
        return low, high

    def _standard(self, i: int, value: float) -> float:
        if not self.means:
            return value
        return (value - self.means[i]) / (self.scales[i] or 1.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "weights": list(self.weights),
            "bias": self.bias,
            "means": list(self.means),
            "scales": list(self.scales),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Logistic:
        return cls(
            tuple(data["features"]),
            tuple(float(w) for w in data["weights"]),
            float(data["bias"]),
            tuple(float(m) for m in data.get("means", ())),
            tuple(float(s) for s in data.get("scales", ())),
        )


@dataclass(frozen=True, slots=True)
class Interval:
    """A measured rate and its 95 % bootstrap interval, over `n` items."""

    value: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        """
        >>> str(Interval(0.5, 0.41, 0.6, 120))
        '0.50 (0.41–0.60)'
        """
        return f"{self.value:.2f} ({self.low:.2f}–{self.high:.2f})"


@dataclass(frozen=True, slots=True)
class Level:
    """One position of the dial: its threshold and what it did on held-out development data."""

    name: str
    threshold: float
    precision: Interval | None = None
    coverage: Interval | None = None
    wrong_unanswerable: Interval | None = None

    def describe(self) -> str:
        """The level in words, with its measured error rates where known."""
        head = f"{self.name} (threshold {self.threshold:.2f})"
        if self.precision is None or self.coverage is None or self.wrong_unanswerable is None:
            return head
        return (
            f"{head}: on development questions, {self.precision} of answers right, "
            f"{self.coverage} of answerable questions answered, "
            f"{self.wrong_unanswerable} of unanswerable questions answered anyway"
        )


@dataclass(frozen=True, slots=True)
class Calibration:
    """Everything fitted: the gate's thresholds, the two models, and the dial's levels."""

    answerability: Logistic
    support: Logistic
    support_without_judge: Logistic
    gate_similarity: float
    gate_terms: float
    levels: Mapping[str, Level]
    # Each model-judge signal's range on the fitting data: the support check asks a judge
    # only when an answer within that range could change its decision.
    judge_ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)

    @property
    def measured_on(self) -> str:
        """Which questions the levels' figures come from, in words: rates measured on one kind
        of document are a guide, not a promise, for another."""
        return (
            self.provenance.get("measured_on")
            or "development questions the calibration was not fitted on"
        )

    def judge_range(self, feature: str) -> tuple[float, float]:
        return self.judge_ranges.get(feature, (logit(0.0), logit(1.0)))

    def level(self, level: str | float) -> Level:
        """A named level, or a bare threshold in [0, 1] as a level of its own."""
        if isinstance(level, str):
            if level not in self.levels:
                raise ValueError(
                    f"unknown level {level!r}; choose from "
                    f"{', '.join(self.levels)} or a number in [0, 1]"
                )
            return self.levels[level]
        if not 0.0 <= float(level) <= 1.0:
            raise ValueError(f"a level given as a number must lie in [0, 1], not {level}")
        return Level(f"{float(level):.2f}", float(level))

    def to_dict(self) -> dict[str, Any]:
        def interval(i: Interval | None) -> Any:
            return None if i is None else [i.value, i.low, i.high, i.n]

        return {
            "provenance": dict(self.provenance),
            "gate": {"similarity": self.gate_similarity, "terms": self.gate_terms},
            "answerability": self.answerability.to_dict(),
            "support": self.support.to_dict(),
            "support_without_judge": self.support_without_judge.to_dict(),
            "judge_ranges": {k: list(v) for k, v in self.judge_ranges.items()},
            "levels": {
                name: {
                    "threshold": lv.threshold,
                    "precision": interval(lv.precision),
                    "coverage": interval(lv.coverage),
                    "wrong_unanswerable": interval(lv.wrong_unanswerable),
                }
                for name, lv in self.levels.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        def interval(raw: Any) -> Interval | None:
            return (
                None
                if raw is None
                else Interval(float(raw[0]), float(raw[1]), float(raw[2]), int(raw[3]))
            )

        levels = {
            name: Level(
                name,
                float(lv["threshold"]),
                interval(lv.get("precision")),
                interval(lv.get("coverage")),
                interval(lv.get("wrong_unanswerable")),
            )
            for name, lv in data["levels"].items()
        }
        return cls(
            answerability=Logistic.from_dict(data["answerability"]),
            support=Logistic.from_dict(data["support"]),
            support_without_judge=Logistic.from_dict(data["support_without_judge"]),
            gate_similarity=float(data["gate"]["similarity"]),
            gate_terms=float(data["gate"]["terms"]),
            levels=levels,
            judge_ranges=_judge_ranges(data),
            provenance=dict(data.get("provenance", {})),
        )

    @classmethod
    def load(cls, path: Path | None = None) -> Calibration:
        """The calibration docqa ships, or the one at `path` (one a user fitted on their own
        questions with `python -m eval.calibrate`)."""
        path = path or CALIBRATION_FILE
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except FileNotFoundError as exc:
            raise ValueError(f"{path}: calibration file not found") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: not a docqa calibration file ({exc})") from exc

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")


def _judge_ranges(data: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """`judge_ranges`, or the one `judge_range` of a calibration file written before there
    were two judges."""
    raw = data.get("judge_ranges") or (
        {"judge": data["judge_range"]} if "judge_range" in data else {}
    )
    return {k: (float(v[0]), float(v[1])) for k, v in raw.items()}
