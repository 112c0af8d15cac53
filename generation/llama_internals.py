"""Everything docqa needs of llama-cpp-python that the library does not publish, in one place.

docqa reuses evaluated prompt prefixes across requests, reads the model's first-token
probabilities without sampling, renders chats with the model's own template, and reads which
tokens are control tokens. llama-cpp-python (pinned: `SUPPORTED_VERSION`) offers none of this
as public API, so each use is a function here, and `check_version` refuses another version
with one line instead of failing somewhere deep in a question. A contract test
(tests/integration/test_llama_internals.py) runs every function on a real model, so an upgrade
shows at once what broke.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from generation.models import ModelError

SUPPORTED_VERSION = "0.3.36"


class UnsupportedLlamaError(ModelError):
    """llama-cpp-python is not the version docqa's use of its internals was written for."""


def check_version() -> None:
    import llama_cpp

    found = getattr(llama_cpp, "__version__", "unknown")
    if found != SUPPORTED_VERSION:
        raise UnsupportedLlamaError(
            f"llama-cpp-python {found} is installed; docqa needs {SUPPORTED_VERSION} "
            f"(pip install llama-cpp-python=={SUPPORTED_VERSION})"
        )


def evaluated(llm: Any) -> Sequence[int]:
    """The tokens the model's context holds, evaluated, in order."""
    return llm._input_ids


def keep_evaluated(llm: Any, tokens: Sequence[int]) -> int:
    """Forget the context past the part it shares with `tokens`; the number of tokens kept."""
    llm.n_tokens = llm.longest_token_prefix(llm._input_ids, tokens)
    return llm.n_tokens


def last_logits(llm: Any):
    """The logits after the last evaluated token, as a float32 array over the vocabulary."""
    import numpy as np

    return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).copy()


@dataclass(frozen=True, slots=True)
class SavedContext:
    """An evaluated context that can be put back: llama.cpp's own state (the KV cache of
    `tokens`, the last logits) and the tokens it holds."""

    tokens: tuple[int, ...]
    data: bytes


def save_context(llm: Any) -> SavedContext:
    """The context as it is now, without llama-cpp-python's `save_state`.

    `Llama.save_state` also copies its `scores` array, one float32 row over the vocabulary per
    evaluated token (75 MB for a 123-token prefix of the default model), and `load_state`
    copies it back and scans the whole 311 MB array to zero the rest: 0.2–0.8 s on two cores,
    paid each time a kept prefix comes back, for rows nothing reads unless the model is loaded
    with `logits_all` (which docqa never does). llama.cpp's state is a few MB.
    """
    import ctypes

    import llama_cpp

    size = llama_cpp.llama_state_get_size(llm._ctx.ctx)
    buffer = (ctypes.c_uint8 * size)()
    written = llama_cpp.llama_state_get_data(llm._ctx.ctx, buffer, size)
    if written > size:
        raise RuntimeError("llama.cpp wrote more state than it asked room for")
    return SavedContext(tuple(evaluated(llm)), bytes(buffer)[:written])


def load_context(llm: Any, saved: SavedContext) -> None:
    """Put a `save_context` back: the context then holds `saved.tokens`, evaluated."""
    import ctypes

    import llama_cpp

    if llm._logits_all:
        raise ValueError("save_context/load_context do not keep the logits of every token")
    size = len(saved.data)
    buffer = (ctypes.c_uint8 * size).from_buffer_copy(saved.data)
    if llama_cpp.llama_state_set_data(llm._ctx.ctx, buffer, size) != size:
        raise RuntimeError("llama.cpp did not take the saved state back")
    llm.input_ids[: len(saved.tokens)] = saved.tokens
    llm.n_tokens = len(saved.tokens)


def render_chat(llm: Any, messages: list[dict]) -> str:
    """The prompt text the model's own chat template makes of `messages`, ending with the
    assistant's turn opened (what `create_chat_completion` would evaluate)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        raise ValueError("the model has no chat template")
    eos = llm.detokenize([llm.token_eos()]).decode(errors="ignore")
    formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token="")
    return formatter(messages=messages).prompt


def control_tokens(llm: Any) -> list[str]:
    """The text of every token the tokenizer only produces with special tokens on (control
    and unknown tokens; user-defined ones match as plain text anyway), for any GGUF."""
    import llama_cpp

    vocab = _vocab(llm)
    special = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN
    return [
        llama_cpp.llama_vocab_get_text(vocab, token).decode(errors="replace")
        for token in range(llm.n_vocab())
        if llama_cpp.llama_vocab_get_attr(vocab, token) & special
    ]


def _vocab(llm: Any):
    import llama_cpp

    return llama_cpp.llama_model_get_vocab(llm.model)


def is_end(llm: Any, token: int) -> bool:
    """Whether `token` ends a turn (end of generation, end of text, the template's own end)."""
    import llama_cpp

    return bool(llama_cpp.llama_vocab_is_eog(_vocab(llm), token))


class GrammarSampler:
    """Chooses each next token under a GBNF grammar the way llama.cpp's own `common_sampler`
    does: first from the model's distribution alone, then asks the grammar about that one token,
    and only when the grammar refuses it filters the whole vocabulary and chooses again.

    llama-cpp-python puts the grammar first in its sampler chain, so the grammar judges all of
    the vocabulary (151,936 tokens for the default model) at every step: ~100 ms a token on two
    cores, which made a cited answer ~3× slower to write than free text (7 against 22 tokens/s).
    Greedy, the two orders choose the same token: the most likely token overall, when the
    grammar allows it, is the most likely allowed one. With a temperature, the token is drawn
    from the same top-k / top-p / min-p distribution llama-cpp-python uses, restricted to what
    the grammar allows whenever the first draw is refused (as llama.cpp's own server does).
    """

    TOP_K, TOP_P, MIN_P = 40, 0.95, 0.05  # llama-cpp-python's defaults for chat completions

    def __init__(self, llm: Any, grammar: str, *, temperature: float = 0.0, seed: int = 0) -> None:
        import ctypes

        import llama_cpp
        import numpy as np

        self._lib, self._ctypes, self._np = llama_cpp, ctypes, np
        self._grammar = llama_cpp.llama_sampler_init_grammar(_vocab(llm), grammar.encode(), b"root")
        if not self._grammar:
            raise ValueError("llama.cpp could not parse the grammar")
        self._chain = None
        if temperature > 0:
            chain = llama_cpp.llama_sampler_chain_init(
                llama_cpp.llama_sampler_chain_default_params()
            )
            for sampler in (
                llama_cpp.llama_sampler_init_top_k(self.TOP_K),
                llama_cpp.llama_sampler_init_top_p(self.TOP_P, 1),
                llama_cpp.llama_sampler_init_min_p(self.MIN_P, 1),
                llama_cpp.llama_sampler_init_temp(temperature),
                llama_cpp.llama_sampler_init_dist(seed),
            ):
                llama_cpp.llama_sampler_chain_add(chain, sampler)
            self._chain = chain
        self._n_vocab = llm.n_vocab()
        self._all = (llama_cpp.llama_token_data * self._n_vocab)()
        self._all_view = np.ctypeslib.as_array(self._all)
        self._ids = np.arange(self._n_vocab, dtype=np.int32)  # the chain sorts them in place
        self._one = (llama_cpp.llama_token_data * 1)()
        self.refused = 0  # how often the first choice was refused (for tests and benchmarks)

    def sample(self, logits) -> int:
        """The next token for these logits (the float32 array over the vocabulary), accepted
        into the grammar's state."""
        token = self._choose(logits, grammar=False)
        if not self._allows(token, float(logits[token])):
            self.refused += 1
            token = self._choose(logits, grammar=True)
        self._lib.llama_sampler_accept(self._grammar, token)
        return token

    def _allows(self, token: int, logit: float) -> bool:
        one = self._one[0]
        one.id, one.logit, one.p = token, logit, 0.0
        candidates = self._lib.llama_token_data_array(self._one, 1, -1, False)
        self._lib.llama_sampler_apply(self._grammar, self._ctypes.byref(candidates))
        return one.logit != float("-inf")

    def _choose(self, logits, *, grammar: bool) -> int:
        if self._chain is None and not grammar:
            return int(self._np.argmax(logits))
        view = self._all_view
        view["id"] = self._ids
        view["logit"] = logits
        view["p"] = 0.0
        candidates = self._lib.llama_token_data_array(self._all, self._n_vocab, -1, False)
        if grammar:
            self._lib.llama_sampler_apply(self._grammar, self._ctypes.byref(candidates))
        if self._chain is None:
            return int(self._np.argmax(view["logit"]))
        self._lib.llama_sampler_apply(self._chain, self._ctypes.byref(candidates))
        return int(candidates.data[candidates.selected].id)

    def close(self) -> None:
        """Free llama.cpp's samplers (the generation loop calls this in a `finally`)."""
        if self._grammar:
            self._lib.llama_sampler_free(self._grammar)
            self._grammar = None
        if self._chain:
            self._lib.llama_sampler_free(self._chain)
            self._chain = None
