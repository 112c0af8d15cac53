"""The fact-check stage: split → verify each sentence against its cited passages → aggregate.

Grammar-constrained citations stop uncited prose; they do not stop a wrong sentence that cites
a real source. Every answer sentence is checked against the passages it cites:

1. `ClaimCheck` — deterministic: every number (with its qualifier and unit) and every name in
   the sentence must occur in the cited passages. A number the passage gives differently with
   the same unit is a contradiction.
2. `EmbeddingSupport` — the sentence's cosine similarity to the best sentence window of its
   cited passages; that window is the evidence span.
3. The answer model asked, after its own answer prompt, whether the sources state the sentence
   as the answer to the question (`generation.probes`), which reads meaning.

Each of these alone is a weak detector of a fluent sentence that reuses the passage's words
but says something it does not. `generation.support.SupportCheck` combines them into one
calibrated probability per sentence; the classes here are its signals, and stay usable on
their own (`CombinedVerifier` chains them, first rejection wins).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from core.embedding import Embedder
from generation.claims import names, quantities, spell_numbers
from generation.types import AnswerSentence, Evidence, SentenceVerdict
from generation.windows import SentenceWindows
from retrieval.types import Hit

Policy = Literal["strict", "flag"]


@dataclass(frozen=True, slots=True)
class Grounding:
    """What an answer's sentences are checked against: the question and every source the
    model was shown, numbered as in its prompt; the question's answerability, where measured,
    and the measurements it came from; the answer prompt itself (`messages`), where there was
    one, so that the model judge reads the sources as the answer model read them and shares
    their evaluation; each passage's heading path (`headings`), where known, which the window
    judge reads above the window cut from that passage."""

    question: str
    passages: Mapping[int, str]
    answerability: float | None = None
    question_signals: Mapping[str, float] = field(default_factory=dict)
    messages: tuple[dict, ...] = ()
    headings: Mapping[int, str] = field(default_factory=dict)

    @classmethod
    def over(cls, question: str, hits: Mapping[int, Hit], **measured) -> Grounding:
        """The grounding over numbered hits: each passage's text and heading path.

        >>> from index.types import Passage
        >>> p = Passage(text="Seals last 36 hours.", source="a.md", section="Pump > Care")
        >>> g = Grounding.over("How long?", {2: Hit(passage=p, score=1.0)})
        >>> g.passages, g.headings
        ({2: 'Seals last 36 hours.'}, {2: 'Pump > Care'})
        """
        return cls(
            question,
            {n: h.passage.text for n, h in hits.items()},
            headings={n: h.passage.heading for n, h in hits.items()},
            **measured,
        )

    def cited(self, sentence: AnswerSentence) -> dict[int, str]:
        """The passages the sentence cites (those that exist).

        >>> Grounding("q", {1: "a", 2: "b"}).cited(AnswerSentence("x.", (2, 7)))
        {2: 'b'}
        """
        return {n: self.passages[n] for n in sentence.citations if n in self.passages}


class Verifier(Protocol):
    """Judges one sentence against the passages it cites."""

    def verify(self, sentence: AnswerSentence, grounding: Grounding) -> SentenceVerdict: ...


@runtime_checkable
class BatchVerifier(Verifier, Protocol):
    """A verifier that is cheaper given all of an answer's sentences at once."""

    def verify_all(
        self, sentences: Sequence[AnswerSentence], grounding: Grounding
    ) -> list[SentenceVerdict]: ...


def verify_all(
    verifier: Verifier, sentences: Sequence[AnswerSentence], grounding: Grounding
) -> list[SentenceVerdict]:
    """Each sentence's verdict, all at once where the verifier can do that."""
    if isinstance(verifier, BatchVerifier):
        return verifier.verify_all(sentences, grounding)
    return [verifier.verify(s, grounding) for s in sentences]


class ClaimCheck:
    """Numbers and names in the sentence must appear in the cited passages.

    Names that the question itself uses are allowed: restating the question is not a claim.
    The verdict's signals say which failed: `number_fail` (a number the cited passages do not
    give, or give differently) and `name_fail` (a name they do not hold).
    """

    def verify(self, sentence: AnswerSentence, grounding: Grounding) -> SentenceVerdict:
        cited = "\n".join(grounding.cited(sentence).values())
        number = _number_verdict(sentence.text, cited)
        lowered, asked = cited.lower(), grounding.question.lower()
        missing = sorted(
            n for n in names(sentence.text) if n.lower() not in lowered and n.lower() not in asked
        )
        signals = {"number_fail": float(number is not None), "name_fail": float(bool(missing))}
        if number is not None:
            return dataclasses.replace(number, signals=signals)
        if missing:
            return SentenceVerdict(
                "unsupported",
                0.0,
                f"{', '.join(missing)} not in the cited passage",
                signals=signals,
            )
        return SentenceVerdict(
            "supported", 1.0, "numbers and names found in the cited passage", signals=signals
        )


def _number_verdict(sentence: str, cited: str) -> SentenceVerdict | None:
    """The verdict on the first number of `sentence` that `cited` does not give (None: all
    given). A number the passage gives differently with the same unit is a contradiction."""
    available = quantities(spell_numbers(cited))
    for q in quantities(spell_numbers(sentence)):
        same = [a for a in available if a.number == q.number]
        if any(_compatible(q.qualifier, q.unit, a.qualifier, a.unit) for a in same):
            continue
        rival = [a for a in available if a.unit and a.unit == q.unit]
        claim = f"{q.qualifier}{q.number}{(' ' + q.unit) if q.unit else ''}"
        if rival and not same:
            shown = ", ".join(f"{a.qualifier}{a.number} {a.unit}" for a in rival[:3])
            return SentenceVerdict(
                "contradicted", 0.0, f"says {claim}; the cited passage says {shown}"
            )
        return SentenceVerdict("unsupported", 0.0, f"{claim} is not in the cited passage")
    return None


def _compatible(qual: str, unit: str, other_qual: str, other_unit: str) -> bool:
    """Same qualifier ("<1 %" is not "1 %"), and units agree where both are given."""
    return qual == other_qual and (not unit or not other_unit or unit == other_unit)


class EmbeddingSupport:
    """Best cosine similarity between the sentence and windows of its cited passages."""

    def __init__(self, windows: SentenceWindows | Embedder, threshold: float = 0.0) -> None:
        self._windows = (
            windows if isinstance(windows, SentenceWindows) else SentenceWindows(windows)
        )
        self._threshold = threshold

    def verify(self, sentence: AnswerSentence, grounding: Grounding) -> SentenceVerdict:
        passages = grounding.cited(sentence)
        vector = self._windows.embedder.embed([sentence.text])[0]
        match = self._windows.best(vector, passages)
        if match is None:
            return SentenceVerdict("unsupported", 0.0, "the cited passage is empty")
        score = max(0.0, match.score)
        evidence = Evidence(
            match.source, match.start, match.end, passages[match.source][match.start : match.end]
        )
        if score >= self._threshold:
            return SentenceVerdict(
                "supported", score, f"similar to source [{match.source}] ({score:.2f})", evidence
            )
        return SentenceVerdict(
            "unsupported",
            score,
            f"no span of the cited passage says this (best similarity {score:.2f} < "
            f"{self._threshold:.2f})",
            evidence,
        )


class CombinedVerifier:
    """Runs verifiers in order; the first that rejects decides, else the last one's verdict.

    Cheap deterministic checks go first so the embedding (or a model) is only consulted for
    sentences they pass; the evidence span comes from the last verifier that found one.
    """

    def __init__(self, verifiers: Sequence[Verifier]) -> None:
        if not verifiers:
            raise ValueError("CombinedVerifier needs at least one verifier")
        self._verifiers = list(verifiers)

    def verify(self, sentence: AnswerSentence, grounding: Grounding) -> SentenceVerdict:
        verdict = SentenceVerdict("supported", 1.0, "")
        evidence = None
        for verifier in self._verifiers:
            verdict = verifier.verify(sentence, grounding)
            evidence = verdict.evidence or evidence
            if not verdict.ok:
                break
        return dataclasses.replace(verdict, evidence=evidence)


def check_answer(
    sentences: Sequence[AnswerSentence],
    grounding: Grounding,
    verifier: Verifier,
    *,
    repair_citations: bool = True,
) -> list[AnswerSentence]:
    """Verify each sentence against the sources it cites, and only those.

    Small models often state a fact correctly but cite the wrong number. With
    `repair_citations`, a sentence its own citations do not support (but do not contradict) is
    verified against each other source alone; if one supports it, the citation is moved there
    and the reason says so. The returned sentences carry their verdicts.
    """
    checked = []
    for s, verdict in zip(sentences, verify_all(verifier, sentences, grounding), strict=True):
        if repair_citations and verdict.verdict == "unsupported":
            s, verdict = _recite(s, verdict, grounding, verifier)
        checked.append(dataclasses.replace(s, check=verdict))
    return checked


def _recite(
    sentence: AnswerSentence,
    verdict: SentenceVerdict,
    grounding: Grounding,
    verifier: Verifier,
) -> tuple[AnswerSentence, SentenceVerdict]:
    for n in grounding.passages:
        if n in sentence.citations:
            continue
        candidate = dataclasses.replace(sentence, citations=(n,))
        other = verifier.verify(candidate, grounding)
        if other.ok:
            cited = "".join(f"[{c}]" for c in sentence.citations)
            reason = f"cited {cited}, but supported by [{n}]: {other.reason}"
            return candidate, dataclasses.replace(other, reason=reason)
    return sentence, verdict


def apply_policy(
    sentences: Sequence[AnswerSentence], verdicts: Sequence[SentenceVerdict], policy: Policy
) -> list[int]:
    """Indexes of the sentences to keep: all of them in `flag` mode, the supported in `strict`.

    >>> ok, bad = SentenceVerdict("supported", 1, ""), SentenceVerdict("unsupported", 0, "")
    >>> s = AnswerSentence("x.", (1,))
    >>> apply_policy([s, s], [ok, bad], "strict"), apply_policy([s, s], [ok, bad], "flag")
    ([0], [0, 1])
    """
    if policy == "flag":
        return list(range(len(sentences)))
    return [i for i, v in enumerate(verdicts) if v.ok]
