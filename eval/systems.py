"""The systems `docqa eval qa` compares, built from one pipeline so they share index and model.

- `plain`: LangChain's standard RAG chain (`eval.baseline.PlainRAG`).
- `constrained`: docqa's prompt and citation grammar only — no gate, no checks.
- `guarded`: docqa as configured (grammar, relevance gate, answerability, support check).

`guarded` answers in record mode — every signal measured, nothing withheld — and its response
is what the configured level shows, replayed from the record with the same decision function
the pipeline uses (`generation.support.shown_sentences`). The record stays with the outcome, so
the report can replay every other threshold too. The replay's latency is the record's, less
the stages a real run would have skipped after abstaining on answerability.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from eval.qa import Response, System
from generation.answerer import Answerer, render
from generation.calibration import Level
from generation.support import shown_sentences
from generation.types import ABSTENTION
from retrieval.types import Retriever


class Parts(Protocol):
    """What the systems are built from: the application's pipeline (`docqa.pipeline`)
    provides it; evaluation does not import the application to get it."""

    settings: Any  # docqa.config.Settings: retrieval, generation and factcheck are read

    def retriever(self) -> Retriever: ...
    def model_path(self) -> Path: ...
    def answerer(self, *, guard: bool = True, record: bool = False) -> Answerer: ...
    def level(self) -> Level: ...


SYSTEMS = ("plain", "constrained", "guarded")
_SKIPPED_AFTER_ABSTAINING = ("generate_s", "verify_s")


class DocqaSystem:
    """An `Answerer` seen as an evaluation system; with `threshold`, a record-mode answerer
    whose response is replayed at that threshold."""

    def __init__(self, name: str, answerer: Answerer, threshold: float | None = None) -> None:
        self.name = name
        self._answerer = answerer
        self._threshold = threshold

    def respond(self, question: str) -> Response:
        recorded = Response.from_answer(self._answerer.ask(question))
        if self._threshold is None:
            return recorded
        return replay(recorded, self._threshold)


def replay(recorded: Response, threshold: float) -> Response:
    """What the guarded system shows at `threshold`, from a record-mode response."""
    if recorded.abstained:
        return recorded
    probabilities = [s.check.score if s.check is not None else 1.0 for s in recorded.candidates]
    kept = shown_sentences(recorded.answerability, probabilities, threshold)
    if kept is None:
        before_answer = recorded.answerability is not None and recorded.answerability < threshold
        timings = dict(recorded.timings)
        if before_answer:
            for stage in _SKIPPED_AFTER_ABSTAINING:
                timings["total_s"] = timings.get("total_s", 0.0) - timings.get(stage, 0.0)
                timings[stage] = 0.0
            reason = (
                f"the retrieved passages do not seem to state the answer "
                f"(answerability {recorded.answerability:.2f} < {threshold:.2f})"
            )
        else:
            reason = "the fact-check supported no sentence"
        return dataclasses.replace(
            recorded,
            text=ABSTENTION,
            abstained=True,
            sentences=(),
            reason=reason,
            dropped=len(recorded.candidates),
            timings=timings,
        )
    shown = tuple(recorded.candidates[i] for i in kept)
    return dataclasses.replace(
        recorded,
        text=render(list(shown)),
        sentences=shown,
        dropped=len(recorded.candidates) - len(shown),
    )


def build_systems(pipeline: Parts, names: Sequence[str] = SYSTEMS) -> list[System]:
    unknown = sorted(set(names) - set(SYSTEMS))
    if unknown:
        raise ValueError(
            f"unknown system(s) {', '.join(unknown)}; choose from {', '.join(SYSTEMS)}"
        )
    systems: list[System] = []
    for name in names:
        if name == "plain":
            from eval.baseline import PlainRAG

            r, g = pipeline.settings.retrieval, pipeline.settings.generation
            systems.append(
                PlainRAG(
                    pipeline.retriever(),
                    pipeline.model_path(),
                    top_k=r.top_k,
                    n_ctx=g.n_ctx,
                    n_threads=g.n_threads,
                    temperature=g.temperature,
                    seed=g.seed,
                    max_tokens=g.max_tokens,
                )
            )
        elif name == "constrained":
            systems.append(DocqaSystem(name, pipeline.answerer(guard=False)))
        elif pipeline.settings.factcheck.enabled:
            systems.append(
                DocqaSystem(name, pipeline.answerer(record=True), pipeline.level().threshold)
            )
        else:
            systems.append(DocqaSystem(name, pipeline.answerer()))
    return systems
