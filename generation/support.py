"""The calibrated support check: one probability per answer sentence, and what is shown.

Each sentence is measured by the cheap checks first — the claim check (numbers and names), the
embedding evidence span, how much of the question the evidence covers — and by the answer
model as a judge, twice (`generation.probes`): after its own answer prompt, whether the sources
state this sentence as the answer to the question (`affirmed`), and over the sentence's
evidence window alone, under its passage's heading path, whether it answers the question or
the model says it does not (`judge`). A logistic model fitted on development data
(`generation.calibration`) turns the measurements into the probability that the sentence is
supported *for this question*; a sentence that is true of the passage but answers something
else counts as unsupported.

What the level's threshold is compared with is the sentence's probability of being a right
answer: the question's answerability times the sentence's support. The two were fitted apart —
answerability on the question, support on the sentence alone, so that a sentence cannot ride on
its question — and each is weak evidence on its own; their product lets a sentence the judges
find plainly stated carry a question of middling answerability, and a doubtful question demand
more of its sentences. Chosen out of fold on the development sets against asking both to clear
the threshold apart (`min(answerability, support)`): at `balanced`, answerable accuracy 0.55
against 0.50 on SQuAD and 0.45 against 0.38 on the technical guides, at the same 20 % and 4 %
wrong answers to unanswerable questions; on the 196 held-out SQuAD questions, 0.47 against 0.46
right with 16 % against 17 % wrong, curve area 0.62 against 0.61.

Why two judges: they fail differently. The window judge reads three sentences cut from their
document; the answer-prompt judge reads the sources with their headings, as the answer was
written from them, but is more easily swayed by a fluent sentence on SQuAD's adversarial
questions. Measured on development sentences (ROC-AUC for "the sentence alone is a right
answer"): on the 191 SQuAD fitting sentences, the window judge 0.81 and the answer-prompt judge
0.74 alone, and the fitted model 0.81 out of fold with or without the second; on the 20
sentences docqa wrote for the seeds' technical guides (nothing fitted on them), 0.97 with both
against 0.86 with the window judge alone. Few sentences, but the guides are what docqa is for,
and the second judge costs little.

Why the heading: a list item or a sentence under a terse heading ("- INT8 Quantization: …")
says little on its own, and the window judge used to doubt right answers cut from such places
(the support model separated the seeds' sentences 0.88 and 0.70 as above before it read
headings). On SQuAD the heading is the article's title and changed nothing there
(`generation.probes.titled`).

The judges are the costly signals, so each is asked only when its answer could change the
decision: if the probability stays on the same side of the threshold whatever the judges not
yet asked say (within the ranges they took on the calibration data), the cheaper signals have
decided. The window judge goes first: it carries the larger weight, so it decides alone more
often (on the development sentences at `balanced`, the answer-prompt judge is left unasked for
about a third of them; the other order leaves the window judge unasked for 2–5 %). Each costs
about the same, ~40–80 tokens a sentence: the window judge's prompt is its own, after a kept
prefix; the answer-prompt judge's comes back to the answer's evaluated context, which the
generator saved when the window judge's prompt replaced it (`generation.llm`). The order does
not change a decision, only which judges are asked. A number the cited passage does not give,
or gives otherwise, decides alone: such a sentence is unsupported whatever its probability
would be.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from generation.calibration import Logistic, logit
from generation.factcheck import ClaimCheck, EmbeddingSupport, Grounding
from generation.probes import Probes, titled
from generation.prompts import passage_messages
from generation.types import AnswerSentence, SentenceVerdict
from generation.windows import SentenceWindows, term_coverage

JudgeMode = Literal["auto", "always", "off"]
JUDGE = "judge"  # the evidence window alone: does it answer the question?
AFFIRMED = "affirmed"  # the answer prompt: do its sources state this answer?
JUDGES = (JUDGE, AFFIRMED)  # in the order they are asked: the one that decides alone more often


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
    """A `Verifier` whose score is a sentence's probability of being a right answer (the
    question's answerability × the calibrated support), supported at ≥ threshold.

    `verify_all` checks an answer's sentences together, so that each judge is asked about all
    of them in turn: the window judge first, then the answer-prompt judge on the answer's
    context, brought back once for all of its sentences (each then costs its own ~40 tokens).
    """

    def __init__(
        self,
        windows: SentenceWindows,
        model: Logistic,
        threshold: float,
        *,
        probes: Probes | None = None,
        judge: JudgeMode = "auto",
        judge_ranges: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        judges = [f for f in JUDGES if f in model.features]
        if judges and (probes is None or judge == "off"):
            raise ValueError(
                "this support model needs the model judge; use the model fitted without it"
            )
        self._claims = ClaimCheck()
        self._embedding = EmbeddingSupport(windows)
        self._model = model
        self.threshold = threshold
        self._probes = probes
        self._judge = judge
        self._judges = judges
        ranges = judge_ranges or {}
        self._ranges = {f: ranges.get(f, (logit(0.0), logit(1.0))) for f in judges}

    def verify(self, sentence: AnswerSentence, grounding: Grounding) -> SentenceVerdict:
        return self.verify_all([sentence], grounding)[0]

    def verify_all(
        self, sentences: Sequence[AnswerSentence], grounding: Grounding
    ) -> list[SentenceVerdict]:
        measured = [self._cheap(s, grounding) for s in sentences]
        open_ = [m for m in measured if m.verdict is None]
        # Without a measured answerability (a check run on its own), support alone decides.
        a = 1.0 if grounding.answerability is None else grounding.answerability
        for judge in self._judges:
            for m in open_:
                if self._undecided(m.signals, a):
                    m.signals[judge] = logit(self._ask(judge, m, grounding))
                    m.judged[judge] = m.signals[judge] > 0
        return [m.verdict or self._decide(m, grounding.answerability) for m in measured]

    # ---- the steps ------------------------------------------------------------------------
    def _cheap(self, sentence: AnswerSentence, grounding: Grounding) -> _Measured:
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
        measured = _Measured(sentence, claim, embedded, window, signals)
        if claim.signals.get("number_fail"):
            # Exact, not a judgement: a number its passage does not give (or gives otherwise)
            # cannot be supported by it, whatever else is measured.
            measured.verdict = SentenceVerdict(claim.verdict, 0.0, claim.reason, evidence, signals)
        return measured

    def _undecided(self, signals: dict[str, float], answerability: float) -> bool:
        """Whether the judges not yet asked could still move the sentence's probability across
        the threshold (always, in `always` mode)."""
        if self._judge == "always":
            return True
        unasked = {j: self._ranges[j] for j in self._judges if j not in signals}
        low, high = self._model.bounds(signals, unasked)
        return answerability * low < self.threshold <= answerability * high

    def _ask(self, judge: str, m: _Measured, grounding: Grounding) -> float:
        assert self._probes is not None
        if judge == JUDGE:
            evidence = m.embedded.evidence
            heading = grounding.headings.get(evidence.source, "") if evidence is not None else ""
            return self._probes.answers(titled(m.window, heading), grounding.question)
        messages = list(grounding.messages) or passage_messages(
            grounding.question, grounding.passages
        )
        return self._probes.supports(messages, m.sentence.text)

    def _decide(self, m: _Measured, answerability: float | None) -> SentenceVerdict:
        """The verdict, scored with the sentence's probability of being a right answer:
        answerability × support (support alone where answerability was not measured)."""
        a = 1.0 if answerability is None else answerability
        signals = m.signals
        unasked = {j: self._ranges[j] for j in self._judges if j not in signals}
        if unasked:
            # Unasked because either end of their ranges gives the same decision: report the
            # end nearest the threshold (the most the sentence could have scored, when refused;
            # the least, when supported).
            low, high = self._model.extremes(signals, unasked)
            signals = high if a * self._model.probability(high) < self.threshold else low
        support = self._model.probability(signals)
        p = a * support
        ok = p >= self.threshold
        if not self._judges:
            judged = ""
        elif m.judged:
            said = all(m.judged.values())
            judged = f", the model judges it {'' if said else 'not '}stated"
        else:
            judged = ", the cheaper checks decided without the model judge"
        detail = "" if m.claim.ok else f"; {m.claim.reason}"
        product = (
            "" if answerability is None else f"answerability {a:.2f} × support {support:.2f}, "
        )
        reason = (
            f"probability {p:.2f} {'≥' if ok else '<'} {self.threshold:.2f}"
            f" ({product}evidence similarity {m.embedded.score:.2f}{judged}){detail}"
        )
        verdict = "supported" if ok else "unsupported"
        return SentenceVerdict(verdict, p, reason, m.embedded.evidence, signals)


@dataclass(slots=True)
class _Measured:
    """One sentence on its way through the check: the cheap verdicts, the signals so far,
    what each judge asked said, and the verdict once a rule decided it."""

    sentence: AnswerSentence
    claim: SentenceVerdict
    embedded: SentenceVerdict
    window: str
    signals: dict[str, float]
    judged: dict[str, bool] = field(default_factory=dict)
    verdict: SentenceVerdict | None = None
