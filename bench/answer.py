"""Answer latency benchmark: docqa's guarded pipeline against the plain LangChain RAG chain.

    .venv/bin/python bench/answer.py [--corpus DIR | --index DIR] [--questions FILE]
        [--limit N] [--model NAME] [--systems guarded,plain]

It ingests the corpus (default: the repo's docs/) into a fresh temporary index, or uses an
existing one with --index, then answers the questions (default: eval/data/docs_qa.jsonl) with
each system, interleaved question by question so that load from other work on the machine
falls on every system alike:

- `guarded`: docqa as configured, `Pipeline.answerer(guard=True).stream` (relevance gate,
  answerability, citation grammar, support check);
- `plain`: the `docqa eval qa` baseline, LangChain's `LlamaCpp` RAG chain on the same index and
  GGUF file (`eval.baseline.PlainRAG`), streamed with `chain.stream`;
- `guarded-nocache`: `guarded` on a second pipeline with `generation.prefix_cache = false`;
- `guarded-server`: `guarded` with `generation.backend = "server"`: the same prompts, grammar and
  fact-check, the tokens from the OpenAI-compatible server at --server-url (start one on the
  same GGUF file, e.g. `python -m llama_cpp.server --model FILE --n_ctx 4096`), so the
  difference to `guarded` is what the HTTP hop costs;
- `chat`, `chat-nocache`: the same two, but the questions are asked as one conversation, as in
  the chat UI: from the second on, each is a follow-up that `Pipeline.stream` first rewrites
  with the model, so TTFT includes the rewrite, and the rewrite displaces the answer prompt's
  evaluated instructions from llama.cpp's context (what the prefix cache brings back).

Each system first answers one throwaway question that reaches its model, so model loading,
grammar compilation and the first retrieval are not in the figures. Per question it records
the first output a reader sees (for guarded, the extractive preview), time to first answer
token (TTFT), total time, the prompt's tokens, and the stages: retrieve, prompt evaluation
(sources shown → first token: prompt evaluation plus the first sampled token), generation
(first → last token) and fact-check (last token → final answer; guarded only), and for guarded
the relevance gate and answerability probes that run before the model writes (the probes read
the answer prompt itself, so for guarded most of its evaluation falls in that column and
"prompt eval" is the rest). It prints p50/p95
and checks the p50s against the goals: preview ≤ 1 s, first answer token ≤ 3 s, guarded answer
≤ 5 s, prompt tokens ≤ 0.5× the plain chain's. `guarded-whole` is `guarded` with the whole
passages in the prompt (no context selection), and `guarded@N` `guarded` with a context budget
of N tokens, on the same models. A question the relevance
gate abstains on never reaches the model: it counts in the totals but has no TTFT or model
stages. All figures come from the same run on the same machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore", message=".*langchain-community.* is being sunset")

from docqa.config import GenerationSettings, Settings  # noqa: E402
from docqa.pipeline import Pipeline, build_pipeline  # noqa: E402
from eval.dataset import load_questions  # noqa: E402
from eval.metrics import percentile  # noqa: E402
from eval.systems import build_systems  # noqa: E402
from generation.prompts import build_messages  # noqa: E402
from generation.types import Done, Preview, Retrieved, Source, Token  # noqa: E402

GOAL_TOTAL_S = 5.0  # a guarded answer, p50
GOAL_TTFT_S = 3.0  # the first answer token, p50
GOAL_FIRST_OUTPUT_S = 1.0  # the first thing a reader sees (the preview), p50
GOAL_PROMPT_RATIO = 0.5  # prompt tokens against the plain chain's, p50


@dataclass(frozen=True, slots=True)
class Sample:
    """One answered question. Stage times are None where the question never reached the
    model (gate abstention) or the system has no such stage."""

    total_s: float
    retrieve_s: float
    gated: bool = False
    checks_s: float | None = None  # relevance gate + answerability, before the model writes
    first_output_s: float | None = None  # the preview, or the first token, or the answer
    ttft_s: float | None = None
    prompt_eval_s: float | None = None
    generation_s: float | None = None
    factcheck_s: float | None = None
    prompt_tokens: int | None = None
    abstained: bool = False


Run = Callable[[str], Sample]
Factory = Callable[[Pipeline, ExitStack], Run]


# ---- the systems -------------------------------------------------------------------------------
def guarded(pipeline: Pipeline, stack: ExitStack, *, chat: bool = False) -> Run:
    """docqa's answerer; with `chat`, every question after the first is asked as a follow-up in
    one conversation, as in the chat UI, so the rewrite runs before each answer."""
    answerer = pipeline.answerer(guard=True)
    history: list[tuple[str, str]] = []

    def events(question: str):
        return pipeline.stream(question, history) if chat else answerer.stream(question)

    gen = pipeline.settings.generation

    def prompt_tokens(question: str, sources: tuple[Source, ...]) -> int | None:
        messages = build_messages(
            question,
            [s.hit for s in sources],
            gen.max_sentences,
            extractive=gen.mode == "extractive",
        )
        return pipeline.generator.prompt_tokens(messages)

    def run(question: str) -> Sample:
        retrieved = first = last = shown = None
        sources: tuple[Source, ...] = ()
        answer = None
        start = done = time.perf_counter()
        for event in events(question):
            now = time.perf_counter()
            if isinstance(event, Preview | Token | Done):
                shown = shown or now
            if isinstance(event, Retrieved):
                retrieved, sources = now, event.sources
            elif isinstance(event, Token):
                first = first or now
                last = now
            elif isinstance(event, Done):
                done, answer = now, event.answer
        assert answer is not None, "an answer stream ends with Done"
        history.append((question, answer.text))
        retrieve = answer.timings["retrieve_s"]
        checks = answer.timings.get("gate_s", 0.0) + answer.timings.get("answerability_s", 0.0)
        output = shown - start if shown is not None else None
        if retrieved is None:  # the relevance gate abstained before the model
            return Sample(
                done - start,
                retrieve,
                gated=True,
                checks_s=checks,
                first_output_s=output,
                abstained=True,
            )
        # the answer's own count where the generator reports one (chat template included; for
        # an answer the answerability check stopped, the prompt its probes read); else counted
        # after the clock stopped, without the selection the answerer made
        tokens = answer.usage.get("prompt_tokens") or prompt_tokens(question.strip(), sources)
        if first is None or last is None:  # abstained before writing, or wrote nothing
            return Sample(
                done - start,
                retrieve,
                checks_s=checks,
                first_output_s=output,
                prompt_tokens=tokens,
                abstained=True,
            )
        return Sample(
            done - start,
            retrieve,
            checks_s=checks,
            first_output_s=output,
            ttft_s=first - start,
            # the sources are shown before the answerability probes run
            prompt_eval_s=first - retrieved - answer.timings.get("answerability_s", 0.0),
            generation_s=last - first,
            factcheck_s=done - last,
            prompt_tokens=tokens,
            abstained=answer.abstained,
        )

    return run


def require_prefix_cache() -> None:
    if "prefix_cache" not in GenerationSettings.model_fields:
        raise SystemExit(
            "guarded-nocache needs the generation.prefix_cache setting, which "
            "docqa/config.py does not have yet"
        )


def guarded_nocache(pipeline: Pipeline, stack: ExitStack, *, chat: bool = False) -> Run:
    require_prefix_cache()
    data = pipeline.settings.model_dump()
    data["generation"]["prefix_cache"] = False
    # A pipeline of its own, so the generator is a fresh one built from these settings
    # (`Pipeline.reconfigure` would keep the loaded one); the embedder is shared.
    other = build_pipeline(Settings.model_validate(data), embedder=pipeline.embedder)
    stack.callback(other.close)
    return guarded(other, stack, chat=chat)


def guarded_with(pipeline: Pipeline, stack: ExitStack, **generation: Any) -> Run:
    """`guarded` with some generation settings changed, on the same loaded models: the whole
    passages (`guarded-whole`: `select_context=False`) or another budget (`guarded@N`)."""
    s = pipeline.settings
    other = pipeline.reconfigure(
        s.model_copy(update={"generation": s.generation.model_copy(update=generation)})
    )
    return guarded(other, stack)


def guarded_server(pipeline: Pipeline, stack: ExitStack, *, url: str | None = None) -> Run:
    if not url:
        raise SystemExit("guarded-server needs --server-url")
    data = pipeline.settings.model_dump()
    data["generation"].update(backend="server", server_url=url)
    other = build_pipeline(Settings.model_validate(data), embedder=pipeline.embedder)
    stack.callback(other.close)
    return guarded(other, stack)


def plain(pipeline: Pipeline, stack: ExitStack) -> Run:
    from eval.baseline import RAG_PROMPT, PlainRAG, says_no_answer

    system = build_systems(pipeline, ["plain"])[0]
    assert isinstance(system, PlainRAG)
    chain = system.chain()
    llm = next((s for s in chain.steps if hasattr(s, "get_num_tokens")), None)

    def run(question: str) -> Sample:
        first = last = None
        text = []
        start = time.perf_counter()
        for chunk in chain.stream(question):
            if chunk:
                last = time.perf_counter()
                first = first or last
                text.append(chunk)
        done = time.perf_counter()
        hits, retrieve = system.last_retrieval
        tokens = None
        if llm is not None:  # the string LangChain hands LlamaCpp: "Human: " + the filled prompt
            context = "\n\n".join(h.passage.text for h in hits)
            tokens = llm.get_num_tokens(
                "Human: " + RAG_PROMPT.format(question=question, context=context)
            )
        abstained = says_no_answer("".join(text).strip())
        if first is None or last is None:
            return Sample(done - start, retrieve, prompt_tokens=tokens, abstained=abstained)
        return Sample(
            done - start,
            retrieve,
            first_output_s=first - start,
            ttft_s=first - start,
            prompt_eval_s=first - start - retrieve,
            generation_s=last - first,
            prompt_tokens=tokens,
            abstained=abstained,
        )

    return run


SYSTEMS: dict[str, Factory] = {
    "guarded": guarded,
    "guarded-whole": lambda pipeline, stack: guarded_with(pipeline, stack, select_context=False),
    "guarded-nocache": guarded_nocache,
    "guarded-server": guarded_server,
    "chat": lambda pipeline, stack: guarded(pipeline, stack, chat=True),
    "chat-nocache": lambda pipeline, stack: guarded_nocache(pipeline, stack, chat=True),
    "plain": plain,
}


def _budgeted(name: str) -> int | None:
    """The context budget a system name `guarded@N` asks for; None for other names.

    >>> _budgeted("guarded@80"), _budgeted("guarded")
    (80, None)
    """
    head, sep, tail = name.partition("@")
    return int(tail) if head == "guarded" and sep and tail.isdigit() else None


# ---- running -----------------------------------------------------------------------------------
def warm_up(name: str, run: Run, candidates: Sequence[str]) -> None:
    """Answer and discard one question that reaches the model (not a gate abstention), so
    model load is not in the figures."""
    for question in candidates[:5]:
        if not run(question).gated:
            return
    print(
        f"warning: no warm-up question reached the {name} model; its load time is in the "
        "first measured question"
    )


def p(values: Sequence[float | None], q: float) -> float | None:
    return percentile([v for v in values if v is not None], q)


def fmt(value: float | None, unit: str = "s") -> str:
    if value is None:
        return "—"
    return f"{value:.0f}" if unit == "tok" else f"{value:.2f}"


def report(results: dict[str, list[Sample]]) -> None:
    columns = (
        "system",
        "model/all",
        "gated",
        "abstained",
        "shown p50",
        "TTFT p50",
        "TTFT p95",
        "total p50",
        "total p95",
        "retrieve",
        "gate+answerable",
        "prompt eval",
        "generation",
        "fact-check",
        "prompt tok",
    )
    rows = []
    for name, samples in results.items():
        ttft = [s.ttft_s for s in samples]
        total = [s.total_s for s in samples]
        rows.append(
            (
                name,
                f"{sum(not s.gated for s in samples)}/{len(samples)}",
                str(sum(s.gated for s in samples)),
                str(sum(s.abstained for s in samples)),
                fmt(p([s.first_output_s for s in samples], 50)),
                fmt(p(ttft, 50)),
                fmt(p(ttft, 95)),
                fmt(p(total, 50)),
                fmt(p(total, 95)),
                fmt(p([s.retrieve_s for s in samples], 50)),
                fmt(p([s.checks_s for s in samples], 50)),
                fmt(p([s.prompt_eval_s for s in samples], 50)),
                fmt(p([s.generation_s for s in samples], 50)),
                fmt(p([s.factcheck_s for s in samples], 50)),
                fmt(p([s.prompt_tokens for s in samples], 50), "tok"),
            )
        )
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:  # the system name left-aligned, figures right
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    print(line(columns))
    print(line(["-" * w for w in widths]))
    for r in rows:
        print(line(r))
    print(
        "\nSeconds; stage columns (retrieve … fact-check) and prompt tokens are p50s. "
        "gate+answerable: the relevance gate and the answerability probes (guarded; they read "
        "the answer prompt,\nso most of its evaluation is counted there). model/all: "
        "questions that reached the\nmodel. Gate abstentions (gated) are in total and retrieve "
        "but not in TTFT or the model stages, which\nhave no tokens. abstained: every abstention "
        "(gate, model or fact-check; for plain, a reply that declines).\nPrompt eval = sources "
        "ready → first token (prompt evaluation + first sampled token); fact-check = last\n"
        "token → final answer. shown: the first output a reader sees (guarded: the preview). "
        "Prompt tokens: the\nanswer prompt as the model reads it, chat template included "
        "(guarded), the string LangChain passes\nto LlamaCpp (plain)."
    )

    base = results.get("plain")
    base_tokens = p([s.prompt_tokens for s in base], 50) if base else None
    for name, samples in results.items():
        if not name.startswith("guarded"):
            continue
        print()
        goals = [
            (
                "first output (preview)",
                p([s.first_output_s for s in samples], 50),
                "s",
                GOAL_FIRST_OUTPUT_S,
            ),
            ("first answer token", p([s.ttft_s for s in samples], 50), "s", GOAL_TTFT_S),
            ("total", p([s.total_s for s in samples], 50), "s", GOAL_TOTAL_S),
        ]
        tokens = p([s.prompt_tokens for s in samples], 50)
        if tokens is not None and base_tokens:
            goals.append(("prompt tokens / plain's", tokens / base_tokens, "×", GOAL_PROMPT_RATIO))
        for what, value, unit, goal in goals:
            met = value is not None and value <= goal
            print(
                f"goal {name} {what} p50 ≤ {goal}{' ' if unit == 's' else ''}{unit}: "
                f"{'met' if met else 'not met'} ({fmt(value)}{' ' if unit == 's' else ''}{unit})"
            )


def question_set_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that say what is asked over what, shared by the answering benchmarks."""
    parser.add_argument("--corpus", type=Path, default=ROOT / "docs")
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "data" / "docs_qa.jsonl")
    parser.add_argument("--index", type=Path, help="an existing index (no ingest)")
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("--model", help="generation.model, e.g. qwen2.5-coder-0.5b")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    question_set_arguments(parser)
    parser.add_argument(
        "--systems",
        default="guarded,plain",
        help=f"comma list of {', '.join(SYSTEMS)}, or guarded@N (context budget N tokens)",
    )
    parser.add_argument(
        "--server-url",
        help="for guarded-server: the server's base URL, e.g. http://127.0.0.1:8080/v1",
    )
    args = parser.parse_args()
    names = [n.strip() for n in args.systems.split(",") if n.strip()]
    unknown = [n for n in names if n not in SYSTEMS and not _budgeted(n)]
    if unknown or not names:
        parser.error(f"unknown system(s) {', '.join(unknown)}; choose from {', '.join(SYSTEMS)}")
    if "guarded-nocache" in names:
        require_prefix_cache()  # before the ingest, not after it

    every = [q.question for q in load_questions(args.questions)]
    questions = every[: args.limit] if args.limit else every
    # Warm up on questions outside the measured set where there are any, else on the last
    # measured ones, so the first measured prompt is not already in llama.cpp's cache.
    warm_candidates = every[len(questions) :] + questions[::-1]

    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        overrides: dict[str, Any] = {
            "index_dir": str(args.index or Path(tmp) / "index"),
            "generation.model": args.model,
        }
        pipeline = build_pipeline(Settings.load(env={}, overrides=overrides))
        stack.callback(pipeline.close)
        if args.index is None:
            started = time.perf_counter()
            ingested = pipeline.ingest([args.corpus])
            print(
                f"ingested {args.corpus}: {ingested.count('indexed')} files in "
                f"{time.perf_counter() - started:.1f} s"
            )
        gen = pipeline.settings.generation
        print(
            f"model {gen.model}, {gen.n_threads or os.cpu_count()} threads, "
            f"max_tokens {gen.max_tokens}; {len(questions)} questions from {args.questions}"
        )

        runs = {}
        for name in names:
            if name == "guarded-server":
                runs[name] = guarded_server(pipeline, stack, url=args.server_url)
            elif (budget := _budgeted(name)) is not None:
                runs[name] = guarded_with(pipeline, stack, context_budget=budget)
            else:
                runs[name] = SYSTEMS[name](pipeline, stack)
        for name, run in runs.items():
            warm_up(name, run, warm_candidates)
        results: dict[str, list[Sample]] = {name: [] for name in names}
        for i, question in enumerate(questions, 1):
            for name, run in runs.items():
                results[name].append(run(question))
            if sys.stderr.isatty():
                print(f"\r{i}/{len(questions)} questions", end="", file=sys.stderr, flush=True)
        print()
        report(results)  # before the pipelines close, so a failing close loses no figures


if __name__ == "__main__":
    main()
