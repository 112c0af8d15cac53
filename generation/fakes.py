"""A scripted generator for unit tests and wiring checks: replies from a list, records prompts."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

from generation.llm import Completion, Generator, Piece


class ScriptedGenerator:
    """Returns the scripted replies in order (the last one repeats) and records each call.

    `yes` is the probability it gives the first choice of every `choice_probabilities` call,
    and the probability of replying anything but the given starts in `start_probability` (so
    a probe reads it as "the text answers"); those calls are recorded in `probes`. With
    `judge`, a real generator, the probabilities come from it instead: a planted answer checked
    by the real answerability and support measurements, as the calibration expects them.
    """

    def __init__(
        self, replies: Iterable[str], *, yes: float = 0.9, judge: Generator | None = None
    ) -> None:
        self._replies = list(replies) or [""]
        self.calls: list[dict] = []
        self.kept_prefixes: list[str] = []
        self.yes = yes
        self.judge = judge
        self.probes: list[list[dict]] = []

    def complete(
        self, messages: list[dict], *, grammar: str | None = None, max_tokens: int = 256
    ) -> Completion:
        self.calls.append({"messages": messages, "grammar": grammar, "max_tokens": max_tokens})
        reply = self._replies[min(len(self.calls) - 1, len(self._replies) - 1)]
        return Completion(text=reply, finish_reason="stop")

    def stream(
        self, messages: list[dict], *, grammar: str | None = None, max_tokens: int = 256
    ) -> Iterator[Piece]:
        """The same scripted reply, word by word, as a model would stream it."""
        text = self.complete(messages, grammar=grammar, max_tokens=max_tokens).text
        words = re.findall(r"\S+\s*", text)
        return iter([Piece(w) for w in words] + [Piece("", "stop")])

    def prompt_tokens(self, messages: list[dict]) -> int:
        """A word a token: enough for a usage figure in a test."""
        return sum(len(m["content"].split()) for m in messages)

    def keep_prefix(self, system_text: str) -> None:
        self.kept_prefixes.append(system_text)

    def prepare(self) -> None:
        """Nothing to load."""

    def with_sampling(self, temperature: float, seed: int) -> ScriptedGenerator:
        """Itself: a scripted reply does not depend on sampling."""
        return self

    def choice_probabilities(self, messages: list[dict], choices: Sequence[str]) -> list[float]:
        self.probes.append(messages)
        if self.judge is not None:
            return self.judge.choice_probabilities(messages, choices)
        rest = (1.0 - self.yes) / max(len(choices) - 1, 1)
        return [self.yes] + [rest] * (len(choices) - 1)

    def start_probability(self, messages: list[dict], starts: Sequence[str]) -> float:
        self.probes.append(messages)
        if self.judge is not None:
            return self.judge.start_probability(messages, starts)
        return 1.0 - self.yes
