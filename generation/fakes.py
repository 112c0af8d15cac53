"""A scripted generator for unit tests and wiring checks: replies from a list, records prompts."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from generation.llm import Completion, Piece


class ScriptedGenerator:
    """Returns the scripted replies in order (the last one repeats) and records each call."""

    def __init__(self, replies: Iterable[str]) -> None:
        self._replies = list(replies) or [""]
        self.calls: list[dict] = []
        self.kept_prefixes: list[str] = []

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

    def keep_prefix(self, system_text: str) -> None:
        self.kept_prefixes.append(system_text)
