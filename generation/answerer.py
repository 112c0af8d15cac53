"""Answering one question: retrieve → gate on relevance → prompt → constrained generation → parse.

The relevance gate runs before the model: when no passage is similar enough to the question
there is nothing to ground an answer in, and the cheapest correct reply is the abstention.
"""

from __future__ import annotations

import logging
import time

from generation.grammar import answer_grammar, parse_answer
from generation.llm import Generator, PromptTooLongError
from generation.prompts import build_messages
from generation.types import ABSTENTION, Answer, Source
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
    ) -> None:
        self._retriever = retriever
        self._generator = generator
        self._top_k = top_k
        self._min_relevance = min_relevance
        self._max_tokens = max_tokens
        self._max_sentences = max_sentences

    def retrieve(self, question: str) -> list[Hit]:
        return self._retriever.search(question, self._top_k)

    def ask(self, question: str) -> Answer:
        question = question.strip()
        if not question:
            raise ValueError("the question is empty")
        started = time.perf_counter()
        hits = self.retrieve(question)
        retrieved = time.perf_counter()
        timings = {"retrieve_s": retrieved - started}
        best = max((h.dense_score or 0.0 for h in hits), default=0.0)
        if best < self._min_relevance:
            reason = (
                "no indexed passage is relevant enough "
                f"(best similarity {best:.2f} < {self._min_relevance:.2f})"
                if hits
                else "the index is empty"
            )
            return _abstain(question, reason, hits, timings, started)
        answer = self._generate(question, hits)
        timings["generate_s"] = time.perf_counter() - retrieved
        timings["total_s"] = time.perf_counter() - started
        return Answer(**answer, timings=timings)

    def _generate(self, question: str, hits: list[Hit]) -> dict:
        while True:
            try:
                completion = self._generator.complete(
                    build_messages(question, hits, self._max_sentences),
                    grammar=answer_grammar(len(hits), self._max_sentences),
                    max_tokens=self._max_tokens,
                )
                break
            except PromptTooLongError:
                if len(hits) == 1:
                    raise
                log.warning("prompt too long for the context; dropping source %d", len(hits))
                hits = hits[:-1]
        sources = tuple(Source(n, h) for n, h in enumerate(hits, start=1))
        parsed = parse_answer(completion.text, len(hits))
        if parsed.abstained:
            reason = "the model found no answer in the retrieved passages"
        elif not parsed.sentences:
            reason = f"the model produced no complete cited sentence ({completion.finish_reason})"
        else:
            text = " ".join(
                f"{s.text[:-1]} {''.join(f'[{n}]' for n in s.citations)}{s.text[-1]}"
                for s in parsed.sentences
            )
            return {"question": question, "text": text, "abstained": False,
                    "sentences": parsed.sentences, "sources": sources}
        return {"question": question, "text": ABSTENTION, "abstained": True,
                "sources": sources, "abstain_reason": reason}


def _abstain(
    question: str, reason: str, hits: list[Hit], timings: dict[str, float], started: float
) -> Answer:
    timings["generate_s"] = 0.0
    timings["total_s"] = time.perf_counter() - started
    sources = tuple(Source(n, h) for n, h in enumerate(hits, start=1))
    return Answer(question, ABSTENTION, True, (), sources, reason, timings)
