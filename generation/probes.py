"""Asking the answer model whether a short text answers the question, without sampling.

The probe shows the model a few sentences — a window of the retrieved passages close to the
question, or the evidence window of an answer sentence — and asks it to answer the question
from them by copying their words, or to reply "none" when they do not state the answer to this
exact question. Its score is the probability that the reply does *not* start with "none": the
mass on the abstention branch at the model's first decision, read from the logits.

Why short windows, measured on SQuAD 2.0 questions written to look answerable (ROC-AUC for "a
passage the model was given states the answer"): after all four passages of the answer prompt,
a yes/no question separated them barely (0.65) and the abstention's probability at the answer's
own first decision not at all (0.52; 60 questions). On 100 development questions, the closest
window alone reached 0.78 as a yes/no question and 0.83 in this answer-or-"none" form, the
higher of the two closest windows 0.88 (0.76 over all 204 fitting questions: the first 100 were
the easier half). A small model reads a detail ("never", a swapped name, another year) in three
sentences that it overlooks in nine hundred tokens. A probe is also cheap: about 120 tokens
after the fixed instructions, which stay evaluated between questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

PROBE_SYSTEM = (
    "You answer a question from a text by copying the words of the text that answer it. If "
    "the text does not state the answer to this exact question, reply none."
)
PROBE = "Text: {text}\n\nQuestion: {question}"
NONE = "none"


class ReplyScorer(Protocol):
    """A model that can say how likely its reply is to start a certain way."""

    def start_probability(self, messages: list[dict], starts: Sequence[str]) -> float: ...

    def keep_prefix(self, system_text: str) -> None: ...


def probe_messages(text: str, question: str) -> list[dict]:
    """
    >>> probe_messages("The lamp is visible\\nfor 22 miles.", "How far?")[1]["content"]
    'Text: The lamp is visible for 22 miles.\\n\\nQuestion: How far?'
    """
    return [
        {"role": "system", "content": PROBE_SYSTEM},
        {
            "role": "user",
            "content": PROBE.format(text=" ".join(text.split()), question=question.strip()),
        },
    ]


class Probes:
    """`answers(text, question)`: P(the model answers from `text` rather than saying none)."""

    def __init__(self, scorer: ReplyScorer) -> None:
        self._scorer = scorer
        scorer.keep_prefix(PROBE_SYSTEM)
        self._cache: dict[tuple[str, str], float] = {}

    def answers(self, text: str, question: str) -> float:
        key = (" ".join(text.split()), question.strip())
        if key not in self._cache:
            if len(self._cache) > 256:
                self._cache.clear()
            p_none = self._scorer.start_probability(probe_messages(text, question), [NONE])
            self._cache[key] = 1.0 - p_none
        return self._cache[key]
