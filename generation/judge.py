"""The answer model as a stand-alone judge, with a prompt of its own.

The model is asked whether the cited passages support the sentence, and the probability of
"yes" against "no" for its first reply token is the score: one prompt evaluation, no sampling.
docqa's own checks ask the model a different question about short windows instead
(`generation.probes`); this judge, with its own instructions and the cited passages whole, is
what `docqa eval qa` uses as its second count of unsupported sentences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from generation.factcheck import Grounding
from generation.types import AnswerSentence, SentenceVerdict

JUDGE_SYSTEM = (
    "You check whether a statement is supported by the passages. A statement is supported "
    "only if the passages state it; reply yes or no."
)


class ChoiceScorer(Protocol):
    """A model that can say how likely each choice is as its next reply."""

    def choice_probabilities(self, messages: list[dict], choices: Sequence[str]) -> list[float]: ...


def judge_messages(sentence: str, passages: Mapping[int, str]) -> list[dict]:
    """The yes/no question for one sentence and the passages it cites.

    >>> judge_messages("It is 22 miles.", {2: "Visible for 22 miles."})[1]["content"]
    'Passages:\\n[2] Visible for 22 miles.\\n\\nStatement: It is 22 miles.\\n\\nIs the statement supported by the passages?'
    """  # noqa: E501
    cited = "\n".join(f"[{n}] {text}" for n, text in passages.items())
    question = (
        f"Passages:\n{cited}\n\nStatement: {sentence}\n\nIs the statement supported by "
        "the passages?"
    )
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": question}]


class ModelJudge:
    """Supported when P(yes) ≥ `threshold`."""

    def __init__(self, scorer: ChoiceScorer, threshold: float = 0.5) -> None:
        self._scorer = scorer
        self._threshold = threshold

    def verify(self, sentence: AnswerSentence, grounding: Grounding) -> SentenceVerdict:
        passages = grounding.cited(sentence)
        if not passages:
            return SentenceVerdict("unsupported", 0.0, "no cited passage")
        p_yes, _ = self._scorer.choice_probabilities(
            judge_messages(sentence.text, passages), ["yes", "no"]
        )
        if p_yes >= self._threshold:
            return SentenceVerdict(
                "supported", p_yes, f"the model judges it supported (p={p_yes:.2f})"
            )
        return SentenceVerdict(
            "unsupported", p_yes, f"the model judges it unsupported (p(yes)={p_yes:.2f})"
        )
