"""Generators: the `Generator` protocol and the in-process llama.cpp implementation.

The model is loaded lazily and kept for the life of the object, so a UI or an evaluation run
pays the load once. Generation under a grammar runs docqa's own sampling loop
(`llama_internals.GrammarSampler`), which asks the grammar about the chosen token instead of
the whole vocabulary: the same greedy tokens, three times as fast.

Evaluating the prompt is most of the time to the first token on a CPU. llama.cpp already reuses
the part of the prompt that the previous request shared; `keep_prefix` extends that across
different requests in between (a follow-up's rewrite, the fact-check's judge): the evaluated
state of a declared fixed prefix — the answer prompt's instructions — is saved once and
loaded when the context no longer holds it. A context that a request is about to overwrite is
saved too (the last `RECENT_CONTEXTS` of them), so that a later request continuing it — the
support check's answer-prompt judge after the window judge has had the context — reads only its
own tokens. llama.cpp's state of a few hundred tokens is a few MB: saving or loading one takes
milliseconds, evaluating it seconds.
"""

from __future__ import annotations

import codecs
import copy
import logging
import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from generation import llama_internals as internals
from generation.control import ControlStrings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    finish_reason: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Piece:
    """A piece of a streamed completion; the last one carries the finish reason and, where
    the generator counts them, the prompt's and the completion's tokens."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


class PromptTooLongError(ValueError):
    """The prompt leaves no room for the answer in the model's context window."""


class Generator(Protocol):
    """Completes a chat, optionally constrained by a GBNF grammar."""

    def complete(
        self, messages: list[dict], *, grammar: str | None = None, max_tokens: int = 256
    ) -> Completion: ...

    def stream(
        self, messages: list[dict], *, grammar: str | None = None, max_tokens: int = 256
    ) -> Iterator[Piece]:
        """Like `complete`, yielding text as it is generated. A prompt that does not fit raises
        `PromptTooLongError` from this call, before any piece, so the caller can shorten it."""
        ...

    def prompt_tokens(self, messages: list[dict]) -> int | None:
        """The tokens `messages` cost as a prompt, chat template included: the usage of an
        answer that stopped before writing, whose prompt the answerability probes still read.
        None where counting would take a round trip to a model server."""
        ...

    def keep_prefix(self, system_text: str) -> None:
        """Prompts whose system message starts with `system_text` will recur: a generator that
        can keep their evaluated state should (a hint; ignoring it is correct)."""
        ...

    def start_probability(self, messages: list[dict], starts: Sequence[str]) -> float:
        """The probability, over the whole vocabulary, that the reply's first token is the
        first token of one of `starts` (in lower, capitalised or upper case): the model's own
        confidence, read without sampling. The probes that measure answerability and support
        are built on it."""
        ...

    def prepare(self) -> None:
        """Do now the slow work the first prompt would otherwise wait for (loading a model,
        evaluating kept prefixes), for a server that can do it while nobody waits. A generator
        with nothing to prepare returns at once."""
        ...

    def with_sampling(self, temperature: float, seed: int) -> Generator:
        """The same model with other sampling settings, sharing what is loaded: a temperature
        change in the chat must not load a second copy of the weights."""
        ...


MAX_KEPT_PREFIXES = 4
RECENT_CONTEXTS = 3  # overwritten contexts kept to come back to (~10 MB each at 350 tokens)
RECENT_MAX_BYTES = 96 * 2**20  # and no more than this in all: long contexts are the rare ones
MIN_SAVED_TOKENS = 32  # a shorter tail is cheaper to evaluate again than to keep track of
_PREFIX_END = "\ue000"  # a private-use character no prompt contains: marks the cut


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
        prefix_cache: bool = True,
    ) -> None:
        self.model_path = Path(model_path)
        self._n_ctx = n_ctx
        self._n_threads = n_threads or os.cpu_count() or 1
        self._temperature = temperature
        self._seed = seed
        self._llm = None
        self._prefix_cache = prefix_cache
        self._prefixes: dict[str, tuple[int, ...] | None] = {}  # system text → its tokens
        self._states: dict[tuple[int, ...], internals.SavedContext] = {}  # prefix → its state
        self._recent: OrderedDict[tuple[int, ...], internals.SavedContext] = OrderedDict()
        self._control: ControlStrings | None = None

    def keep_prefix(self, system_text: str) -> None:
        if (
            self._prefix_cache
            and system_text not in self._prefixes
            and len(self._prefixes) < MAX_KEPT_PREFIXES
        ):
            self._prefixes[system_text] = None  # tokenized on first use: no model load here

    def _reuse_prefix(self, messages: list[dict], tokens: Sequence[int] | None = None) -> None:
        """Put in the context the evaluated state that shares the longest start with this
        prompt — a kept prefix (evaluated and saved the first time) or a recently overwritten
        context — when the context itself shares less; and save the context first when the
        prompt is about to overwrite a long part of it."""
        if not self._prefix_cache:
            return
        llm = self._load()
        if tokens is None:
            tokens = llm.tokenize(self._chat_prompt(messages).encode(), add_bos=False, special=True)
        held = internals.evaluated(llm)
        shared = llm.longest_token_prefix(held, tokens)
        best: tuple[int, ...] | internals.SavedContext | None = None
        best_shared = shared
        for text in self._prefixes:
            prefix = self._prefix_tokens(text)
            if prefix and len(prefix) > best_shared and tuple(tokens[: len(prefix)]) == prefix:
                best, best_shared = prefix, len(prefix)  # its state: saved the first time
        for saved in self._recent.values():
            common = llm.longest_token_prefix(saved.tokens, tokens)
            if common > best_shared:
                best, best_shared = saved, common
        if len(held) - shared >= MIN_SAVED_TOKENS:
            self._remember(internals.save_context(llm))  # before anything overwrites it
        if isinstance(best, internals.SavedContext):
            self._remember(best)  # the most recently used: the last to be dropped
            internals.load_context(llm, best)
        elif best is not None:
            internals.load_context(llm, self._state(best))

    def _remember(self, saved: internals.SavedContext) -> None:
        """Keep `saved` as the newest of the last `RECENT_CONTEXTS` contexts."""
        self._recent.pop(saved.tokens, None)
        self._recent[saved.tokens] = saved

        def size() -> int:
            return sum(len(c.data) for c in self._recent.values())

        while len(self._recent) > RECENT_CONTEXTS or (
            len(self._recent) > 1 and size() > RECENT_MAX_BYTES
        ):
            self._recent.popitem(last=False)

    def prepare(self) -> None:
        """Load the model and evaluate every kept prefix now, so that the first question does
        not pay for either (the chat UI calls this while the page loads)."""
        for text in self._prefixes:
            if prefix := self._prefix_tokens(text):
                self._state(prefix)

    def _state(self, prefix: tuple[int, ...]) -> internals.SavedContext:
        """The saved state of `prefix`, evaluated the first time (which leaves it in the
        context, as loading it would)."""
        if prefix not in self._states:
            llm = self._load()
            llm.reset()
            llm.eval(list(prefix))
            self._states[prefix] = internals.save_context(llm)
        return self._states[prefix]

    def _prefix_tokens(self, text: str) -> tuple[int, ...]:
        tokens = self._prefixes[text]
        if tokens is None:
            prompt = self._chat_prompt([{"role": "system", "content": text + _PREFIX_END}])
            cut = prompt.split(_PREFIX_END, 1)[0]
            ids = self._load().tokenize(cut.encode(), add_bos=False, special=True)
            # The last token may merge with what follows the cut in a real prompt: leave it out.
            tokens = self._prefixes[text] = tuple(ids[:-1])
        return tokens

    def with_sampling(self, temperature: float, seed: int) -> LlamaCppGenerator:
        """The same loaded model with other sampling settings: a temperature change in the UI
        must not load a second copy of the weights."""
        other = copy.copy(self)
        other._temperature, other._seed = temperature, seed
        return other

    def _load(self):
        if self._llm is None:
            from llama_cpp import Llama

            internals.check_version()
            log.info("loading %s", self.model_path)
            self._llm = Llama(
                model_path=str(self.model_path),
                n_ctx=self._n_ctx,
                n_threads=self._n_threads,
                seed=self._seed,
                verbose=False,
            )
            self._control = ControlStrings(internals.control_tokens(self._llm))
        return self._llm

    def _safe(self, messages: list[dict]) -> list[dict]:
        """The messages with this model's control strings neutralised: llama-cpp-python
        tokenizes a rendered chat with special tokens on, and a document must not be able to
        close a turn (see generation.control)."""
        self._load()
        assert self._control is not None
        return self._control.messages(messages)

    def choice_probabilities(self, messages: list[dict], choices: Sequence[str]) -> list[float]:
        """Probability of each choice as the reply's first token, read from the logits and
        renormalised over the choices.

        One prompt evaluation, no sampling: the model's own confidence, not a sampled word.
        Each choice counts with its capitalised variant ("yes" and "Yes").
        """
        import numpy as np

        logits = self._first_logits(messages)
        scores = [
            np.logaddexp.reduce([float(logits[i]) for i in self._first_ids((c, c.capitalize()))])
            for c in choices
        ]
        exp = np.exp(np.asarray(scores) - max(scores))
        return (exp / exp.sum()).tolist()

    def start_probability(self, messages: list[dict], starts: Sequence[str]) -> float:
        import numpy as np

        logits = self._first_logits(messages).astype(np.float64)
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        variants = [v for s in starts for v in (s, s.capitalize(), s.upper())]
        return float(sum(probabilities[i] for i in self._first_ids(variants)))

    def _first_ids(self, texts: Sequence[str]) -> set[int]:
        llm = self._load()
        return {llm.tokenize(t.encode(), add_bos=False)[0] for t in texts}

    def _first_logits(self, messages: list[dict]):
        """The logits for the reply's first token: one prompt evaluation, reusing the part of
        it the context already holds."""
        llm = self._load()
        tokens = llm.tokenize(self._chat_prompt(messages).encode(), add_bos=False, special=True)
        if len(tokens) >= self._n_ctx:
            raise PromptTooLongError(
                f"prompt of {len(tokens)} tokens exceeds the context of {self._n_ctx}"
            )
        self._reuse_prefix(messages, tokens)
        # Always evaluate at least the last token, so the logits belong to this prompt.
        kept = internals.keep_evaluated(llm, tokens[:-1])
        llm.eval(tokens[kept:])
        return internals.last_logits(llm)

    def _chat_prompt(self, messages: list[dict]) -> str:
        try:
            return internals.render_chat(self._load(), self._safe(messages))
        except ValueError as exc:
            raise ValueError(f"{self.model_path.name}: {exc}") from None

    def count_tokens(self, text: str) -> int:
        return len(self._load().tokenize(text.encode(), add_bos=False, special=True))

    def prompt_tokens(self, messages: list[dict]) -> int:
        return self.count_tokens(self._chat_prompt(messages))

    def complete(
        self, messages: list[dict], *, grammar: str | None = None, max_tokens: int = 256
    ) -> Completion:
        if grammar is not None:
            pieces = list(self.stream(messages, grammar=grammar, max_tokens=max_tokens))
            last = pieces[-1]
            return Completion(
                text="".join(p.text for p in pieces),
                finish_reason=last.finish_reason or "",
                prompt_tokens=last.prompt_tokens,
                completion_tokens=last.completion_tokens,
            )
        result = self._load().create_chat_completion(**self._request(messages, max_tokens))
        choice = result["choices"][0]
        usage = result.get("usage", {})
        return Completion(
            text=choice["message"]["content"] or "",
            finish_reason=choice.get("finish_reason") or "",
            prompt_tokens=usage.get("prompt_tokens", 0),
            completion_tokens=usage.get("completion_tokens", 0),
        )

    def stream(
        self, messages: list[dict], *, grammar: str | None = None, max_tokens: int = 256
    ) -> Iterator[Piece]:
        if grammar is not None:
            return self._constrained(messages, grammar, max_tokens)
        request = self._request(messages, max_tokens)  # raises before streaming
        prompt_tokens = self.prompt_tokens(messages)
        chunks = self._load().create_chat_completion(**request, stream=True)

        def pieces() -> Iterator[Piece]:
            written = []
            for chunk in chunks:
                choice = chunk["choices"][0]
                text = choice.get("delta", {}).get("content") or ""
                written.append(text)
                if reason := choice.get("finish_reason"):
                    completion = self.count_tokens("".join(written))
                    yield Piece(text, reason, prompt_tokens, completion)
                elif text:
                    yield Piece(text)

        return pieces()

    def _constrained(self, messages: list[dict], grammar: str, max_tokens: int) -> Iterator[Piece]:
        """Generation under a grammar with docqa's own loop: llama-cpp-python's filters the
        whole vocabulary through the grammar at every token (see `GrammarSampler`). The prompt
        is checked here, before the first piece; it is evaluated when the first is asked for."""
        self._check_fits(messages, max_tokens)
        llm = self._load()
        tokens = llm.tokenize(self._chat_prompt(messages).encode(), add_bos=False, special=True)

        def pieces() -> Iterator[Piece]:
            self._reuse_prefix(messages, tokens)
            llm.eval(tokens[internals.keep_evaluated(llm, tokens[:-1]) :])
            sampler = internals.GrammarSampler(
                llm, grammar, temperature=self._temperature, seed=self._seed
            )
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            written, finish = 0, "length"
            try:
                while written < max_tokens:
                    token = sampler.sample(internals.last_logits(llm))
                    if internals.is_end(llm, token):
                        finish = "stop"
                        break
                    written += 1
                    if text := decoder.decode(llm.detokenize([token])):
                        yield Piece(text)
                    if written < max_tokens:
                        llm.eval([token])
            finally:
                sampler.close()
            yield Piece(decoder.decode(b"", final=True), finish, len(tokens), written)

        return pieces()

    def _check_fits(self, messages: list[dict], max_tokens: int) -> None:
        prompt_tokens = sum(self.count_tokens(m["content"]) + 8 for m in messages)
        if prompt_tokens + max_tokens > self._n_ctx:
            raise PromptTooLongError(
                f"prompt of ~{prompt_tokens} tokens + {max_tokens} for the answer exceeds the "
                f"context of {self._n_ctx}"
            )

    def _request(self, messages: list[dict], max_tokens: int) -> dict:
        self._check_fits(messages, max_tokens)
        messages = self._safe(messages)
        self._reuse_prefix(messages)
        return {
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": self._temperature,
            "seed": self._seed,
        }
