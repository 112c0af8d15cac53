"""Generators: the `Generator` protocol and the in-process llama.cpp implementation.

The model is loaded lazily and kept for the life of the object, so a UI or an evaluation run
pays the load once. Grammars are compiled once per distinct grammar text.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    finish_reason: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class PromptTooLongError(ValueError):
    """The prompt leaves no room for the answer in the model's context window."""


class Generator(Protocol):
    """Completes a chat, optionally constrained by a GBNF grammar."""

    def complete(
        self, messages: list[dict], *, grammar: str | None = None, max_tokens: int = 256
    ) -> Completion:
        ...


class LlamaCppGenerator:
    """A GGUF model run in-process through llama-cpp-python, on the CPU."""

    def __init__(
        self,
        model_path: Path,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.model_path = Path(model_path)
        self._n_ctx = n_ctx
        self._n_threads = n_threads or os.cpu_count() or 1
        self._temperature = temperature
        self._seed = seed
        self._llm = None
        self._grammars: dict[str, object] = {}

    def _load(self):
        if self._llm is None:
            from llama_cpp import Llama

            log.info("loading %s", self.model_path)
            self._llm = Llama(
                model_path=str(self.model_path), n_ctx=self._n_ctx, n_threads=self._n_threads,
                seed=self._seed, verbose=False,
            )
        return self._llm

    def _grammar(self, text: str):
        if text not in self._grammars:
            from llama_cpp import LlamaGrammar

            self._grammars[text] = LlamaGrammar.from_string(text, verbose=False)
        return self._grammars[text]

    def count_tokens(self, text: str) -> int:
        return len(self._load().tokenize(text.encode(), add_bos=False, special=True))

    def complete(
        self, messages: list[dict], *, grammar: str | None = None, max_tokens: int = 256
    ) -> Completion:
        llm = self._load()
        prompt_tokens = sum(self.count_tokens(m["content"]) + 8 for m in messages)
        if prompt_tokens + max_tokens > self._n_ctx:
            raise PromptTooLongError(
                f"prompt of ~{prompt_tokens} tokens + {max_tokens} for the answer exceeds the "
                f"context of {self._n_ctx}"
            )
        result = llm.create_chat_completion(
            messages=messages,
            grammar=self._grammar(grammar) if grammar else None,
            max_tokens=max_tokens,
            temperature=self._temperature,
            seed=self._seed,
        )
        choice = result["choices"][0]
        usage = result.get("usage", {})
        return Completion(
            text=choice["message"]["content"] or "",
            finish_reason=choice.get("finish_reason") or "",
            prompt_tokens=usage.get("prompt_tokens", 0),
            completion_tokens=usage.get("completion_tokens", 0),
        )
