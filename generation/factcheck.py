"""The fact-check stage: split → verify each sentence against its cited passages → aggregate.

Grammar-constrained citations stop uncited prose; they do not stop a wrong sentence that cites
a real source. Every answer sentence is checked against the passages it cites, and only those:

1. `ClaimCheck` — deterministic: every number (with its qualifier and unit) and every name in
   the sentence must occur in the cited passages. A number the passage gives differently with
   the same unit is a contradiction. Cheap and exact, so it runs first and can decide alone.
2. `EmbeddingSupport` — the sentence's cosine similarity to the best sentence window of its
   cited passages; that window is the evidence span.

`CombinedVerifier` runs them in order. Any `Verifier` (a real NLI model, later) can be added
to the chain. The policy (`strict`/`flag`) is applied by `apply_policy`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

import numpy as np

from generation.claims import names, quantities, spell_numbers
from generation.types import AnswerSentence, Evidence, SentenceVerdict
from ingest.chunking import sentence_spans
from ingest.embedding import Embedder

Policy = Literal["strict", "flag"]


class Verifier(Protocol):
    """Judges one sentence against the passages it cites (`{n: passage text}`)."""

    def verify(
        self, sentence: AnswerSentence, passages: Mapping[int, str], question: str
    ) -> SentenceVerdict:
        ...


class ClaimCheck:
    """Numbers and names in the sentence must appear in the cited passages.

    Names that the question itself uses are allowed: restating the question is not a claim.
    """

    def verify(
        self, sentence: AnswerSentence, passages: Mapping[int, str], question: str
    ) -> SentenceVerdict:
        cited = "\n".join(passages.values())
        cited_norm = spell_numbers(cited)
        available = quantities(cited_norm)
        for q in quantities(spell_numbers(sentence.text)):
            same = [a for a in available if a.number == q.number]
            if not any(_compatible(q.qualifier, q.unit, a.qualifier, a.unit) for a in same):
                rival = [a for a in available if a.unit and a.unit == q.unit]
                claim = f"{q.qualifier}{q.number}{(' ' + q.unit) if q.unit else ''}"
                if rival and not same:
                    shown = ", ".join(f"{a.qualifier}{a.number} {a.unit}" for a in rival[:3])
                    return SentenceVerdict(
                        "contradicted", 0.0, f"says {claim}; the cited passage says {shown}"
                    )
                return SentenceVerdict("unsupported", 0.0, f"{claim} is not in the cited passage")
        lowered, asked = cited.lower(), question.lower()
        missing = sorted(
            n for n in names(sentence.text) if n.lower() not in lowered and n.lower() not in asked
        )
        if missing:
            return SentenceVerdict(
                "unsupported", 0.0, f"{', '.join(missing)} not in the cited passage"
            )
        return SentenceVerdict("supported", 1.0, "numbers and names found in the cited passage")


def _compatible(qual: str, unit: str, other_qual: str, other_unit: str) -> bool:
    """Same qualifier ("<1 %" is not "1 %"), and units agree where both are given."""
    return qual == other_qual and (not unit or not other_unit or unit == other_unit)


class EmbeddingSupport:
    """Best cosine similarity between the sentence and windows of its cited passages."""

    def __init__(self, embedder: Embedder, threshold: float, window: int = 2) -> None:
        self._embedder = embedder
        self._threshold = threshold
        self._window = window
        # Sentences of one answer cite the same few passages: embed each passage's windows once.
        self._cache: dict[str, tuple[list[tuple[int, int]], np.ndarray]] = {}

    def verify(
        self, sentence: AnswerSentence, passages: Mapping[int, str], question: str
    ) -> SentenceVerdict:
        spans: list[tuple[int, int, int]] = []
        vectors: list[np.ndarray] = []
        for n, text in passages.items():
            windows, embedded = self._embedded_windows(text)
            spans += [(n, a, b) for a, b in windows]
            vectors.append(embedded)
        if not spans:
            return SentenceVerdict("unsupported", 0.0, "the cited passage is empty")
        sims = np.concatenate(vectors) @ self._embedder.embed([sentence.text])[0]
        best = int(np.argmax(sims))
        n, a, b = spans[best]
        score = float(max(0.0, sims[best]))
        evidence = Evidence(n, a, b, passages[n][a:b])
        if score >= self._threshold:
            return SentenceVerdict("supported", score, f"similar to source [{n}] ({score:.2f})",
                                   evidence)
        return SentenceVerdict(
            "unsupported", score,
            f"no span of the cited passage says this (best similarity {score:.2f} < "
            f"{self._threshold:.2f})",
            evidence,
        )

    def _embedded_windows(self, text: str) -> tuple[list[tuple[int, int]], np.ndarray]:
        if text not in self._cache:
            if len(self._cache) > 256:
                self._cache.clear()
            windows = self._windows(text)
            embedded = (self._embedder.embed([text[a:b] for a, b in windows]) if windows
                        else np.zeros((0, self._embedder.dimension), dtype=np.float32))
            self._cache[text] = (windows, embedded)
        return self._cache[text]

    def _windows(self, text: str) -> list[tuple[int, int]]:
        """Single sentences and runs of `window` sentences: support may span a sentence break."""
        sents = sentence_spans(text)
        out = list(sents)
        for i in range(len(sents) - 1):
            out.append((sents[i][0], sents[min(i + self._window, len(sents)) - 1][1]))
        return out


class CombinedVerifier:
    """Runs verifiers in order; the first that rejects decides, else the last one's verdict.

    Cheap deterministic checks go first so the embedding (or a model) is only consulted for
    sentences they pass; the evidence span comes from the last verifier that found one.
    """

    def __init__(self, verifiers: Sequence[Verifier]) -> None:
        if not verifiers:
            raise ValueError("CombinedVerifier needs at least one verifier")
        self._verifiers = list(verifiers)

    def verify(
        self, sentence: AnswerSentence, passages: Mapping[int, str], question: str
    ) -> SentenceVerdict:
        verdict = SentenceVerdict("supported", 1.0, "")
        evidence = None
        for verifier in self._verifiers:
            verdict = verifier.verify(sentence, passages, question)
            evidence = verdict.evidence or evidence
            if not verdict.ok:
                break
        return SentenceVerdict(verdict.verdict, verdict.score, verdict.reason, evidence)


def check_answer(
    sentences: Sequence[AnswerSentence],
    sources: Mapping[int, str],
    question: str,
    verifier: Verifier,
    *,
    repair_citations: bool = True,
) -> list[AnswerSentence]:
    """Verify each sentence against the texts of the sources it cites, and only those.

    Small models often state a fact correctly but cite the wrong number. With
    `repair_citations`, a sentence its own citations do not support (but do not contradict) is
    verified against each other source alone; if one supports it, the citation is moved there
    and the reason says so. The returned sentences carry their verdicts.
    """
    checked = []
    for s in sentences:
        verdict = verifier.verify(s, {n: sources[n] for n in s.citations if n in sources},
                                  question)
        if repair_citations and verdict.verdict == "unsupported":
            s, verdict = _recite(s, verdict, sources, question, verifier)
        checked.append(dataclasses.replace(s, check=verdict))
    return checked


def _recite(
    sentence: AnswerSentence,
    verdict: SentenceVerdict,
    sources: Mapping[int, str],
    question: str,
    verifier: Verifier,
) -> tuple[AnswerSentence, SentenceVerdict]:
    for n, text in sources.items():
        if n in sentence.citations:
            continue
        candidate = dataclasses.replace(sentence, citations=(n,))
        other = verifier.verify(candidate, {n: text}, question)
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
