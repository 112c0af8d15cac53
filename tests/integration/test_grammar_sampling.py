"""docqa's own sampling loop under a grammar (`llama_internals.GrammarSampler`) on a real model:
greedy, it writes exactly what llama-cpp-python's grammar sampling writes, token for token; with
a temperature and where the grammar refuses the model's first choice, what it writes is still
in the grammar."""

from __future__ import annotations

import pytest

from generation.grammar import answer_grammar, extractive_grammar, parse_answer
from generation.llm import LlamaCppGenerator
from generation.models import resolve_model
from generation.prompts import build_messages
from tests.integration.test_prefix_cache_e2e import HITS

pytestmark = pytest.mark.integration

QUESTIONS = [
    "When was the lighthouse built?",
    "How far is the lamp visible?",
    "Who designed the lighthouse?",
    "Where does the lighthouse stand, and since when?",
]


@pytest.fixture(scope="module")
def generator(index_settings):
    return LlamaCppGenerator(resolve_model("smollm2-135m", index_settings.model_cache), n_ctx=1024)


def _reference(generator: LlamaCppGenerator, messages: list[dict], grammar: str) -> str:
    """What llama-cpp-python's own grammar sampling writes for the same request, from an empty
    context (as `_ours`: a reused prefix can move a near tie by a rounding difference)."""
    from llama_cpp import LlamaGrammar

    generator._load().reset()
    result = generator._load().create_chat_completion(
        messages=generator._safe(messages),
        grammar=LlamaGrammar.from_string(grammar, verbose=False),
        max_tokens=96,
        temperature=0.0,
        seed=0,
    )
    return result["choices"][0]["message"]["content"] or ""


def _ours(generator: LlamaCppGenerator, messages: list[dict], grammar: str):
    generator._load().reset()
    return generator.complete(messages, grammar=grammar, max_tokens=96)


@pytest.mark.parametrize("question", QUESTIONS)
def test_greedy_answers_are_token_for_token_llama_cpp_pythons(generator, question):
    messages = build_messages(question, HITS, 3)
    for grammar in (
        answer_grammar(len(HITS), 3),
        extractive_grammar([h.passage.text for h in HITS], 3),
    ):
        ours = _ours(generator, messages, grammar)
        assert ours.text == _reference(generator, messages, grammar)
        assert ours.completion_tokens > 0 and ours.prompt_tokens > 0


def test_streamed_pieces_make_the_completion_and_the_last_carries_the_counts(generator):
    messages = build_messages(QUESTIONS[1], HITS, 3)
    grammar = answer_grammar(len(HITS), 3)
    generator._load().reset()
    pieces = list(generator.stream(messages, grammar=grammar, max_tokens=96))
    whole = _ours(generator, messages, grammar)
    assert "".join(p.text for p in pieces) == whole.text
    assert [p.finish_reason for p in pieces[:-1]] == [None] * (len(pieces) - 1)
    assert pieces[-1].finish_reason == whole.finish_reason
    assert pieces[-1].completion_tokens == whole.completion_tokens


def test_a_refused_first_choice_is_replaced_by_an_allowed_token(generator):
    messages = [{"role": "user", "content": "Say hello to the world in one sentence."}]
    reply = generator.complete(messages, grammar='root ::= ("yes" | "no") "."', max_tokens=8)
    assert reply.text in ("yes.", "no.")
    assert reply.finish_reason == "stop"


def test_max_tokens_ends_a_constrained_answer_with_length(generator):
    messages = build_messages(QUESTIONS[0], HITS, 3)
    reply = generator.complete(messages, grammar=answer_grammar(len(HITS), 3), max_tokens=3)
    assert reply.finish_reason == "length" and reply.completion_tokens == 3


def test_sampling_with_a_temperature_stays_in_the_grammar_and_follows_the_seed(generator):
    messages = build_messages(QUESTIONS[0], HITS, 3)
    grammar = answer_grammar(len(HITS), 3)
    hot = generator.with_sampling(1.5, seed=7)
    texts = [hot.complete(messages, grammar=grammar, max_tokens=96) for _ in range(2)]
    assert texts[0].text == texts[1].text  # the same seed, the same draw
    for reply in texts:
        if reply.finish_reason == "stop":
            parsed = parse_answer(reply.text, len(HITS))
            assert parsed.abstained or parsed.sentences
            assert all(1 <= n <= len(HITS) for s in parsed.sentences for n in s.citations)
