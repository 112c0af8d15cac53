"""Answering one question: retrieve → relevance gate → constrained generation → fact-check.

The relevance gate runs before the model: when no passage is similar enough to the question
there is nothing to ground an answer in, and the cheapest correct reply is the abstention. The
fact-check runs after it: each sentence is verified against the passages it cites, and the
policy decides what the user sees. Every abstention carries its reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from generation.factcheck import Policy, Verifier, apply_policy, check_answer
from generation.grammar import answer_grammar, extractive_grammar, parse_answer
from generation.llm import Generator, Piece, PromptTooLongError
from generation.prompts import build_messages, system_prefix
from generation.types import (
    ABSTENTION,
    Answer,
    AnswerEvent,
    AnswerSentence,
    Done,
    Retrieved,
    Source,
    Token,
    final_answer,
)
from retrieval.types import Hit, Retriever

log = logging.getLogger(__name__)


class Answerer:
    """`ask(question)` → an `Answer` whose every sentence cites a given source, or abstains."""

    def __init__(
        self,
        retriever: Retriever,
        generator: Generator,
        *,
        top_k: int = 4,
        min_relevance: float = 0.3,
        max_tokens: int = 256,
        max_sentences: int = 6,
        verifier: Verifier | None = None,
        policy: Policy = "strict",
        extractive: bool = False,
        repair_citations: bool = True,
    ) -> None:
        self._retriever = retriever
        self._generator = generator
        self._top_k = top_k
        self._min_relevance = min_relevance
        self._max_tokens = max_tokens
        self._max_sentences = max_sentences
        self._verifier = verifier
        self._policy = policy
        self._extractive = extractive
        self._repair_citations = repair_citations
        generator.keep_prefix(system_prefix(max_sentences, extractive=extractive))

    def retrieve(self, question: str) -> list[Hit]:
        return self._retriever.search(question, self._top_k)

    def ask(self, question: str) -> Answer:
        """The answer, once everything is checked; `stream` without the intermediate events."""
        return final_answer(self.stream(question))

    def stream(self, question: str) -> Iterator[AnswerEvent]:
        """`Retrieved` (unless the gate abstains), `Token`s as the model writes, then `Done`.

        The streamed tokens are the model's raw output; the `Done` answer is what survived the
        fact-check, so a UI shows tokens for speed and then replaces them with the answer.
        """
        question = question.strip()
        if not question:
            raise ValueError("the question is empty")
        clock = _Clock()
        hits = self.retrieve(question)
        clock.lap("retrieve_s")
        best = max((h.dense_score or 0.0 for h in hits), default=0.0)
        if not hits or best < self._min_relevance:
            reason = (
                "no indexed passage is relevant enough "
                f"(best similarity {best:.2f} < {self._min_relevance:.2f})"
                if hits
                else "the index is empty"
            )
            yield Done(_abstain(question, reason, _numbered(hits), clock))
            return
        pieces, hits = self._open_stream(question, hits)
        sources = _numbered(hits)
        yield Retrieved(sources)
        text, finish = [], ""
        for piece in pieces:
            if piece.text:
                text.append(piece.text)
                yield Token(piece.text)
            finish = piece.finish_reason or finish
        clock.lap("generate_s")
        yield Done(self._finish(question, "".join(text), finish, sources, clock))

    def _finish(
        self, question: str, text: str, finish: str, sources: tuple[Source, ...], clock: _Clock
    ) -> Answer:
        parsed = parse_answer(text, len(sources))
        if parsed.abstained:
            return _abstain(question, "the model found no answer in the retrieved passages",
                            sources, clock)
        if not parsed.sentences:
            reason = f"the model produced no complete cited sentence ({finish})"
            return _abstain(question, reason, sources, clock)
        kept, dropped = self._check(question, list(parsed.sentences), sources)
        clock.lap("verify_s")
        if not kept:
            reasons = "; ".join(dict.fromkeys(s.check.reason for s in dropped if s.check))
            return _abstain(question, f"the fact-check supported no sentence ({reasons})",
                            sources, clock, dropped)
        return Answer(question, render(kept), False, tuple(kept), sources, None,
                      clock.done(), tuple(dropped))

    def _open_stream(self, question: str, hits: list[Hit]) -> tuple[Iterator[Piece], list[Hit]]:
        """Start generating, dropping the lowest-ranked passage while the prompt does not fit."""
        while True:
            try:
                return self._generator.stream(
                    build_messages(question, hits, self._max_sentences,
                                   extractive=self._extractive),
                    grammar=self._grammar(hits),
                    max_tokens=self._max_tokens,
                ), hits
            except PromptTooLongError:
                if len(hits) == 1:
                    raise
                log.warning("prompt too long for the context; dropping source %d", len(hits))
                hits = hits[:-1]

    def _grammar(self, hits: list[Hit]) -> str:
        if self._extractive:
            return extractive_grammar([h.text for h in hits], self._max_sentences)
        return answer_grammar(len(hits), self._max_sentences)

    def _check(
        self, question: str, sentences: list[AnswerSentence], sources: tuple[Source, ...]
    ) -> tuple[list[AnswerSentence], list[AnswerSentence]]:
        if self._verifier is None:
            return sentences, []
        texts = {s.n: s.hit.text for s in sources}
        checked = check_answer(sentences, texts, question, self._verifier,
                               repair_citations=self._repair_citations)
        keep = set(apply_policy(checked, [s.check for s in checked], self._policy))
        return ([s for i, s in enumerate(checked) if i in keep],
                [s for i, s in enumerate(checked) if i not in keep])


def render(sentences: list[AnswerSentence]) -> str:
    """The answer text with each sentence's citations before its final punctuation."""
    return " ".join(
        f"{s.text[:-1]} {''.join(f'[{n}]' for n in s.citations)}{s.text[-1]}" for s in sentences
    )


class _Clock:
    def __init__(self) -> None:
        self._start = self._last = time.perf_counter()
        self.timings: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = now - self._last
        self._last = now

    def done(self) -> dict[str, float]:
        for name in ("retrieve_s", "generate_s", "verify_s"):
            self.timings.setdefault(name, 0.0)
        self.timings["total_s"] = time.perf_counter() - self._start
        return self.timings


def _numbered(hits: list[Hit]) -> tuple[Source, ...]:
    return tuple(Source(n, h) for n, h in enumerate(hits, start=1))


def _abstain(
    question: str,
    reason: str,
    sources: tuple[Source, ...],
    clock: _Clock,
    dropped: list[AnswerSentence] | None = None,
) -> Answer:
    return Answer(question, ABSTENTION, True, (), sources, reason, clock.done(),
                  tuple(dropped or ()))
