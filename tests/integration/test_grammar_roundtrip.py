"""The citation grammar and its parser agree: whatever llama.cpp lets a model write under the
grammar, the parser reads back whole — every sentence, with the citations it ended with — and
the rendered answer reads back the same.

The outputs come from llama.cpp's own grammar engine sampling the small model at a high
temperature, so they cover what the grammar admits rather than what a mirror of it in Python
would produce.
"""

from __future__ import annotations

import re

import pytest

from docqa.config import Settings
from generation.answerer import render
from generation.grammar import answer_grammar, parse_answer
from generation.models import resolve_model
from generation.types import ABSTENTION

pytestmark = pytest.mark.integration

SOURCES = 3
PROMPTS = [
    "Write two short cited sentences about the ferry at 7:40 a.m. and the pier.",
    "Answer with numbers like 3.5 and versions like v1.2, citing sources.",
    "Dr. Hale met Mr. Thornton, e.g. at the mill. Cite your sources.",
    "Say something about the harbour crane.",
]


def test_every_grammatical_output_parses_back_whole():
    from llama_cpp import Llama, LlamaGrammar

    path = resolve_model("smollm2-135m", Settings.load(env={}).model_cache)
    llm = Llama(model_path=str(path), n_ctx=512, n_threads=2, verbose=False, seed=0)
    grammar = LlamaGrammar.from_string(answer_grammar(SOURCES, 2), verbose=False)
    checked = 0
    for seed in range(10):
        out = llm.create_completion(
            PROMPTS[seed % len(PROMPTS)] + "\n",
            grammar=grammar,
            temperature=1.0,
            max_tokens=100,
            seed=seed,
        )["choices"][0]
        if out["finish_reason"] != "stop":
            continue  # cut by max_tokens: the parser keeps complete sentences, tested elsewhere
        text = out["text"]
        parsed = parse_answer(text, SOURCES)
        if text.strip() == ABSTENTION:
            assert parsed.abstained
            continue
        groups = re.findall(r"(?:\[\d\])+", text)
        assert len(parsed.sentences) == len(groups), text
        for sentence, group in zip(parsed.sentences, groups, strict=True):
            assert sentence.citations == tuple(
                dict.fromkeys(int(n) for n in re.findall(r"\d", group))
            ), text
        again = parse_answer(render(list(parsed.sentences)), SOURCES)
        assert again.sentences == parsed.sentences, text
        checked += 1
    assert checked >= 5, f"only {checked} complete answers were sampled"
