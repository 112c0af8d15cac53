"""A scripted generator for unit tests and wiring checks: replies from a list, records prompts."""

from __future__ import annotations

from collections.abc import Iterable

from generation.llm import Completion


class ScriptedGenerator:
    """Returns the scripted replies in order (the last one repeats) and records each call."""

    def __init__(self, replies: Iterable[str]) -> None:
        self._replies = list(replies) or [""]
        self.calls: list[dict] = []

    def complete(
        self, messages: list[dict], *, grammar: str | None = None, max_tokens: int = 256
    ) -> Completion:
        self.calls.append({"messages": messages, "grammar": grammar, "max_tokens": max_tokens})
        reply = self._replies[min(len(self.calls) - 1, len(self._replies) - 1)]
        return Completion(text=reply, finish_reason="stop")
