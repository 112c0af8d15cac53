"""The kept prompt prefix on a real model: loaded after an unrelated request, same answers."""

from __future__ import annotations

import pytest

from generation.llm import LlamaCppGenerator
from generation.models import resolve_model
from generation.prompts import build_messages, system_prefix
from generation.rewrite import REWRITE_SYSTEM, rewrite_messages
from index.types import Passage
from retrieval.types import Hit

pytestmark = pytest.mark.integration

HITS = [
    Hit(
        passage=Passage(
            id=1,
            text="The Kestrel Bay lighthouse was built in 1887 on the northern breakwater.",
            source="/d/light.md",
            title="Lighthouse",
            section="History",
            end=70,
        ),
        score=0.9,
    ),
    Hit(
        passage=Passage(
            id=2,
            text="Its lamp is visible for 22 nautical miles in clear weather.",
            source="/d/light.md",
            title="Lighthouse",
            section="Lamp",
            start=70,
            end=130,
        ),
        score=0.8,
    ),
]


@pytest.fixture(scope="module")
def model_path(index_settings):
    return resolve_model("smollm2-135m", index_settings.model_cache)


def test_kept_prefix_survives_an_unrelated_request_and_changes_nothing(model_path):
    warm = LlamaCppGenerator(model_path)
    cold = LlamaCppGenerator(model_path, prefix_cache=False)
    warm.keep_prefix(system_prefix(6))
    warm.keep_prefix(REWRITE_SYSTEM)
    first = build_messages("When was the lighthouse built?", HITS, 6)
    second = build_messages("How far is the lamp visible?", HITS[::-1], 6)

    warm.complete(first, max_tokens=16)
    warm.complete(rewrite_messages([("q", "a")], "and then?"), max_tokens=8)
    llm = warm._load()
    tokens = llm.tokenize(warm._chat_prompt(second).encode(), add_bos=False, special=True)
    prefix = warm._prefix_tokens(system_prefix(6))
    assert len(prefix) > 50  # the instructions, not a token or two
    # the rewrite displaced it
    assert llm.longest_token_prefix(llm._input_ids, tokens) < len(prefix)

    warm._reuse_prefix(second)
    assert llm.longest_token_prefix(llm._input_ids, tokens) >= len(prefix)  # loaded back
    assert len(warm._states) == 2  # one state per kept prefix, saved once
    assert warm.complete(second, max_tokens=24).text == cold.complete(second, max_tokens=24).text


def test_prompts_without_the_prefix_are_left_alone(model_path):
    gen = LlamaCppGenerator(model_path)
    gen.keep_prefix(system_prefix(6))
    gen.complete([{"role": "user", "content": "Say hi."}], max_tokens=4)
    assert gen._states == {}


def test_prepare_evaluates_kept_prefixes_ahead_of_the_first_question(model_path):
    gen = LlamaCppGenerator(model_path)
    gen.keep_prefix(system_prefix(6))
    gen.prepare()
    assert len(gen._states) == 1
    question = build_messages("When was the lighthouse built?", HITS, 6)
    cold = LlamaCppGenerator(model_path, prefix_cache=False)
    assert gen.complete(question, max_tokens=24).text == cold.complete(question, max_tokens=24).text


def test_an_overwritten_context_comes_back_for_a_prompt_that_continues_it(model_path):
    # The support check's order: the answer prompt, then a judge's prompt of its own, then a
    # question appended to the answer prompt again.
    gen = LlamaCppGenerator(model_path)
    cold = LlamaCppGenerator(model_path, prefix_cache=False)
    answer = build_messages("When was the lighthouse built?", HITS, 6)
    *head, question = answer
    again = [*head, {**question, "content": question["content"] + " Reply yes or no."}]
    other = [{"role": "user", "content": "A different prompt, long enough to matter. " * 8}]

    gen.complete(answer, max_tokens=4)
    llm = gen._load()
    held = len(llm._input_ids)
    gen.complete(other, max_tokens=4)
    tokens = llm.tokenize(gen._chat_prompt(again).encode(), add_bos=False, special=True)
    assert llm.longest_token_prefix(llm._input_ids, tokens) < 10  # the other prompt's now

    gen._reuse_prefix(again, tokens)
    shared = llm.longest_token_prefix(llm._input_ids, tokens)
    assert held - 20 < shared < len(tokens)  # the answer prompt is back, up to the question
    assert gen.choice_probabilities(again, ["yes", "no"]) == pytest.approx(
        cold.choice_probabilities(again, ["yes", "no"]), abs=0.02
    )


def test_without_the_prefix_cache_nothing_is_saved(model_path):
    gen = LlamaCppGenerator(model_path, prefix_cache=False)
    gen.complete(build_messages("When was the lighthouse built?", HITS, 6), max_tokens=4)
    gen.complete([{"role": "user", "content": "Something else entirely. " * 10}], max_tokens=4)
    assert not gen._recent and not gen._states
