"""The objects that leave the generation stage: `Answer` and its parts.

Sources travel with the answer, numbered as the model saw them, so every citation `[n]` in a
sentence resolves to a passage with its file, section, page and offsets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from retrieval.types import Hit

ABSTENTION = "I don't know — the indexed documents don't cover this."


@dataclass(frozen=True, slots=True)
class AnswerSentence:
    text: str
    citations: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Source:
    """A passage given to the model as source `[n]`."""

    n: int
    hit: Hit

    def to_dict(self, cited: bool) -> dict[str, Any]:
        h = self.hit
        return {
            "n": self.n, "path": h.source, "title": h.title, "section": h.section,
            "page": h.page, "text": h.text, "score": h.dense_score, "fused_score": h.score,
            "start": h.start, "end": h.end, "url": h.url, "cited": cited,
        }


@dataclass(frozen=True, slots=True)
class Answer:
    """A grounded answer — or an abstention with its reason — plus what it rests on."""

    question: str
    text: str
    abstained: bool
    sentences: tuple[AnswerSentence, ...] = ()
    sources: tuple[Source, ...] = ()
    abstain_reason: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

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
            "sentences": [{"text": s.text, "citations": list(s.citations)} for s in self.sentences],
            "sources": [s.to_dict(s.n in numbers) for s in self.sources],
            "timings": dict(self.timings),
        }
