"""Answerability: the probability that the retrieved passages state the answer to a question.

Measured before the answer model writes, so that a question the passages are about but do not
answer costs a probe instead of an answer: the model is asked to answer from the passages'
windows closest to the question or reply "none" (`generation.probes`), and a fitted logistic
model (`generation.calibration`) combines that with the relevance gate's two measurements.
"""

from __future__ import annotations

from collections.abc import Sequence

from generation.calibration import Logistic, logit
from generation.gate import PROBED_WINDOWS, GateResult
from generation.probes import Probes
from generation.windows import SentenceWindows, term_coverage
from retrieval.types import Hit


class AnswerabilityCheck:
    """P(the sources state the answer to the question), from a calibrated model over the
    answer model's probe of the passages' windows closest to the question and the relevance
    gate's measurements."""

    def __init__(self, probes: Probes, windows: SentenceWindows, model: Logistic) -> None:
        self._probes = probes
        self._windows = windows
        self._model = model
        # The score rises with the best window's probe: once one window is enough, the others
        # cannot lower it, and need not be asked.
        self._rises = (
            "probe" not in model.features or model.weights[model.features.index("probe")] >= 0
        )

    def measure(
        self,
        question: str,
        hits: Sequence[Hit],
        gate: GateResult,
        part: str | None = None,
        *,
        enough: float | None = None,
    ) -> dict[str, float]:
        """The signals: the probe's log-odds that the model answers from the closest windows
        (the higher of them), and the gate's two measurements (for a part of the question,
        its own closest windows and word coverage). With `enough`, windows after the first are
        probed only while the answerability is still below it."""
        asked = part or question
        if part is None and gate.windows:
            windows, similarity, coverage = gate.windows, gate.similarity, gate.coverage
        else:  # a part, or no gate ran: find the windows closest to what is asked
            passages = {n: h.passage.text for n, h in enumerate(hits, start=1)}
            top = self._windows.top(
                self._windows.embedder.embed([asked])[0], passages, PROBED_WINDOWS
            )
            windows = tuple(passages[m.source][m.start : m.end] for m in top)
            similarity = max(0.0, top[0].score) if top else 0.0
            coverage = max((term_coverage(asked, h.passage.text) for h in hits), default=0.0)
        signals = {
            "probe": logit(0.0),
            "probe_first": logit(0.0),
            "similarity": similarity,
            "coverage": coverage,
        }
        scores: list[float] = []
        for window in windows:
            if (
                scores
                and enough is not None
                and self._rises
                and self.probability(signals) >= enough
            ):
                break
            scores.append(self._probes.answers(window, asked))
            signals.update(probe=logit(max(scores)), probe_first=logit(scores[0]))
        return signals

    def probability(self, signals: dict[str, float]) -> float:
        return self._model.probability(signals)
