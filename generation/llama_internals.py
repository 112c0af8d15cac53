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

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    special = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN
    return [
        llama_cpp.llama_vocab_get_text(vocab, token).decode(errors="replace")
        for token in range(llm.n_vocab())
        if llama_cpp.llama_vocab_get_attr(vocab, token) & special
    ]
