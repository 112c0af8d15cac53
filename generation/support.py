"""The calibrated support check: one probability per answer sentence, and what is shown.

Each sentence is measured by the cheap checks first — the claim check (numbers and names), the
embedding evidence span, how much of the question the evidence covers, the question's own
answerability signals — and by the answer model as a judge, asked to answer the question from
the sentence's evidence window alone or say it does not (`generation.probes`). A logistic model
fitted on development data (`generation.calibration`) turns the measurements into the
probability that the sentence is supported *for this question*; a sentence that is true of the
passage but answers something else counts as unsupported.

The judge is the costly signal (a probe of about a second on two cores), so it is asked only
when its answer could change the decision: if the probability stays on the same side of the
threshold whatever the judge says (within the range it took on the calibration data), the
cheap signals have decided. A number the cited passage does not give, or gives otherwise,
decides alone: such a sentence is unsupported whatever its probability would be.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from generation.calibration import Logistic, logit
from generation.factcheck import ClaimCheck, EmbeddingSupport, Grounding
from generation.probes import Probes
from generation.types import AnswerSentence, SentenceVerdict
from generation.windows import SentenceWindows, term_coverage

JudgeMode = Literal["auto", "always", "off"]
JUDGE = "judge"


def shown_sentences(
    answerability: float | None, probabilities: Sequence[float], threshold: float
) -> list[int] | None:
    """Indexes of the sentences shown at `threshold`, or None for an abstention: the question
    must be answerable enough, and at least one sentence supported enough. A probability of
    exactly 0 — a number its passage does not give — is never shown, not even at threshold 0.

    >>> shown_sentences(0.8, [0.9, 0.2, 0.6], 0.5), shown_sentences(0.4, [0.9], 0.5)
    ([0, 2], None)
    >>> shown_sentences(None, [0.3], 0.5) is None, shown_sentences(0.9, [], 0.5) is None
    (True, True)
    >>> shown_sentences(0.9, [0.0, 0.1], 0.0)
    [1]
    """
    if answerability is not None and answerability < threshold:
        return None
    kept = [i for i, p in enumerate(probabilities) if p >= threshold and p > 0.0]
    return kept or None


class SupportCheck:
    """A `Verifier` whose score is a calibrated support probability, supported at ≥ threshold."""

    def __init__(
        self,
        windows: SentenceWindows,
        model: Logistic,
        threshold: float,
        *,
        probes: Probes | None = None,
        judge: JudgeMode = "auto",
        judge_range: tuple[float, float] = (logit(0.0), logit(1.0)),
    ) -> None:
        if JUDGE in model.features and (probes is None or judge == "off"):
            raise ValueError(
                "this support model needs the model judge; use the model fitted without it"
            )
        self._claims = ClaimCheck()
        self._embedding = EmbeddingSupport(windows)
        self._model = model
        self.threshold = threshold
        self._probes = probes
        self._judge = judge
        self._judge_range = judge_range

    def verify(self, sentence: AnswerSentence, grounding: Grounding) -> SentenceVerdict:
        claim = self._claims.verify(sentence, grounding)
        embedded = self._embedding.verify(sentence, grounding)
        evidence = embedded.evidence
        window = evidence.text if evidence is not None else ""
        signals = {
            **claim.signals,
            "claim_fail": 0.0 if claim.ok else 1.0,
            "similarity": embedded.score,
            "coverage": term_coverage(grounding.question, window),
            **{f"q_{k}": v for k, v in grounding.question_signals.items()},
        }
        if claim.signals.get("number_fail"):
            # Exact, not a judgement: a number its passage does not give (or gives otherwise)
            # cannot be supported by it, whatever else is measured.
            return SentenceVerdict(claim.verdict, 0.0, claim.reason, evidence, signals)
        judged = ""
        if JUDGE in self._model.features:
            low, high = self._model.bounds(signals, JUDGE, *self._judge_range)
            undecided = low < self.threshold <= high
            if self._judge == "always" or undecided:
                assert self._probes is not None
                signals[JUDGE] = logit(self._probes.answers(window, grounding.question))
                judged = f", the model judges it {'' if signals[JUDGE] > 0 else 'not '}stated"
            else:
                # Either end gives the same decision; report the bound on the safe side.
                signals[JUDGE] = (
                    self._judge_range[0] if high < self.threshold else self._judge_range[1]
                )
                judged = ", the cheaper checks decided without the model judge"
        p = self._model.probability(signals)
        ok = p >= self.threshold
        detail = "" if claim.ok else f"; {claim.reason}"
        reason = (
            f"support probability {p:.2f} {'≥' if ok else '<'} {self.threshold:.2f}"
            f" (evidence similarity {embedded.score:.2f}{judged}){detail}"
        )
        return SentenceVerdict("supported" if ok else "unsupported", p, reason, evidence, signals)
