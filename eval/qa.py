"""Question-answering evaluation: several systems, one question set, one table.

Every system answers every question and is scored the same way:

- **correct**: for an answerable question, not abstained and the answer holds an accepted
  alternative or has a SQuAD token F1 of at least 0.5 with a gold answer (citation markers
  removed first, so "[1]" never matches a gold "1"); for an unanswerable one, an abstention.
  A wrong answer to an unanswerable question is the headline hallucination figure.
- **unsupported sentences**, counted twice: by the fact-check stage (docqa's own verdicts where
  the system ran it, the same checks applied afterwards where it did not) and by an
  *independent* check that the guarded system did not decide with (by default the answer model
  as a yes/no judge). Without the second figure the guarded rate would be zero by construction.
- **citation precision**: of the citations in answers to answerable questions, the share whose
  passage holds an accepted answer.
- **retrieval hit**: whether any passage the model was given holds an accepted answer.
- **latency** per stage, reported as p50/p95.

Systems are anything with a `name` and `respond(question) -> Response`; see `eval.systems`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from core.sentences import sentence_spans
from eval.dataset import Question
from eval.metrics import bootstrap_rate, bootstrap_ratio, percentile, rate
from eval.progress import progress
from generation.factcheck import Grounding, Verifier
from generation.types import Answer, AnswerSentence, SentenceVerdict
from retrieval.types import Hit

STAGES = ("retrieve_s", "gate_s", "answerability_s", "generate_s", "verify_s", "total_s")
_CITATION = re.compile(r"\s*\[\d+\]")


@dataclass(frozen=True, slots=True)
class Response:
    """What one system said to one question, in a shape every system can fill.

    `passages` are what the model was given, numbered from 1 in that order; `sentences` carry
    their citations (none for a system that does not cite) and, where the system fact-checked
    them itself, their verdicts. `dropped` counts sentences the system withheld.
    """

    text: str
    abstained: bool
    sentences: tuple[AnswerSentence, ...]
    passages: tuple[Hit, ...]
    timings: Mapping[str, float]
    reason: str | None = None
    dropped: int = 0
    answerability: float | None = None
    candidates: tuple[AnswerSentence, ...] = ()
    question_signals: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_answer(cls, answer: Answer) -> Response:
        return cls(
            answer.text,
            answer.abstained,
            answer.sentences,
            tuple(s.hit for s in answer.sources),
            dict(answer.timings),
            answer.abstain_reason,
            len(answer.dropped),
            answer.answerability,
            (*answer.sentences, *answer.dropped),
            dict(answer.signals),
        )


class System(Protocol):
    name: str

    def respond(self, question: str) -> Response: ...


@dataclass(frozen=True, slots=True)
class SentenceOutcome:
    text: str
    citations: tuple[int, ...]
    factcheck: str
    independent: str | None
    reason: str
    probability: float | None = None
    signals: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One system's result on one question; a line of the outcomes JSONL.

    The passages the model was given travel with it, so a person reading a failure sees what
    the answer should have rested on.
    """

    system: str
    id: str
    question: str
    answerable: bool
    abstained: bool
    correct: bool
    answer: str
    reason: str | None
    sentences: tuple[SentenceOutcome, ...] = ()
    citations: int = 0
    citations_correct: int = 0
    retrieval_hit: bool | None = None
    f1: float | None = None
    exact: bool | None = None
    dropped: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    passages: tuple[dict[str, Any], ...] = ()
    answerability: float | None = None
    candidates: tuple[SentenceOutcome, ...] = ()
    question_signals: dict[str, float] = field(default_factory=dict)

    @property
    def unsupported_factcheck(self) -> int:
        return sum(s.factcheck != "supported" for s in self.sentences)

    @property
    def unsupported_independent(self) -> int:
        return sum(s.independent not in (None, "supported") for s in self.sentences)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Ground = Callable[[str, Sequence[Hit]], Grounding]


def score(
    question: Question,
    response: Response,
    factcheck: Verifier,
    independent: Verifier | None = None,
    *,
    system: str = "",
    ground: Ground | None = None,
) -> Outcome:
    """Score one response. Sentences the system did not check itself are checked by
    `factcheck` against a grounding from `ground` (the question measured against the passages
    the system was given); a sentence that cites nothing (the plain chain's) is checked against
    every passage."""
    plain = strip_citations(response.text)
    answered = not response.abstained
    correct = (answered and question.right(plain)) if question.answerable else not answered
    unchecked = answered and any(s.check is None for s in response.sentences)
    if ground is not None and unchecked and response.passages:
        grounding = ground(question.question, response.passages)
    else:
        grounding = Grounding.over(question.question, dict(enumerate(response.passages, start=1)))
    sentences = tuple(
        _sentence(s, grounding, factcheck, independent)
        for s in (response.sentences if answered else ())
    )
    candidates = tuple(_sentence(s, grounding, factcheck, None) for s in response.candidates)
    numbered = grounding.passages
    cited_ns = [n for s in sentences for n in s.citations] if question.answerable else []
    return Outcome(
        system=system,
        id=question.id,
        question=question.question,
        answerable=question.answerable,
        abstained=response.abstained,
        correct=correct,
        answer=response.text,
        reason=response.reason,
        sentences=sentences,
        citations=len(cited_ns),
        citations_correct=sum(question.accepts(numbered.get(n, "")) for n in cited_ns),
        retrieval_hit=(
            any(question.accepts(h.passage.text) for h in response.passages)
            if question.answerable
            else None
        ),
        f1=question.f1(plain) if answered else (0.0 if question.answers else None),
        exact=question.exact(plain) if answered else (False if question.answers else None),
        dropped=response.dropped,
        timings=dict(response.timings),
        passages=tuple(
            {
                "n": n,
                "source": h.passage.source,
                "title": h.passage.title,
                "section": h.passage.section,
                "heading": h.passage.heading,
                "page": h.passage.page,
                "text": h.passage.text,
            }
            for n, h in enumerate(response.passages, start=1)
        ),
        answerability=response.answerability,
        candidates=candidates,
        question_signals=dict(response.question_signals),
    )


def _sentence(
    sentence: AnswerSentence,
    grounding: Grounding,
    factcheck: Verifier,
    independent: Verifier | None,
) -> SentenceOutcome:
    cited = sentence.citations
    if not cited:  # checked against every passage, but it cites none: no citation to score
        sentence = dataclasses.replace(sentence, citations=tuple(grounding.passages))
    own = sentence.check or _safe_verify(factcheck, sentence, grounding)
    other = None if independent is None else _safe_verify(independent, sentence, grounding).verdict
    probability = own.score if own.signals else None
    return SentenceOutcome(
        sentence.text, cited, own.verdict, other, own.reason, probability, dict(own.signals)
    )


def strip_citations(text: str) -> str:
    """
    >>> strip_citations("It is 22 miles [1][3].")
    'It is 22 miles.'
    """
    return _CITATION.sub("", text)


def split_sentences(text: str) -> list[str]:
    r"""Sentences of free model output: every line on its own, then sentences within it.

    Models put separate statements on separate lines without end punctuation, so unlike
    document text, a newline here always ends a sentence.

    >>> split_sentences("Yes\nThe answer is: 21:00. It opens late.")
    ['Yes', 'The answer is: 21:00.', 'It opens late.']
    """
    return [line[a:b] for line in text.splitlines() for a, b in sentence_spans(line)]


def _safe_verify(
    verifier: Verifier, sentence: AnswerSentence, grounding: Grounding
) -> SentenceVerdict:
    if not grounding.cited(sentence):
        return SentenceVerdict("unsupported", 0.0, "no passage was given")
    return verifier.verify(sentence, grounding)


def run(
    systems: Sequence[System],
    questions: Sequence[Question],
    factcheck: Verifier,
    independent: Verifier | None = None,
    *,
    show_progress: bool | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    ground: Ground | None = None,
) -> list[Outcome]:
    """Every system on every question, system by system (each keeps its model warm)."""
    outcomes = []
    with progress(len(systems) * len(questions), "answers", show=show_progress) as bar:
        for system in systems:
            bar.describe(system.name)
            for q in questions:
                outcome = score(
                    q,
                    system.respond(q.question),
                    factcheck,
                    independent,
                    system=system.name,
                    ground=ground,
                )
                outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
                bar.update()
    return outcomes


def summarize(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The row of the table for one system's outcomes; rates are None when undefined.

    >>> s = SentenceOutcome("x.", (1,), "supported", "unsupported", "")
    >>> o = [Outcome("g", "a", "q", True, False, True, "x", None, (s,), 1, 1, True),
    ...      Outcome("g", "b", "q", False, False, False, "y", None, (s, s), 0, 0, None)]
    >>> row = summarize(o)
    >>> row["wrong_answer_rate_unanswerable"], row["unsupported_rate_independent"]
    (1.0, 1.0)
    >>> row["citation_precision"], row["retrieval_hit_rate"], row["unsupported_rate_factcheck"]
    (1.0, 1.0, 0.0)
    """
    answerable = [o for o in outcomes if o.answerable]
    unanswerable = [o for o in outcomes if not o.answerable]
    answered = [o for o in outcomes if not o.abstained]
    sentences = [s for o in outcomes for s in o.sentences]
    judged = [s for s in sentences if s.independent is not None]
    hits = [o.retrieval_hit for o in answerable if o.retrieval_hit is not None]
    f1s = [o.f1 for o in answerable if o.f1 is not None]
    row: dict[str, Any] = {
        "system": outcomes[0].system if outcomes else "",
        "questions": len(outcomes),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "answerable_accuracy": rate(sum(o.correct for o in answerable), len(answerable)),
        "abstention_rate_answerable": rate(sum(o.abstained for o in answerable), len(answerable)),
        "wrong_answer_rate_unanswerable": rate(
            sum(not o.abstained for o in unanswerable), len(unanswerable)
        ),
        "precision": rate(sum(o.correct for o in answered), len(answered)),
        "sentences": len(sentences),
        "dropped_sentences": sum(o.dropped for o in outcomes),
        "unsupported_rate_factcheck": rate(
            sum(o.unsupported_factcheck for o in outcomes), len(sentences)
        ),
        "unsupported_rate_independent": rate(
            sum(o.unsupported_independent for o in outcomes), len(judged)
        ),
        "citations": sum(o.citations for o in outcomes),
        "citation_precision": rate(
            sum(o.citations_correct for o in outcomes), sum(o.citations for o in outcomes)
        ),
        "retrieval_hit_rate": rate(sum(hits), len(hits)),
        "f1": rate(sum(f1s), len(f1s)),
        "exact_match": rate(
            sum(bool(o.exact) for o in answerable if o.exact is not None), len(f1s)
        ),
    }
    intervals = {
        "answerable_accuracy": [o.correct for o in answerable],
        "abstention_rate_answerable": [o.abstained for o in answerable],
        "wrong_answer_rate_unanswerable": [not o.abstained for o in unanswerable],
        "precision": [o.correct for o in answered],
        "retrieval_hit_rate": hits,
    }
    for key, flags in intervals.items():
        row[f"{key}_ci"] = bootstrap_rate(flags)
    # Rates over sentences and citations: their questions are what is resampled.
    row["unsupported_rate_factcheck_ci"] = bootstrap_ratio(
        [(o.unsupported_factcheck, len(o.sentences)) for o in outcomes]
    )
    row["unsupported_rate_independent_ci"] = bootstrap_ratio(
        [
            (o.unsupported_independent, sum(s.independent is not None for s in o.sentences))
            for o in outcomes
        ]
    )
    row["citation_precision_ci"] = bootstrap_ratio(
        [(o.citations_correct, o.citations) for o in outcomes]
    )
    for stage in STAGES:
        values = [o.timings[stage] for o in outcomes if stage in o.timings]
        row[f"{stage[:-2]}_p50_s"] = percentile(values, 50)
        row[f"{stage[:-2]}_p95_s"] = percentile(values, 95)
    return row


def summarize_by_system(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    """One row per system, in the order the systems ran."""
    order = list(dict.fromkeys(o.system for o in outcomes))
    return [summarize([o for o in outcomes if o.system == name]) for name in order]
