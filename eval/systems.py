"""The systems `docqa eval qa` compares, built from one pipeline so they share index and model.

- `plain`: LangChain's standard RAG chain (`eval.baseline.PlainRAG`).
- `constrained`: docqa's prompt and citation grammar only — no relevance gate, no fact-check.
- `guarded`: docqa as configured (grammar, relevance gate, fact-check, abstention).
"""

from __future__ import annotations

from collections.abc import Sequence

from docqa.pipeline import Pipeline
from eval.qa import Response, System
from generation.answerer import Answerer

SYSTEMS = ("plain", "constrained", "guarded")


class DocqaSystem:
    """An `Answerer` seen as an evaluation system."""

    def __init__(self, name: str, answerer: Answerer) -> None:
        self.name = name
        self._answerer = answerer

    def respond(self, question: str) -> Response:
        return Response.from_answer(self._answerer.ask(question))


def build_systems(pipeline: Pipeline, names: Sequence[str] = SYSTEMS) -> list[System]:
    unknown = sorted(set(names) - set(SYSTEMS))
    if unknown:
        raise ValueError(f"unknown system(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(SYSTEMS)}")
    systems: list[System] = []
    for name in names:
        if name == "plain":
            from eval.baseline import PlainRAG

            r, g = pipeline.settings.retrieval, pipeline.settings.generation
            systems.append(PlainRAG(
                pipeline.retriever(), pipeline.model_path(), top_k=r.top_k, n_ctx=g.n_ctx,
                n_threads=g.n_threads, temperature=g.temperature, seed=g.seed,
                max_tokens=g.max_tokens,
            ))
        else:
            systems.append(DocqaSystem(name, pipeline.answerer(guard=name == "guarded")))
    return systems
