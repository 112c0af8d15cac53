"""Constrained generation: docqa's sampling loop against llama-cpp-python's grammar sampling.

    .venv/bin/python bench/generation.py [--corpus DIR | --index DIR] [--questions FILE]
        [--limit N] [--model NAME]

For each question, the answer prompt over the retrieved passages and the citation grammar are
written greedily twice from an empty context, the order alternating between questions:

- `docqa`: `LlamaCppGenerator.stream`, docqa's loop (`llama_internals.GrammarSampler`: the
  model's choice first, the grammar asked about that one token);
- `llama-cpp-python`: `create_chat_completion(grammar=…)` on the same loaded model, whose
  sampler chain runs the grammar over the whole vocabulary at every token.

It prints, per system, the p50 of generation speed (tokens after the first ÷ the time from the
first to the last token, so prompt evaluation is left out) and of the time to write the answer,
their ratio, and how many answers came out identical (greedy: all of them should).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from answer import question_set_arguments  # noqa: E402  (bench/answer.py, beside this one)

from docqa.config import Settings  # noqa: E402
from docqa.pipeline import build_pipeline  # noqa: E402
from eval.dataset import load_questions  # noqa: E402
from generation.grammar import answer_grammar  # noqa: E402
from generation.llm import LlamaCppGenerator  # noqa: E402
from generation.prompts import build_messages  # noqa: E402


def docqa_loop(generator: LlamaCppGenerator, messages: list[dict], grammar: str, limit: int):
    """(text, tokens, seconds from the first token to the last) with docqa's loop."""
    generator._load().reset()
    pieces, first = [], None
    for piece in generator.stream(messages, grammar=grammar, max_tokens=limit):
        if piece.text and first is None:
            first = time.perf_counter()
        pieces.append(piece)
    return "".join(p.text for p in pieces), pieces[-1].completion_tokens, _since(first)


def library_loop(generator: LlamaCppGenerator, messages: list[dict], grammar: str, limit: int):
    """The same with llama-cpp-python's own grammar sampling."""
    from llama_cpp import LlamaGrammar

    llm = generator._load()
    llm.reset()
    texts, first = [], None
    for chunk in llm.create_chat_completion(
        messages=generator._safe(messages),
        grammar=LlamaGrammar.from_string(grammar, verbose=False),
        max_tokens=limit,
        temperature=0.0,
        stream=True,
    ):
        if text := chunk["choices"][0].get("delta", {}).get("content"):
            first = first or time.perf_counter()
            texts.append(text)
    text = "".join(texts)
    return text, generator.count_tokens(text), _since(first)


def _since(first: float | None) -> float:
    return time.perf_counter() - first if first is not None else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    question_set_arguments(parser)
    args = parser.parse_args()
    questions = [q.question for q in load_questions(args.questions)][: args.limit]

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load(
            env={},
            overrides={
                "index_dir": str(args.index or Path(tmp) / "index"),
                "generation.model": args.model,
            },
        )
        pipeline = build_pipeline(settings)
        if args.index is None:
            pipeline.ingest([args.corpus])
        generator = pipeline.generator
        assert isinstance(generator, LlamaCppGenerator), "the in-process backend is compared"
        gen = settings.generation
        answerer = pipeline.answerer(guard=False)
        systems = {"docqa": docqa_loop, "llama-cpp-python": library_loop}
        speed: dict[str, list[float]] = {name: [] for name in systems}
        took: dict[str, list[float]] = {name: [] for name in systems}
        same = 0
        print(f"model {gen.model}; {len(questions)} questions from {args.questions}")
        for i, question in enumerate(questions):
            hits = answerer.retrieve(question)
            if not hits:
                continue
            messages = build_messages(question, hits, gen.max_sentences)
            grammar = answer_grammar(len(hits), gen.max_sentences)
            order = list(systems) if i % 2 == 0 else list(systems)[::-1]
            texts = {}
            for name in order:
                text, tokens, seconds = systems[name](generator, messages, grammar, gen.max_tokens)
                texts[name] = text
                took[name].append(seconds)
                if tokens > 1 and seconds > 0:
                    speed[name].append((tokens - 1) / seconds)
            same += texts["docqa"] == texts["llama-cpp-python"]
            print(f"  {i + 1}/{len(questions)} {len(texts['docqa'])} chars", flush=True)
        pipeline.close()

    print("\n| sampler | tokens/s p50 | writing the answer p50 |\n|---|---|---|")
    for name in systems:
        print(
            f"| {name} | {statistics.median(speed[name]):.1f} | "
            f"{statistics.median(took[name]):.2f} s |"
        )
    ratio = statistics.median(speed["docqa"]) / statistics.median(speed["llama-cpp-python"])
    print(f"\ndocqa's loop writes {ratio:.2f}x as many tokens a second; identical answers: {same}")


if __name__ == "__main__":
    main()
