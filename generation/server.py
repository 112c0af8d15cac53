"""A generator that talks to an OpenAI-compatible chat-completions server over HTTP.

For a model too large for the machine docqa runs on, or one already served to several users
(llama.cpp's `llama-server`, `python -m llama_cpp.server`, vLLM, …). Retrieval, the prompt,
the citation grammar, parsing and the fact-check are unchanged: only where the tokens come from
differs.

Servers disagree on three things this module papers over:

* How a GBNF grammar is sent: llama.cpp takes a top-level "grammar", vLLM "guided_grammar";
  some servers take none. `grammar_field` names the field ("none": send nothing, and the
  answer is parsed and fact-checked as the model wrote it).
* How a prompt that does not fit is reported: a 400 whose message speaks of the context
  window; llama-cpp-python's server only reports it for a non-streamed request (a streamed one
  answers 200 and then closes without an event), so `stream` reads up to the first event before
  returning and asks again without streaming when there was none.
* Prompt caching: every server keeps its own, so `keep_prefix` has nothing to do here.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import re
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import httpx

from core.errors import DocqaError
from generation.control import ControlStrings
from generation.llm import Completion, Piece, PromptTooLongError

log = logging.getLogger(__name__)

GrammarField = Literal["grammar", "guided_grammar", "none"]

TOP_LOGPROBS = 20  # vLLM's default cap on top_logprobs; enough to hold "yes" and "no"
CHOICE_FLOOR = 1e-6  # probability of a choice absent from the top tokens: keeps the ratio defined

# llama-cpp-python: "This model's maximum context length is 4096 tokens…" (code
# context_length_exceeded); vLLM: "…maximum context length…" or "…(context length 2048)";
# llama.cpp's llama-server: "the request exceeds the available context size".
_CONTEXT_ERROR = re.compile(
    r"context[ _-]?(length|window|size)|exceed_context|context_length_exceeded", re.IGNORECASE
)


class ServerError(DocqaError, RuntimeError):
    """The generation server could not be reached, or refused a request for a reason other than
    the prompt's length; the message names the URL and the reason on one line."""


_CONTROL = ControlStrings()
_END = object()  # the stream's "data: [DONE]"
# A connection closed ("Server disconnected") or reset (ECONNRESET) under a request or stream.
_DROPPED_CONNECTION = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class ServerGenerator:
    """The `Generator` protocol (and the judge's `choice_probabilities`) over HTTP.

    One `httpx.Client` per generator, reused for every request, so a conversation keeps its
    connection open; `with_sampling` copies share it.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        grammar_field: GrammarField = "grammar",
        timeout_s: float = 300.0,
        temperature: float = 0.0,
        seed: int = 0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if grammar_field not in ("grammar", "guided_grammar", "none"):
            raise ValueError(f"unknown grammar field {grammar_field!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._url = f"{self.base_url}/chat/completions"
        self._grammar_field = grammar_field
        self._timeout_s = timeout_s
        self._temperature = temperature
        self._seed = seed
        self._warned_grammar = False
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # A non-streamed answer arrives in one piece, so the read timeout has to cover a whole
        # generation; connecting, though, is instant or never.
        self._client = httpx.Client(
            headers=headers,
            transport=transport,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
        )

    def __repr__(self) -> str:
        return f"{self.model} at {self.base_url}"

    def prompt_tokens(self, messages: list[dict]) -> None:
        """Not counted: the server's tokenizer is a round trip away, and the answers it writes
        carry the server's own count."""
        return None

    def keep_prefix(self, system_text: str) -> None:
        """Nothing to do: the server keeps its own prompt cache (llama.cpp reuses the longest
        common prefix of the previous prompt, vLLM caches prefixes by hash)."""

    def prepare(self) -> None:
        """Nothing to load: the server holds the model."""

    def with_sampling(self, temperature: float, seed: int) -> ServerGenerator:
        """The same server and connection pool with other sampling settings."""
        other = copy.copy(self)
        other._temperature, other._seed = temperature, seed
        return other

    def close(self) -> None:
        self._client.close()

    # ---- the Generator protocol -------------------------------------------------------------
    def complete(
        self, messages: list[dict], *, grammar: str | None = None, max_tokens: int = 256
    ) -> Completion:
        data = self._post(self._body(messages, grammar, max_tokens))
        choice = _first_choice(data, self._url)
        usage = data.get("usage") or {}
        return Completion(
            text=(choice.get("message") or {}).get("content") or "",
            finish_reason=choice.get("finish_reason") or "",
            prompt_tokens=usage.get("prompt_tokens") or 0,
            completion_tokens=usage.get("completion_tokens") or 0,
        )

    def stream(
        self, messages: list[dict], *, grammar: str | None = None, max_tokens: int = 256
    ) -> Iterator[Piece]:
        """Like `complete`, yielding text as it arrives. The request is sent, its status checked
        and the first event read before this returns, so a prompt that does not fit raises
        `PromptTooLongError` here, before any piece (with llama-cpp-python's server the call
        therefore returns after the first token)."""
        body = self._body(messages, grammar, max_tokens)
        response = self._send({**body, "stream": True}, stream=True)
        lines = response.iter_lines()
        try:
            first = self._next_event(lines, first=True)
        except BaseException:
            response.close()
            raise
        if first is None:
            response.close()
            self._explain_empty_stream(body)
        return self._pieces(response, lines, first)

    # ---- the judge --------------------------------------------------------------------------
    def choice_probabilities(self, messages: list[dict], choices: Sequence[str]) -> list[float]:
        """Probability of each choice as the reply's first token, from the server's logprobs.

        One request, one generated token: the model's own confidence, not a sampled word. Each
        choice counts with its capitalised variant ("yes" and "Yes", with or without a leading
        space), renormalised over the choices. A choice missing from the top tokens gets a small
        floor; when every choice is missing, all are 0 (the judge then finds no support).
        """
        top = self._top_logprobs(messages)
        scores = [0.0] * len(choices)
        for entry in top:
            token = str(entry.get("token", "")).lstrip()
            for i, choice in enumerate(choices):
                if token in (choice, choice.capitalize()):
                    scores[i] += math.exp(float(entry["logprob"]))
        if not any(scores):
            # The model wants to say something else altogether: no evidence for any choice,
            # so the judge reads p(yes) = 0 rather than a coin toss that passes its threshold.
            log.debug("none of %s among the top %d tokens", list(choices), len(top))
            return [0.0] * len(choices)
        scores = [max(s, CHOICE_FLOOR) for s in scores]
        total = sum(scores)
        return [s / total for s in scores]

    def start_probability(self, messages: list[dict], starts: Sequence[str]) -> float:
        """The probability that the reply's first token is one of `starts` (any case), summed
        over the server's top logprobs; a start outside them counts as 0 (the model prefers
        something else). A start the server's tokenizer splits is not found: use whole words
        such as "none"."""
        variants = {v for s in starts for v in (s, s.capitalize(), s.upper())}
        total = sum(
            math.exp(float(e["logprob"]))
            for e in self._top_logprobs(messages)
            if str(e.get("token", "")).lstrip() in variants
        )
        return min(total, 1.0)

    def _top_logprobs(self, messages: list[dict]) -> list[dict]:
        body = {
            **self._body(messages, None, 1),
            "temperature": 0.0,
            "logprobs": True,
            "top_logprobs": TOP_LOGPROBS,
        }
        data = self._post(body)
        try:
            return _first_choice(data, self._url)["logprobs"]["content"][0]["top_logprobs"]
        except (KeyError, IndexError, TypeError) as exc:
            raise ServerError(
                f"{self._url} returned no top_logprobs; docqa's checks need a "
                "server that supports logprobs"
            ) from exc

    # ---- HTTP -------------------------------------------------------------------------------
    def _body(self, messages: list[dict], grammar: str | None, max_tokens: int) -> dict:
        body: dict[str, Any] = {
            # The server renders and tokenizes the chat; the model's vocabulary is not visible
            # from here, so the common templates' control strings are what is neutralised.
            "model": self.model,
            "messages": _CONTROL.messages(messages),
            "max_tokens": max_tokens,
            "temperature": self._temperature,
            "seed": self._seed,
        }
        if grammar:
            if self._grammar_field != "none":
                body[self._grammar_field] = grammar
            elif not self._warned_grammar:
                self._warned_grammar = True
                log.warning(
                    "%s: grammar not sent (server_grammar = 'none'); answers are "
                    "parsed and fact-checked as the model writes them",
                    self.base_url,
                )
        return body

    def _post(self, body: dict) -> dict:
        response = self._send(body, stream=False)
        try:
            return response.json()
        except ValueError as exc:
            raise ServerError(
                f"{self._url} answered with something other than JSON: {_one_line(response.text)}"
            ) from exc

    def _send(self, body: dict, *, stream: bool) -> httpx.Response:
        """The response to `body`, its status checked: a context overflow becomes
        `PromptTooLongError`, any other failure `ServerError`."""
        request = self._client.build_request("POST", self._url, json=body)
        try:
            try:
                response = self._client.send(request, stream=stream)
            except _DROPPED_CONNECTION:
                # A kept-alive connection the server closed or reset as the request went out
                # (llama-cpp-python's does after a failed stream): nothing was answered, so
                # send it once more, on a new connection. A chat completion changes nothing on
                # the server, so sending it twice is safe.
                log.debug("%s: connection dropped by the server; sending again", self._url)
                response = self._client.send(request, stream=stream)
        except httpx.TimeoutException as exc:
            raise ServerError(
                f"{self._url}: no answer within {self._timeout_s:g} s ({type(exc).__name__})"
            ) from exc
        except httpx.HTTPError as exc:
            raise ServerError(
                f"cannot reach the generation server at {self._url}: "
                f"{_one_line(str(exc)) or type(exc).__name__}"
            ) from exc
        if response.status_code < 400:
            return response
        try:
            response.read()
        except httpx.HTTPError:
            pass
        finally:
            response.close()
        message = _error_message(response)
        if response.status_code in (400, 413) and _CONTEXT_ERROR.search(message):
            raise PromptTooLongError(f"{self._url}: {message}")
        raise ServerError(
            f"{self._url} answered {response.status_code} {response.reason_phrase}: {message}"
        )

    def _next_event(self, lines: Iterator[str], *, first: bool = False) -> dict | object | None:
        """The next `data:` payload (a dict, or `_END` for [DONE]); None when the stream ends.

        Comments (": ping") and other SSE fields are skipped. A connection dropped before the
        first event reads as an empty stream, which the caller investigates.
        """
        try:
            for line in lines:
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    return _END
                try:
                    event = json.loads(payload)
                except ValueError as exc:
                    raise ServerError(
                        f"{self._url} streamed an unreadable event: {_one_line(payload)}"
                    ) from exc
                if isinstance(event, dict) and event.get("error"):
                    message = _error_text(event["error"])
                    if first and _CONTEXT_ERROR.search(message):
                        raise PromptTooLongError(f"{self._url}: {message}")
                    raise ServerError(f"{self._url} reported an error mid-stream: {message}")
                return event
        except _DROPPED_CONNECTION as exc:
            if first:
                return None
            raise ServerError(f"{self._url} closed the stream early: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise ServerError(
                f"{self._url}: no streamed data within {self._timeout_s:g} s"
            ) from exc
        except httpx.HTTPError as exc:
            raise ServerError(f"{self._url}: the stream failed: {_one_line(str(exc))}") from exc
        return None

    def _pieces(
        self, response: httpx.Response, lines: Iterator[str], event: dict | object
    ) -> Iterator[Piece]:
        try:
            finished = False
            while event is not None and event is not _END:
                choices = event.get("choices") or []  # type: ignore[union-attr]
                usage = event.get("usage") or {}  # type: ignore[union-attr]
                if usage:  # a server that counts says so in the last chunk(s)
                    yield Piece(
                        "",
                        None,
                        usage.get("prompt_tokens") or 0,
                        usage.get("completion_tokens") or 0,
                    )
                if choices:  # a usage-only chunk has none
                    choice = choices[0]
                    text = (choice.get("delta") or {}).get("content") or ""
                    reason = choice.get("finish_reason")
                    finished = finished or bool(reason)
                    if text or reason:
                        yield Piece(text, reason)
                event = self._next_event(lines)
            if event is None and not finished:
                raise ServerError(f"{self._url} ended the stream before the answer finished")
        finally:
            response.close()

    def _explain_empty_stream(self, body: dict) -> None:
        """A stream that ended before its first event: llama-cpp-python's server does that when
        the prompt does not fit, and says why only to a plain request, so ask one (a single
        token, so it costs a prompt evaluation at most)."""
        self._post({**body, "max_tokens": 1})
        raise ServerError(f"{self._url} ended the stream before sending anything")


def _first_choice(data: Any, url: str) -> dict:
    try:
        choice = data["choices"][0]
    except (KeyError, IndexError, TypeError) as exc:
        raise ServerError(f"{url} answered without choices: {_one_line(json.dumps(data))}") from exc
    if not isinstance(choice, dict):
        raise ServerError(f"{url} answered with an unreadable choice")
    return choice


def _error_message(response: httpx.Response) -> str:
    """The server's own words: OpenAI's {"error": {"message"}}, vLLM's older {"message"},
    FastAPI's {"detail"}, or the body's start."""
    try:
        data = response.json()
    except ValueError:
        return _one_line(response.text) or "(empty body)"
    if isinstance(data, dict):
        for key in ("error", "message", "detail"):
            if data.get(key):
                return _error_text(data[key])
    return _one_line(json.dumps(data))


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        text = error.get("message") or json.dumps(error)
        code = error.get("code")
        if isinstance(code, str) and code not in text:
            text = f"{text} ({code})"
        return _one_line(str(text))
    if isinstance(error, str):
        return _one_line(error)
    return _one_line(json.dumps(error))


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
