"""The server backend end to end: the small model behind llama-cpp-python's OpenAI-compatible
server (the `llama_server` fixture), with docqa's retrieval, grammar and fact-check unchanged.

The same model also runs in-process here where the two must agree (the judge's
probabilities); the extractive checks run on both backends in test_extractive_e2e.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from docqa.config import Settings
from docqa.pipeline import build_pipeline
from generation.judge import judge_messages
from generation.llm import PromptTooLongError
from generation.server import ServerGenerator
from generation.types import Done, Preview, Retrieved, Token

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).parents[1] / "fixtures" / "corpus"
SERVER_MODEL = "smollm2-135m"  # what the llama_server fixture serves

PASSAGE = (
    "The Kestrel Bay lighthouse was built in 1887 on the northern breakwater. Its lamp "
    "is visible for 22 nautical miles in clear weather."
)


def on_server(settings: Settings, url: str, **generation) -> Settings:
    """The settings on the server backend, at level 0: the calibration is fitted on the default
    model's probabilities, which the 135M model served here does not resemble, and these tests
    are about the backend's wiring, not about what the levels withhold."""
    update = {"backend": "server", "server_url": url, "model": SERVER_MODEL, **generation}
    return settings.model_copy(
        update={
            "generation": settings.generation.model_copy(update=update),
            "factcheck": settings.factcheck.model_copy(update={"level": 0.0}),
        }
    )


@pytest.fixture(scope="module")
def pipeline(index_settings, llama_server, real_embedder, corpus_dir):
    pipe = build_pipeline(on_server(index_settings, llama_server), embedder=real_embedder)
    pipe.ingest([corpus_dir])
    yield pipe
    pipe.close()


@pytest.fixture(scope="module")
def generator(llama_server) -> ServerGenerator:
    return ServerGenerator(llama_server, SERVER_MODEL)


def test_the_pipeline_generates_on_the_server(pipeline, llama_server):
    assert isinstance(pipeline.generator, ServerGenerator)
    assert pipeline.generator.base_url == llama_server
    assert pipeline._model_path is None  # no GGUF resolved in this process


def test_answerable_question_cites_real_passages_with_verdicts(pipeline):
    answer = pipeline.ask("How many nautical miles is the Kestrel Bay lighthouse visible for?")
    assert not answer.abstained, answer.abstain_reason
    assert "22" in answer.text
    n_sources = len(answer.sources)
    for sentence in answer.sentences:
        assert sentence.citations and all(1 <= n <= n_sources for n in sentence.citations)
        assert sentence.check is not None and sentence.check.verdict == "supported"
    assert any(s.hit.passage.source.endswith("harbor-guide.txt") for s in answer.cited)


def test_unanswerable_question_abstains(pipeline):
    answer = pipeline.ask("Who won the football world cup in 1998?")
    assert answer.abstained
    assert answer.text == "I don't know — the indexed documents don't cover this."
    assert answer.abstain_reason


def test_streaming_yields_the_sources_then_tokens_then_the_checked_answer(pipeline):
    settings = pipeline.settings
    extractive = pipeline.reconfigure(
        settings.model_copy(
            update={"generation": settings.generation.model_copy(update={"mode": "extractive"})}
        )
    )
    events = list(extractive.stream("How long does the sourdough rest before baking?"))
    assert isinstance(events[0], Retrieved) and isinstance(events[-1], Done)
    tokens = [e.text for e in events if isinstance(e, Token)]
    assert len(tokens) > 1
    assert isinstance(events[1], Preview) and "36 hours" in events[1].text
    assert all(isinstance(e, Token) for e in events[2:-1])
    answer = events[-1].answer
    assert not answer.abstained, answer.abstain_reason
    assert "36 hours" in "".join(tokens) and "36 hours" in answer.text


def test_the_judge_reads_the_same_probabilities_from_the_server_logprobs(generator, index_settings):
    from generation.llm import LlamaCppGenerator
    from generation.models import resolve_model

    local = LlamaCppGenerator(resolve_model(SERVER_MODEL, index_settings.model_cache), n_threads=2)
    for sentence in (
        "The lamp is visible for 22 nautical miles.",
        "The lighthouse keeper is called Johan Berg.",
    ):
        messages = judge_messages(sentence, {1: PASSAGE})
        served = generator.choice_probabilities(messages, ["yes", "no"])
        assert sum(served) == pytest.approx(1.0)
        assert served == pytest.approx(
            local.choice_probabilities(messages, ["yes", "no"]), abs=0.02
        )


def test_the_judge_runs_in_the_fact_check_through_the_server(pipeline):
    settings = pipeline.settings
    judged = pipeline.reconfigure(
        settings.model_copy(
            update={
                "generation": settings.generation.model_copy(update={"mode": "extractive"}),
                "factcheck": settings.factcheck.model_copy(
                    update={"judge": True, "policy": "flag"}
                ),
            }
        )
    )
    question = "How long does the sourdough rest before baking?"
    answer = judged.ask(question)
    assert answer.sentences, answer.abstain_reason
    assert all(s.check is not None for s in answer.sentences)
    # At level 0 the cheaper checks decide alone; asked always, the judge is the server's model.
    # The 135M model is a poor judge: what matters is that its verdict reaches the sentence.
    grounding = judged.answerer().ground(question, [s.hit for s in answer.sources])
    verdict = judged.verifier(judge="always").verify(answer.sentences[0], grounding)
    assert "judge" in verdict.signals and "the model judges it" in verdict.reason


def test_the_server_applies_the_grammar(generator):
    messages = [{"role": "user", "content": "Is the sky green? Answer briefly."}]
    free = generator.complete(messages, max_tokens=16)
    constrained = generator.complete(messages, grammar='root ::= "[1] yes"', max_tokens=16)
    assert free.text.strip() != "[1] yes"
    assert (constrained.text, constrained.finish_reason) == ("[1] yes", "stop")
    pieces = list(
        generator.stream(messages, grammar='root ::= "[1] " ("yes" | "no")', max_tokens=16)
    )
    assert "".join(p.text for p in pieces) in ("[1] yes", "[1] no")
    assert pieces[-1].finish_reason == "stop"


def test_a_prompt_too_long_for_the_server_raises_before_any_piece(generator):
    messages = [{"role": "user", "content": "word " * 5000}]  # > the server's 4096 tokens
    with pytest.raises(PromptTooLongError, match="context"):
        generator.stream(messages, max_tokens=16)
    # and the connection the server dropped does not break the next request
    assert generator.complete([{"role": "user", "content": "Hi"}], max_tokens=4).text


def test_cli_ask_json_on_the_server_backend(llama_server, tmp_path):
    env = {
        **os.environ,
        "DOCQA_INDEX": str(tmp_path / "cli-index"),
        "HF_HUB_OFFLINE": "1",
        "DOCQA_GENERATION__BACKEND": "server",
        "DOCQA_GENERATION__SERVER_URL": llama_server,
        "DOCQA_GENERATION__SERVER_MODEL": SERVER_MODEL,
        # a model this machine cannot load: the server backend must not look for it
        "DOCQA_GENERATION__MODEL": str(tmp_path / "absent.gguf"),
        "DOCQA_GENERATION__MODE": "extractive",
        "DOCQA_FACTCHECK__LEVEL": "0",  # see on_server
    }
    docqa = [sys.executable, "-m", "docqa"]
    ingest = subprocess.run(
        [*docqa, "ingest", str(CORPUS)], env=env, capture_output=True, text=True, timeout=300
    )
    assert ingest.returncode == 0, ingest.stderr
    ask = subprocess.run(
        [*docqa, "ask", "--json", "How long does the sourdough rest before baking?"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ask.returncode == 0, ask.stderr
    data = json.loads(ask.stdout)
    assert {"question", "answer", "abstained", "sentences", "sources", "timings"} <= set(data)
    assert not data["abstained"] and "36 hours" in data["answer"]
    n_sources = len(data["sources"])
    for sentence in data["sentences"]:
        assert sentence["citations"] and all(1 <= n <= n_sources for n in sentence["citations"])

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    down = subprocess.run(
        [*docqa, "ask", "How long does the sourdough rest?"],
        env={**env, "DOCQA_GENERATION__SERVER_URL": dead},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert down.returncode == 1
    assert down.stderr.strip().startswith(
        f"docqa: error: cannot reach the generation server at {dead}/chat/completions"
    )
    assert "Traceback" not in down.stderr


def test_backend_server_without_a_url_fails_in_one_line(tmp_path):
    env = {**os.environ, "DOCQA_INDEX": str(tmp_path / "i"), "DOCQA_GENERATION__BACKEND": "server"}
    run = subprocess.run(
        [sys.executable, "-m", "docqa", "ask", "anything?"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(tmp_path),
    )
    assert run.returncode == 1 and "needs generation.server_url" in run.stderr
