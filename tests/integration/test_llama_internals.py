"""The contract docqa relies on in llama-cpp-python's unpublished internals, on a real model:
an upgrade that changes any of it fails here, by name, instead of inside a question."""

from __future__ import annotations

import pytest

from docqa.config import Settings
from generation import llama_internals as internals
from generation.models import resolve_model

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def llm():
    from llama_cpp import Llama

    path = resolve_model("smollm2-135m", Settings.load(env={}).model_cache)
    return Llama(model_path=str(path), n_ctx=512, n_threads=2, verbose=False, seed=0)


def test_the_installed_version_is_the_supported_one():
    internals.check_version()


def test_the_chat_template_renders_with_the_assistant_turn_open(llm):
    prompt = internals.render_chat(
        llm,
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}],
    )
    assert "Be brief." in prompt and "Name a colour." in prompt
    assert prompt.rstrip().endswith("assistant")


def test_control_tokens_are_read_from_the_vocabulary(llm):
    tokens = internals.control_tokens(llm)
    assert {"<|im_start|>", "<|im_end|>", "<|endoftext|>"} <= set(tokens)
    assert "the" not in tokens


def test_the_evaluated_prefix_is_kept_and_the_logits_are_the_next_tokens(llm):
    prompt = internals.render_chat(llm, [{"role": "user", "content": "Say hello."}])
    tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    llm.reset()
    llm.eval(tokens)
    assert list(internals.evaluated(llm)) == tokens
    assert internals.keep_evaluated(llm, [*tokens[:-2], -1]) == len(tokens) - 2
    llm.eval(tokens[len(tokens) - 2 :])
    logits = internals.last_logits(llm)
    assert logits.shape == (llm.n_vocab(),)
    greedy = llm.create_completion(tokens, max_tokens=1, temperature=0.0)["choices"][0]["text"]
    assert llm.detokenize([int(logits.argmax())]).decode(errors="ignore") == greedy


def test_a_saved_context_comes_back_evaluated_after_another_prompt(llm):
    first = llm.tokenize(
        internals.render_chat(llm, [{"role": "user", "content": "Name a colour."}]).encode(),
        add_bos=False,
        special=True,
    )
    llm.reset()
    llm.eval(first)
    token = int(internals.last_logits(llm).argmax())
    saved = internals.save_context(llm)
    assert saved.tokens == tuple(first)
    llm.eval([token])
    straight = internals.last_logits(llm)

    llm.reset()
    llm.eval(llm.tokenize(b"Something else entirely, and longer than before.", add_bos=False))
    internals.load_context(llm, saved)

    assert list(internals.evaluated(llm)) == first
    # The context continues as if the prompt had just been evaluated (its last logits are not
    # part of the contract: docqa always evaluates a token after loading).
    llm.eval([token])
    assert (internals.last_logits(llm) == straight).all()


def test_another_version_is_refused_in_one_line(monkeypatch):
    import llama_cpp

    monkeypatch.setattr(llama_cpp, "__version__", "0.4.0")
    with pytest.raises(
        internals.UnsupportedLlamaError,
        match=r"^llama-cpp-python 0\.4\.0 is "
        r"installed; docqa needs 0\.3\.36 \(pip install [^\n]*\)$",
    ):
        internals.check_version()
