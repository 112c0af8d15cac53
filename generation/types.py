"""The objects that leave the generation stage: `Answer` and its parts.

Sources travel with the answer, numbered as the model saw them, so every citation `[n]` in a
sentence resolves to a passage with its file, section, page and offsets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from retrieval.types import Hit

ABSTENTION = "I don't know — the indexed documents don't cover this."


Verdict = Literal["supported", "unsupported", "contradicted"]


@dataclass(frozen=True, slots=True)
class Evidence:
    """Where a sentence's support lies: source `n`, characters `[start, end)` of its text."""

    source: int
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class SentenceVerdict:
    """A check's verdict on one sentence. For docqa's calibrated check, `score` is the
    probability that the cited passage states the sentence and that it answers the question,
    and `signals` are the measurements it was computed from."""

    verdict: Verdict
    score: float
    reason: str
    evidence: Evidence | None = None
    signals: Mapping[str, float] = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        return self.verdict == "supported"

    def to_dict(self) -> dict[str, Any]:
        ev = self.evidence
        out: dict[str, Any] = {
            "verdict": self.verdict,
            "score": round(self.score, 4),
            "reason": self.reason,
            "evidence": None
            if ev is None
            else {"source": ev.source, "start": ev.start, "end": ev.end, "text": ev.text},
        }
        if self.signals:
            out["signals"] = {k: round(v, 4) for k, v in self.signals.items()}
        return out


@dataclass(frozen=True, slots=True)
class AnswerSentence:
    """One sentence of an answer, its citations and, once fact-checked, its verdict."""

    text: str
    citations: tuple[int, ...]
    check: SentenceVerdict | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "citations": list(self.citations)}
        if self.check is not None:
            out.update(self.check.to_dict())
        return out


@dataclass(frozen=True, slots=True)
class Source:
    """A passage given to the model as source `[n]`."""

    n: int
    hit: Hit

    def to_dict(self, cited: bool) -> dict[str, Any]:
        h, p = self.hit, self.hit.passage
        return {
            "n": self.n,
            "path": p.source,
            "title": p.title,
            "section": p.section,
            "page": p.page,
            "text": p.text,
            "score": h.dense_score,
            "fused_score": h.score,
            "start": p.start,
            "end": p.end,
            "url": p.url,
            "collection": h.collection,
            "cited": cited,
        }


@dataclass(frozen=True, slots=True)
class Answer:
    """A grounded answer — or an abstention with its reason — plus what it rests on.

    `answerability` is the estimated probability that the sources state the answer (None
    where it was not measured: the gate refused first, or the check is off); `unanswered`
    lists the parts of the question the documents do not answer, each said plainly at the end
    of `text`. `dropped` sentences were written by the model and withheld by the fact-check.
    """

    question: str
    text: str
    abstained: bool
    sentences: tuple[AnswerSentence, ...] = ()
    sources: tuple[Source, ...] = ()
    abstain_reason: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    dropped: tuple[AnswerSentence, ...] = ()
    answerability: float | None = None
    unanswered: tuple[str, ...] = ()
    level: str | None = None
    signals: Mapping[str, float] = field(default_factory=dict, compare=False)
    usage: Mapping[str, int] = field(default_factory=dict, compare=False)

    @property
    def cited(self) -> list[Source]:
        numbers = {n for s in self.sentences for n in s.citations}
        return [s for s in self.sources if s.n in numbers]

    def to_dict(self) -> dict[str, Any]:
        numbers = {n for s in self.sentences for n in s.citations}
        return {
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "abstain_reason": self.abstain_reason,
            "sentences": [s.to_dict() for s in self.sentences],
            "dropped_sentences": [s.to_dict() for s in self.dropped],
            "unanswered": list(self.unanswered),
            "answerability": (None if self.answerability is None else round(self.answerability, 4)),
            "level": self.level,
            "answerability_signals": {k: round(v, 4) for k, v in self.signals.items()},
            "sources": [s.to_dict(s.n in numbers) for s in self.sources],
            "timings": dict(self.timings),
            "usage": dict(self.usage),
        }


@dataclass(frozen=True, slots=True)
class Rewritten:
    """A follow-up question as it was asked, and the standalone question actually answered."""

    asked: str
    standalone: str


@dataclass(frozen=True, slots=True)
class Retrieved:
    """The passages the model is about to see, numbered as in the prompt."""

    sources: tuple[Source, ...]


@dataclass(frozen=True, slots=True)
class Preview:
    """Where the answer most likely is, found before the model has read anything: characters
    `[start, end)` of source `source.n`'s passage, the window closest to the question. A reader
    sees it within a second; the checked answer replaces it, or says it was not enough."""

    source: Source
    start: int
    end: int

    @property
    def text(self) -> str:
        return self.source.hit.passage.text[self.start : self.end]


@dataclass(frozen=True, slots=True)
class Token:
    """Raw model output as it streams, citations included; the checked answer follows."""

    text: str


@dataclass(frozen=True, slots=True)
class Done:
    """The final, fact-checked answer (or abstention): what the user should be left with."""

    answer: Answer


AnswerEvent = Rewritten | Retrieved | Preview | Token | Done


def final_answer(events: Iterable[AnswerEvent]) -> Answer:
    """The answer a stream of events ends with: what `ask` returns, without keeping the tokens."""
    last = None
    for last in events:  # noqa: B007 - only the last event matters
        pass
    if not isinstance(last, Done):
        raise RuntimeError(f"an answer stream ended without its answer ({last!r})")
    return last.answer
