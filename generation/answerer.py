"""Answering one question: retrieve → relevance gate → answerability → generation → support.

1. The relevance gate runs before the model: when the passages are not about the question at
   all, the cheapest correct reply is the abstention.
   Context selection (`generation.selection`) then picks the passages' sentences that bear on
   the question, within a token budget, for the prompt, and the best of them is shown at once
   as a `Preview`: where the answer most likely is, before the model has read anything.
2. Answerability is measured before answering, over the answer prompt itself: the answer model's
   probability of "yes" when asked whether the selected sources state the answer, and of not
   opening its answer with the abstention (`generation.probes`), with the gate's measurements,
   combined by a calibrated model. The answer then reuses the prompt's evaluation. Below the
   level's threshold docqa abstains without generating; for a question with several parts,
   only the parts the sources answer are asked, and the others are named in the answer as not
   stated.
3. The model writes under the citation grammar; every sentence gets a calibrated support
   probability, and the policy decides what the user sees.

Every abstention carries its reason. With `record`, nothing is withheld: every signal is
measured and every sentence kept with its probability, so an evaluation can replay the
decisions at any threshold (`generation.support.shown_sentences`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from generation.answerability import AnswerabilityCheck
from generation.calibration import Level
from generation.factcheck import Grounding, Policy, Verifier, apply_policy, check_answer
from generation.gate import GateResult, RelevanceGate
from generation.grammar import answer_grammar, extractive_grammar, parse_answer
from generation.llm import Generator, Piece, PromptTooLongError
from generation.parts import missing_part, question_parts
from generation.prompts import build_messages, system_prefix
from generation.selection import ContextSelector, Selection
from generation.types import (
    ABSTENTION,
    Answer,
    AnswerEvent,
    AnswerSentence,
    Done,
    Preview,
    Retrieved,
    Source,
    Token,
    final_answer,
)
from retrieval.types import Hit, Retriever

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """The prompt that fits, and what the probes said about it."""

    hits: list[Hit]
    messages: list[dict]
    scores: dict[str, float]  # question part → answerability
    signals: dict[str, float]  # the measurements behind the best part's score
    pieces: Iterator[Piece] | None  # None: abstained before generating


class Answerer:
    """`ask(question)` → an `Answer` whose every sentence cites a given source, or abstains."""

    def __init__(
        self,
        retriever: Retriever,
        generator: Generator,
        *,
        top_k: int = 4,
        gate: RelevanceGate | None = None,
        answerability: AnswerabilityCheck | None = None,
        verifier: Verifier | None = None,
        level: Level | None = None,
        selector: ContextSelector | None = None,
        select: bool = True,
        max_tokens: int = 256,
        max_sentences: int = 6,
        policy: Policy = "strict",
        extractive: bool = False,
        repair_citations: bool = True,
        record: bool = False,
    ) -> None:
        self._retriever = retriever
        self._generator = generator
        self._top_k = top_k
        self._gate = gate
        self._answerability = answerability
        self._verifier = verifier
        self._level = level
        self._selector = selector
        self._select = select and selector is not None
        self._max_tokens = max_tokens
        self._max_sentences = max_sentences
        self._policy: Policy = "flag" if record else policy
        self._extractive = extractive
        self._repair_citations = repair_citations
        self._record = record
        generator.keep_prefix(system_prefix(max_sentences, extractive=extractive))

    @property
    def threshold(self) -> float:
        return self._level.threshold if self._level is not None else 0.0

    def retrieve(self, question: str) -> list[Hit]:
        return self._retriever.search(question, self._top_k)

    def ask(self, question: str) -> Answer:
        """The answer, once everything is checked; `stream` without the intermediate events."""
        return final_answer(self.stream(question))

    def stream(self, question: str) -> Iterator[AnswerEvent]:
        """`Retrieved` and `Preview` (unless the gate abstains), `Token`s as the model writes,
        then `Done`.

        The preview and the streamed tokens are for speed: the preview is retrieved text, the
        tokens the model's raw output; the `Done` answer is what survived the checks, so a UI
        shows them and then replaces them with the answer.
        """
        question = question.strip()
        if not question:
            raise ValueError("the question is empty")
        clock = _Clock()
        hits = self.retrieve(question)
        clock.lap("retrieve_s")
        gate = self._check_gate(question, hits)
        clock.lap("gate_s")
        if not gate.passed:
            yield Done(self._abstain(question, gate.reason, _numbered(hits), clock))
            return
        selection = self._selection(question, hits, gate)
        texts = None
        if selection is not None and self._select:
            hits, texts = selection.hits, [e.text for e in selection.excerpts]
        clock.lap("select_s")
        parts = question_parts(question)
        prepared = None
        previewed = False
        for prepared in self._prepare(question, parts, hits, texts, gate, clock):
            if isinstance(prepared, list):  # the sources, each time they are (re)decided
                sources = _numbered(prepared)
                yield Retrieved(sources)
                if not previewed and (preview := _preview(selection, sources)) is not None:
                    previewed = True
                    clock.mark("first_output_s")
                    yield preview
        assert isinstance(prepared, _Prepared)
        sources = _numbered(prepared.hits)
        answerability = max(prepared.scores.values()) if prepared.scores else None
        if prepared.pieces is None:
            assert answerability is not None
            reason = (
                f"the retrieved passages do not seem to state the answer "
                f"(answerability {answerability:.2f} < {self.threshold:.2f}, "
                f"the {self._level_name()} level)"
            )
            answer = self._abstain(
                question,
                reason,
                sources,
                clock,
                answerability=answerability,
                signals=prepared.signals,
            )
            # No answer was written, but the probes read the answer prompt: that is its cost.
            tokens = self._generator.prompt_tokens(prepared.messages)
            usage = {"prompt_tokens": tokens, "completion_tokens": 0} if tokens else {}
            yield Done(replace(answer, usage=usage))
            return
        text, finish, usage = [], "", {}
        for piece in prepared.pieces:
            if piece.text:
                if not text:
                    clock.mark("first_token_s")
                text.append(piece.text)
                yield Token(piece.text)
            finish = piece.finish_reason or finish
            if piece.prompt_tokens or piece.completion_tokens:
                usage = {
                    "prompt_tokens": piece.prompt_tokens,
                    "completion_tokens": piece.completion_tokens,
                }
        clock.lap("generate_s")
        unanswered = self._unanswered(parts, prepared.scores)
        asked = _asked(question, parts, unanswered)
        grounding = Grounding.over(
            asked,
            {s.n: s.hit for s in sources},
            answerability=answerability,
            question_signals=prepared.signals,
            messages=tuple(prepared.messages),
        )
        answer = self._finish(
            question, "".join(text), finish, sources, grounding, unanswered, clock
        )
        yield Done(replace(answer, usage=usage))

    def ground(self, question: str, hits: Sequence[Hit]) -> Grounding:
        """The question measured against passages it was not necessarily answered from (an
        evaluation checking another system's answer, a detection row): what `verify` needs to
        check sentences the way this answerer checks its own."""
        hits = list(hits)
        gate = self._check_gate(question, hits)
        numbered = dict(enumerate(hits, start=1))
        if self._answerability is None or not hits:
            return Grounding.over(question, numbered)
        shown, texts = self._shown(question, hits, gate)
        messages = self._messages(question, shown, texts)
        signals = self._answerability.measure(question, shown, gate, messages)
        return Grounding.over(
            question,
            numbered,
            answerability=self._answerability.probability(signals),
            question_signals=signals,
            messages=tuple(messages),
        )

    @property
    def verifier(self) -> Verifier | None:
        return self._verifier

    # ---- the steps ------------------------------------------------------------------------
    def relevant(self, question: str) -> bool:
        """Whether the relevance gate lets `question` through: a cheap look (retrieval and the
        embedder, no answer model) that a conversation takes before paying for a rewrite."""
        if self._gate is None:
            return True
        return self._check_gate(question, self.retrieve(question)).passed

    def _check_gate(self, question: str, hits: list[Hit]) -> GateResult:
        if self._gate is not None:
            return self._gate.check(question, hits)
        return GateResult(bool(hits), 0.0, 0.0, "" if hits else "the index is empty")

    def _prepare(
        self,
        question: str,
        parts: list[str],
        hits: list[Hit],
        texts: list[str] | None,
        gate: GateResult,
        clock: _Clock,
    ) -> Iterator[list[Hit] | _Prepared]:
        """Yield the sources, then the prepared generation: probes asked, stream opened,
        dropping the lowest-ranked passage while the prompt does not fit the context."""
        while True:
            yield hits
            try:
                messages = self._messages(question, hits, texts)
                measured = self._measure(question, hits, texts, parts, gate)
                clock.lap("answerability_s")
                scores = {p: score for p, (score, _) in measured.items()}
                best = max(measured.values(), key=lambda m: m[0]) if measured else (None, {})
                answerability, signals = best
                if (
                    answerability is not None
                    and answerability < self.threshold
                    and not self._record
                ):
                    yield _Prepared(hits, messages, scores, signals, None)
                    return
                unanswered = self._unanswered(parts, scores)
                if unanswered:
                    messages = self._messages(_asked(question, parts, unanswered), hits, texts)
                pieces = self._generator.stream(
                    messages, grammar=self._grammar(hits, texts), max_tokens=self._max_tokens
                )
                yield _Prepared(hits, messages, scores, signals, pieces)
                return
            except PromptTooLongError:
                if len(hits) == 1:
                    raise
                log.warning("prompt too long for the context; dropping source %d", len(hits))
                hits = hits[:-1]
                texts = texts[:-1] if texts is not None else None

    def _messages(
        self, question: str, hits: Sequence[Hit], texts: Sequence[str] | None = None
    ) -> list[dict]:
        return build_messages(
            question, hits, self._max_sentences, extractive=self._extractive, texts=texts
        )

    def _selection(self, question: str, hits: list[Hit], gate: GateResult) -> Selection | None:
        if self._selector is None:
            return None
        return self._selector.select(question, hits, gate.vector)

    def _shown(
        self, question: str, hits: list[Hit], gate: GateResult
    ) -> tuple[list[Hit], list[str] | None]:
        """The sources as the answer prompt shows them: selected, where selection is on."""
        selection = self._selection(question, hits, gate) if self._select else None
        if selection is None:
            return hits, None
        return selection.hits, [e.text for e in selection.excerpts]

    def _measure(
        self,
        question: str,
        hits: list[Hit],
        texts: list[str] | None,
        parts: list[str],
        gate: GateResult,
    ) -> dict[str, tuple[float, dict[str, float]]]:
        """Each part's answerability and the signals behind it (one part: the question), each
        probed over the answer prompt that would ask it."""
        check = self._answerability
        if check is None:
            return {}
        asked = [(question, None)] if len(parts) == 1 else [(p, p) for p in parts]
        out = {}
        for key, part in asked:
            messages = self._messages(part or question, hits, texts)
            signals = check.measure(question, hits, gate, messages, part)
            out[key] = (check.probability(signals), signals)
        return out

    def _unanswered(self, parts: list[str], scores: dict[str, float]) -> list[str]:
        """The parts of a several-part question whose answerability is below the threshold,
        when another part's is not (one part below it is an abstention, not a partial answer).
        """
        if len(parts) < 2 or self._record:
            return []
        low = [p for p in parts if scores.get(p, 1.0) < self.threshold]
        return low if len(low) < len(parts) else []

    def _grammar(self, hits: list[Hit], texts: list[str] | None) -> str:
        if self._extractive:
            shown = texts if texts is not None else [h.passage.text for h in hits]
            return extractive_grammar(shown, self._max_sentences)
        return answer_grammar(len(hits), self._max_sentences)

    def _finish(
        self,
        question: str,
        text: str,
        finish: str,
        sources: tuple[Source, ...],
        grounding: Grounding,
        unanswered: list[str],
        clock: _Clock,
    ) -> Answer:
        answerability = grounding.answerability
        signals = dict(grounding.question_signals)
        parsed = parse_answer(text, len(sources))
        if parsed.abstained:
            return self._abstain(
                question,
                "the model found no answer in the retrieved passages",
                sources,
                clock,
                answerability=answerability,
                signals=signals,
            )
        if not parsed.sentences:
            reason = f"the model produced no complete cited sentence ({finish})"
            return self._abstain(
                question, reason, sources, clock, answerability=answerability, signals=signals
            )
        kept, dropped = self._check(list(parsed.sentences), grounding)
        clock.lap("verify_s")
        if not kept:
            reasons = "; ".join(dict.fromkeys(s.check.reason for s in dropped if s.check))
            return self._abstain(
                question,
                f"the fact-check supported no sentence ({reasons})",
                sources,
                clock,
                dropped,
                answerability,
                signals,
            )
        notes = [missing_part(p) for p in unanswered]
        return Answer(
            question,
            " ".join([render(kept), *notes]),
            False,
            tuple(kept),
            sources,
            None,
            clock.done(),
            tuple(dropped),
            answerability,
            tuple(unanswered),
            self._level_name(),
            signals,
        )

    def _check(
        self, sentences: list[AnswerSentence], grounding: Grounding
    ) -> tuple[list[AnswerSentence], list[AnswerSentence]]:
        if self._verifier is None:
            return sentences, []
        checked = check_answer(
            sentences, grounding, self._verifier, repair_citations=self._repair_citations
        )
        keep = set(apply_policy(checked, [s.check for s in checked], self._policy))
        return (
            [s for i, s in enumerate(checked) if i in keep],
            [s for i, s in enumerate(checked) if i not in keep],
        )

    def _level_name(self) -> str | None:
        return self._level.name if self._level is not None else None

    def _abstain(
        self,
        question: str,
        reason: str,
        sources: tuple[Source, ...],
        clock: _Clock,
        dropped: list[AnswerSentence] | None = None,
        answerability: float | None = None,
        signals: dict[str, float] | None = None,
    ) -> Answer:
        return Answer(
            question,
            ABSTENTION,
            True,
            (),
            sources,
            reason,
            clock.done(),
            tuple(dropped or ()),
            answerability,
            (),
            self._level_name(),
            signals or {},
        )


def _asked(question: str, parts: list[str], unanswered: list[str]) -> str:
    """The question put to the model: the whole of it, or only the parts the sources answer."""
    if not unanswered:
        return question
    return " ".join(p for p in parts if p not in unanswered)


def render(sentences: list[AnswerSentence]) -> str:
    """The answer text with each sentence's citations before its final punctuation."""
    return " ".join(
        f"{s.text[:-1]} {''.join(f'[{n}]' for n in s.citations)}{s.text[-1]}" for s in sentences
    )


def _preview(selection: Selection | None, sources: tuple[Source, ...]) -> Preview | None:
    """The selection's best window as a preview of source `n`, if that passage is a source."""
    if selection is None:
        return None
    best = selection.excerpts[selection.best].hit
    for source in sources:
        if source.hit is best:
            return Preview(source, *selection.best_span)
    return None


class _Clock:
    """Seconds per stage, and when the first things a reader sees happened: `first_output_s`
    (the preview, or the answer when nothing came before it) and `first_token_s` (the model's
    first answer token), both counted from the question."""

    STAGES = ("retrieve_s", "gate_s", "select_s", "answerability_s", "generate_s", "verify_s")

    def __init__(self) -> None:
        self._start = self._last = time.perf_counter()
        self.timings: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + now - self._last
        self._last = now

    def mark(self, name: str) -> None:
        """Record, once, the time from the question to now as `name`."""
        self.timings.setdefault(name, time.perf_counter() - self._start)

    def done(self) -> dict[str, float]:
        for name in self.STAGES:
            self.timings.setdefault(name, 0.0)
        self.timings["total_s"] = time.perf_counter() - self._start
        self.timings.setdefault("first_output_s", self.timings["total_s"])
        return self.timings


def _numbered(hits: list[Hit]) -> tuple[Source, ...]:
    return tuple(Source(n, h) for n, h in enumerate(hits, start=1))
