"""Question-answering evaluation: run a question set, score every answer, summarise.

For each question: was it answered correctly (an accepted alternative occurs in the answer),
did the system abstain, and how many of the sentences it showed does an *independent* check
call unsupported. The independent check is passed in and must not be the one the pipeline
used to decide (the default guard uses claims + embedding; the measurement uses the answer
model as a judge), otherwise the guarded rate would be zero by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from eval.dataset import Question
from generation.factcheck import Verifier
from generation.types import Answer


@dataclass(frozen=True, slots=True)
class Outcome:
    id: str
    answerable: bool
    abstained: bool
    correct: bool
    sentences: int
    unsupported: int
    total_s: float
    answer: str
    reason: str | None


def score(question: Question, answer: Answer, measure: Verifier | None) -> Outcome:
    """Score one answer; `correct` means the right answer, or an abstention when unanswerable."""
    correct = question.accepts(answer.text) if question.answerable else answer.abstained
    if answer.abstained and question.answerable:
        correct = False
    unsupported = 0
    if measure is not None:
        texts = {s.n: s.hit.text for s in answer.sources}
        for s in answer.sentences:
            cited = {n: texts[n] for n in s.citations if n in texts}
            unsupported += not measure.verify(s, cited, question.question).ok
    return Outcome(question.id, question.answerable, answer.abstained, correct,
                   len(answer.sentences), unsupported, answer.timings.get("total_s", 0.0),
                   answer.text, answer.abstain_reason)


def run(
    ask: Callable[[str], Answer],
    questions: Sequence[Question],
    measure: Verifier | None = None,
    progress: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    outcomes = []
    for q in questions:
        outcomes.append(score(q, ask(q.question), measure))
        if progress is not None:
            progress(outcomes[-1])
    return outcomes


def summarize(outcomes: Sequence[Outcome]) -> dict[str, float]:
    """The headline figures.

    >>> o = [Outcome("a", True, False, True, 2, 1, 1.0, "", None),
    ...      Outcome("b", False, False, False, 1, 0, 3.0, "", None)]
    >>> summarize(o)["wrong_answer_rate_unanswerable"], summarize(o)["unsupported_sentence_rate"]
    (1.0, 0.3333333333333333)
    """
    answerable = [o for o in outcomes if o.answerable]
    unanswerable = [o for o in outcomes if not o.answerable]
    sentences = sum(o.sentences for o in outcomes)
    return {
        "questions": len(outcomes),
        "answerable_accuracy": _rate(sum(o.correct for o in answerable), len(answerable)),
        "abstention_rate_answerable": _rate(sum(o.abstained for o in answerable), len(answerable)),
        "wrong_answer_rate_unanswerable": _rate(
            sum(not o.abstained for o in unanswerable), len(unanswerable)),
        "unsupported_sentence_rate": _rate(sum(o.unsupported for o in outcomes), sentences),
        "sentences": sentences,
        "mean_total_s": _rate(sum(o.total_s for o in outcomes), len(outcomes)),
    }


def _rate(count: float, total: int) -> float:
    return count / total if total else 0.0
