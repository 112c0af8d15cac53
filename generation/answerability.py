"""Answerability: the probability that the sources of the answer prompt state the answer.

Measured before the answer model writes, so that a question the passages are about but do not
answer costs a probe instead of an answer. The probes (`generation.probes`) read the answer
prompt itself — its selected sources and the question — so the answer that follows reuses
their evaluation: a yes/no question appended after the question, and the probability that the
answer would not open with the abstention. A fitted logistic model (`generation.calibration`)
combines them with the relevance gate's two measurements.
"""

from __future__ import annotations

from collections.abc import Sequence

from generation.calibration import Logistic, logit
from generation.gate import GateResult
from generation.probes import Probes
from generation.types import ABSTENTION
from generation.windows import SentenceWindows, term_coverage
from retrieval.types import Hit


class AnswerabilityCheck:
    """P(the sources state the answer to the question), from a calibrated model over the
    answer model's probes of its own prompt and the relevance gate's measurements."""

    def __init__(self, probes: Probes, windows: SentenceWindows, model: Logistic) -> None:
        self._probes = probes
        self._windows = windows
        self._model = model

    def measure(
        self,
        question: str,
        hits: Sequence[Hit],
        gate: GateResult,
        messages: list[dict],
        part: str | None = None,
    ) -> dict[str, float]:
        """The signals: the probes' log-odds over `messages` (the answer prompt for what is
        asked: the question, or one part of it) and the gate's two measurements (for a part,
        its own closest window and word coverage)."""
        asked = part or question
        if part is None:
            similarity, coverage = gate.similarity, gate.coverage
        else:  # a part: how close the passages come to what it asks
            passages = {n: h.passage.text for n, h in enumerate(hits, start=1)}
            best = self._windows.best(self._windows.embedder.embed([asked])[0], passages)
            similarity = max(0.0, best.score) if best else 0.0
            coverage = max((term_coverage(asked, h.passage.text) for h in hits), default=0.0)
        # The yes/no suffix first: the answer prompt, evaluated last, is then what the context
        # holds when the answer is written.
        stated = self._probes.stated(messages)
        first = self._probes.first(messages, ABSTENTION)
        return {
            "stated": logit(stated),
            "first": logit(first),
            "similarity": similarity,
            "coverage": coverage,
        }

    def probability(self, signals: dict[str, float]) -> float:
        return self._model.probability(signals)
