"""ServerGenerator against a scripted HTTP transport: the request it sends, the stream it reads,
and how each kind of server failure reaches the answerer."""

from __future__ import annotations

import json
import math
import socket

import httpx
import pytest

from docqa.config import ConfigError, Settings
from docqa.pipeline import build_pipeline
from generation.answerer import Answerer
from generation.llm import Piece, PromptTooLongError
from generation.server import ServerError, ServerGenerator
from index.types import Passage
from retrieval.types import Hit

pytestmark = pytest.mark.unit

URL = "http://llm.test:8080/v1"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]
LLAMA_CPP_TOO_LONG = {
    "error": {
        "message": "This model's maximum context length is 512 tokens. However, you requested 939 "
        "tokens (931 in the messages, 8 in the completion). Please reduce the length of "
        "the messages or completion.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
}
VLLM_TOO_LONG = {
    "object": "error",
    "type": "BadRequestError",
    "code": 400,
    "message": "This model's maximum context length is 2048 tokens. However, you "
    "requested 2300 tokens (2044 in the messages, 256 in the completion).",
}


class Server:
    """A scripted server: `reply(request)` answers; every request is kept, body decoded."""

    def __init__(self, reply) -> None:
        self.reply = reply
        self.requests: list[httpx.Request] = []
        self.bodies: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.bodies.append(json.loads(request.content))
        return self.reply(request)

    def generator(self, **kwargs) -> ServerGenerator:
        return ServerGenerator(URL, "tiny", transport=httpx.MockTransport(self), **kwargs)


def chunk(content: str | None = None, finish: str | None = None, role: str | None = None):
    delta = {k: v for k, v in (("role", role), ("content", content)) if v is not None}
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def sse(*events, done: bool = True) -> httpx.Response:
    text = "".join(f"data: {json.dumps(e)}\n\n" for e in events)
    return httpx.Response(
        200,
        text=text + ("data: [DONE]\n\n" if done else ""),
        headers={"content-type": "text/event-stream"},
    )


def completion(text: str, finish: str = "stop") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
        },
    )


def logprobs(*pairs: tuple[str, float]) -> httpx.Response:
    top = [{"token": t, "logprob": lp, "bytes": None} for t, lp in pairs]
    first = {"token": pairs[0][0], "logprob": pairs[0][1], "top_logprobs": top} if pairs else {}
    return httpx.Response(
        200,
        json={
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": pairs[0][0] if pairs else ""},
                    "logprobs": {"content": [first]},
                    "finish_reason": "length",
                }
            ]
        },
    )


# ---- the request ----------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["grammar", "guided_grammar", "none"])
def test_request_carries_the_grammar_in_the_configured_field(field):
    server = Server(lambda r: completion("ok [1]."))
    gen = server.generator(grammar_field=field, temperature=0.2, seed=7)
    gen.complete(MESSAGES, grammar='root ::= "ok"', max_tokens=32)
    (request,), (body,) = server.requests, server.bodies
    assert request.method == "POST" and str(request.url) == f"{URL}/chat/completions"
    assert "authorization" not in request.headers
    assert {k: body[k] for k in ("model", "messages", "max_tokens", "temperature", "seed")} == {
        "model": "tiny",
        "messages": MESSAGES,
        "max_tokens": 32,
        "temperature": 0.2,
        "seed": 7,
    }
    grammar_keys = {"grammar", "guided_grammar"} & set(body)
    assert grammar_keys == (set() if field == "none" else {field})
    if field != "none":
        assert body[field] == 'root ::= "ok"'
    assert "stream" not in body


def test_no_grammar_field_is_sent_without_a_grammar():
    server = Server(lambda r: completion("hi"))
    server.generator().complete(MESSAGES)
    assert "grammar" not in server.bodies[0]


def test_an_api_key_is_sent_as_a_bearer_token():
    server = Server(lambda r: completion("hi"))
    server.generator(api_key="s3cret").complete(MESSAGES)
    assert server.requests[0].headers["authorization"] == "Bearer s3cret"


def test_complete_reads_text_finish_reason_and_usage():
    result = Server(lambda r: completion("Six [1].", "length")).generator().complete(MESSAGES)
    assert (result.text, result.finish_reason) == ("Six [1].", "length")
    assert (result.prompt_tokens, result.completion_tokens) == (12, 3)


def test_keep_prefix_is_a_no_op_and_sampling_copies_share_the_client():
    server = Server(lambda r: completion("hi"))
    gen = server.generator()
    gen.keep_prefix("Be brief.")
    assert server.requests == []
    warmer = gen.with_sampling(0.9, 3)
    assert warmer._client is gen._client
    warmer.complete(MESSAGES)
    gen.complete(MESSAGES)
    assert [(b["temperature"], b["seed"]) for b in server.bodies] == [(0.9, 3), (0.0, 0)]


# ---- streaming ------------------------------------------------------------------------------
def test_stream_yields_pieces_until_done():
    def reply(request):
        body = (
            f": ping\n\ndata: {json.dumps(chunk(role='assistant'))}\n\n"
            f"data: {json.dumps(chunk('Hello'))}\n\n"
            f"data: {json.dumps(chunk(' world'))}\n\n"
            f"data: {json.dumps(chunk(finish='stop'))}\n\n"
            'data: {"choices": [], "usage": {"completion_tokens": 2}}\n\n'
            "data: [DONE]\n\n"
            f"data: {json.dumps(chunk('after done'))}\n\n"
        )
        return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})

    server = Server(reply)
    pieces = list(server.generator().stream(MESSAGES, grammar="root ::= x", max_tokens=16))
    # the usage chunk's counts travel in a piece of their own
    assert pieces == [Piece("Hello"), Piece(" world"), Piece("", "stop"), Piece("", None, 0, 2)]
    assert server.bodies[0]["stream"] is True and server.bodies[0]["grammar"] == "root ::= x"


def test_a_finish_reason_may_come_with_the_last_text():
    pieces = list(Server(lambda r: sse(chunk("Hi", "length"))).generator().stream(MESSAGES))
    assert pieces == [Piece("Hi", "length")]


def test_a_stream_cut_before_the_finish_is_a_server_error():
    gen = Server(lambda r: sse(chunk("Hel"), done=False)).generator()
    pieces = gen.stream(MESSAGES)
    assert next(pieces) == Piece("Hel")
    with pytest.raises(ServerError, match="ended the stream before the answer finished"):
        next(pieces)


def test_an_error_event_mid_stream_is_a_server_error():
    gen = Server(lambda r: sse(chunk("Hel"), {"error": {"message": "out of memory"}})).generator()
    with pytest.raises(ServerError, match="out of memory"):
        list(gen.stream(MESSAGES))


# ---- a prompt that does not fit -------------------------------------------------------------
@pytest.mark.parametrize("error", [LLAMA_CPP_TOO_LONG, VLLM_TOO_LONG], ids=["llama.cpp", "vllm"])
def test_a_context_overflow_raises_prompt_too_long_from_the_call(error):
    gen = Server(lambda r: httpx.Response(400, json=error)).generator()
    with pytest.raises(PromptTooLongError, match="maximum context length"):
        gen.stream(MESSAGES)  # the call itself raises: no iteration needed
    with pytest.raises(PromptTooLongError):
        gen.complete(MESSAGES)


def test_llama_cpp_python_empty_stream_is_explained_by_a_plain_request():
    """llama-cpp-python's server answers a streamed over-long prompt with 200 and no event."""

    def reply(request):
        if json.loads(request.content).get("stream"):
            return httpx.Response(200, text="", headers={"content-type": "text/event-stream"})
        return httpx.Response(400, json=LLAMA_CPP_TOO_LONG)

    server = Server(reply)
    with pytest.raises(PromptTooLongError):
        server.generator().stream(MESSAGES, grammar="root ::= x", max_tokens=64)
    assert [b.get("stream", False) for b in server.bodies] == [True, False]
    assert server.bodies[1]["max_tokens"] == 1 and server.bodies[1]["grammar"] == "root ::= x"


def test_an_empty_stream_for_a_prompt_that_fits_is_a_server_error():
    def reply(request):
        if json.loads(request.content).get("stream"):
            return httpx.Response(200, text="", headers={"content-type": "text/event-stream"})
        return completion("x")

    with pytest.raises(ServerError, match="ended the stream before sending anything"):
        Server(reply).generator().stream(MESSAGES)


def test_the_answerer_drops_sources_until_the_server_accepts_the_prompt():
    def reply(request):
        system = json.loads(request.content)["messages"][0]["content"]
        if '<source n="2"' in system:  # two sources or more do not fit
            return httpx.Response(400, json=LLAMA_CPP_TOO_LONG)
        return sse(chunk("The budget is 18,000 euros [1]."), chunk(finish="stop"))

    server = Server(reply)
    hits = [hit(n, "The budget is 18,000 euros.", 0.9) for n in (1, 2, 3)]
    answer = Answerer(ListRetriever(hits), server.generator(), top_k=3).ask("Budget?")
    assert not answer.abstained and len(answer.sources) == 1
    assert len(server.requests) == 3


# ---- other failures -------------------------------------------------------------------------
def test_other_http_errors_are_one_line_server_errors_naming_the_url():
    gen = Server(lambda r: httpx.Response(500, json={"error": {"message": "boom\nat line 3"}}))
    with pytest.raises(ServerError) as info:
        gen.generator().stream(MESSAGES)
    assert (
        str(info.value) == f"{URL}/chat/completions answered 500 Internal Server Error: "
        "boom at line 3"
    )
    gen = Server(lambda r: httpx.Response(404, text="Not Found"))
    with pytest.raises(ServerError, match=r"answered 404 Not Found: Not Found"):
        gen.generator().complete(MESSAGES)
    gen = Server(lambda r: httpx.Response(422, json={"detail": [{"msg": "field required"}]}))
    with pytest.raises(ServerError, match="field required"):
        gen.generator().complete(MESSAGES)


def test_a_refused_connection_is_a_server_error_naming_the_url():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    gen = ServerGenerator(url, "tiny", timeout_s=5)
    for call in (
        lambda: gen.stream(MESSAGES),
        lambda: gen.complete(MESSAGES),
        lambda: gen.choice_probabilities(MESSAGES, ["yes", "no"]),
    ):
        with pytest.raises(
            ServerError, match=f"cannot reach the generation server at {url}/chat/completions"
        ) as info:
            call()
        assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "dropped",
    [
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("[Errno 104] Connection reset by peer"),
    ],
)
def test_a_connection_the_server_dropped_is_retried_once(dropped):
    """llama-cpp-python's server closes (or resets) a kept-alive connection after a failed
    stream."""

    def reply(request):
        if len(server.requests) == 1:
            raise dropped
        return completion("hi")

    server = Server(reply)
    assert server.generator().complete(MESSAGES).text == "hi"
    assert len(server.requests) == 2
    always = Server(lambda r: (_ for _ in ()).throw(httpx.RemoteProtocolError("gone")))
    with pytest.raises(ServerError, match="cannot reach the generation server at .*: gone"):
        always.generator().complete(MESSAGES)
    assert len(always.requests) == 2


def test_a_timeout_is_a_server_error():
    def reply(request):
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ServerError, match="no answer within 2 s"):
        Server(reply).generator(timeout_s=2).complete(MESSAGES)


# ---- the judge's probabilities --------------------------------------------------------------
def test_choice_probabilities_sum_variants_and_renormalise():
    server = Server(
        lambda r: logprobs(
            ("The", -0.5),
            ("yes", -1.0),
            ("No", -1.5),
            (" Yes", -2.0),
            ("yesterday", -2.5),
            ("no", -3.0),
        )
    )
    p_yes, p_no = server.generator(temperature=0.7).choice_probabilities(MESSAGES, ["yes", "no"])
    yes, no = math.exp(-1.0) + math.exp(-2.0), math.exp(-1.5) + math.exp(-3.0)
    assert p_yes == pytest.approx(yes / (yes + no)) and p_no == pytest.approx(no / (yes + no))
    body = server.bodies[0]
    assert (body["max_tokens"], body["logprobs"], body["top_logprobs"]) == (1, True, 20)
    assert body["temperature"] == 0.0 and "grammar" not in body and "stream" not in body


def test_choice_probabilities_floor_a_missing_choice():
    gen = Server(lambda r: logprobs(("Yes", -0.1), ("Sure", -2.0))).generator()
    p_yes, p_no = gen.choice_probabilities(MESSAGES, ["yes", "no"])
    assert p_yes > 0.999 and 0 < p_no < 1e-5
    gen = Server(lambda r: logprobs(("Paris", -0.1))).generator()
    assert gen.choice_probabilities(MESSAGES, ["yes", "no"]) == [0.0, 0.0]  # no support


def test_choice_probabilities_without_logprobs_is_a_server_error():
    gen = Server(lambda r: completion("yes")).generator()
    with pytest.raises(ServerError, match="no top_logprobs"):
        gen.choice_probabilities(MESSAGES, ["yes", "no"])


def test_start_probability_sums_the_starts_variants_over_the_whole_distribution():
    server = Server(
        lambda r: logprobs(
            ("The", -0.5), ("none", -1.0), ("None", -2.0), (" NONE", -3.0), ("nonetheless", -2.5)
        )
    )
    p = server.generator().start_probability(MESSAGES, ["none"])
    assert p == pytest.approx(math.exp(-1.0) + math.exp(-2.0) + math.exp(-3.0))
    assert server.bodies[0]["top_logprobs"] == 20 and server.bodies[0]["max_tokens"] == 1
    assert (
        Server(lambda r: logprobs(("Paris", -0.1)))
        .generator()
        .start_probability(MESSAGES, ["none"])
        == 0.0
    )  # the model wants to answer
    with pytest.raises(ServerError, match="no top_logprobs"):
        Server(lambda r: completion("none")).generator().start_probability(MESSAGES, ["none"])


# ---- unconstrained output (server_grammar = "none") -----------------------------------------
class ListRetriever:
    def __init__(self, hits):
        self.hits = hits

    def search(self, query, k):
        return self.hits[:k]


def hit(n: int, text: str, score: float) -> Hit:
    return Hit(
        passage=Passage(
            id=n, text=text, source=f"/d/{n}.md", title="T", section="T > S", end=len(text)
        ),
        score=0.1,
        dense_score=score,
    )


def ask_free(reply: str):
    server = Server(lambda r: sse(chunk(reply), chunk(finish="stop")))
    hits = [
        hit(1, "The budget for the repair is 18,000 euros.", 0.9),
        hit(2, "The repair starts in June.", 0.8),
    ]
    answer = Answerer(ListRetriever(hits), server.generator(grammar_field="none"), top_k=2).ask(
        "What is the budget?"
    )
    assert "grammar" not in server.bodies[0]
    return answer


def test_free_output_keeps_only_cited_sentences_within_the_sources():
    answer = ask_free("Sure! The budget is 18,000 euros [1]. It starts soon. Also [7].")
    assert not answer.abstained
    # Uncited text before a citation on the same line joins the cited sentence; a citation
    # outside the sources is dropped, and uncited trailing text is not an answer.
    assert [(s.text, s.citations) for s in answer.sentences] == [
        ("Sure! The budget is 18,000 euros.", (1,))
    ]


@pytest.mark.parametrize(
    "reply",
    [
        "The budget is 18,000 euros (Source 1).",  # a citation style the parser does not read
        "I do not know.",
        "",
    ],
)
def test_free_output_without_a_readable_citation_abstains(reply):
    answer = ask_free(reply)
    assert answer.abstained and "no complete cited sentence" in answer.abstain_reason


# ---- wiring ---------------------------------------------------------------------------------
def server_settings(tmp_path, **generation) -> Settings:
    env = {
        "DOCQA_GENERATION__BACKEND": "server",
        "DOCQA_GENERATION__SERVER_URL": URL,
        "DOCQA_GENERATION__SERVER_GRAMMAR": "guided_grammar",
    }
    overrides = {"index_dir": str(tmp_path / "index"), "model_cache": str(tmp_path / "models")}
    overrides |= {f"generation.{k}": v for k, v in generation.items()}
    return Settings.load(env=env, overrides=overrides)


def test_the_pipeline_builds_a_server_generator_without_resolving_a_model(
    tmp_path, embedder, corpus
):
    settings = server_settings(tmp_path, server_model="served-name", temperature=0.3)
    pipe = build_pipeline(settings, embedder=embedder)
    gen = pipe.generator
    assert isinstance(gen, ServerGenerator)
    assert (gen.base_url, gen.model, gen._grammar_field, gen._temperature) == (
        URL,
        "served-name",
        "guided_grammar",
        0.3,
    )
    assert pipe._model_path is None and not (tmp_path / "models").exists()
    default_name = build_pipeline(server_settings(tmp_path), embedder=embedder).generator
    assert default_name.model == settings.generation.model

    def no_request(request):
        raise AssertionError(f"sent {request.url}")

    gen._client = httpx.Client(transport=httpx.MockTransport(no_request))
    pipe.ingest([corpus])
    pipe.warm_up()  # nothing to prepare on a server, and nothing sent
    pipe.close()
    assert gen._client.is_closed  # closing the pipeline closes the generator's connections


def test_reconfigure_keeps_the_client_for_sampling_and_rebuilds_for_a_new_server(
    tmp_path, embedder
):
    settings = server_settings(tmp_path)
    pipe = build_pipeline(settings, embedder=embedder)
    gen = pipe.generator
    gen_settings = settings.generation
    warmer = pipe.reconfigure(
        settings.model_copy(
            update={"generation": gen_settings.model_copy(update={"temperature": 0.8, "seed": 5})}
        )
    )
    assert isinstance(warmer.generator, ServerGenerator)
    assert warmer.generator._client is gen._client and warmer.generator._temperature == 0.8
    for change in (
        {"server_url": "http://other:8000/v1"},
        {"server_model": "bigger"},
        {"backend": "llama_cpp"},
    ):
        other = pipe.reconfigure(
            settings.model_copy(update={"generation": gen_settings.model_copy(update=change)})
        )
        assert other._generator is None  # built anew on first use


def test_backend_server_without_a_url_is_a_clear_config_error():
    with pytest.raises(ConfigError, match="needs generation.server_url"):
        Settings.load(env={"DOCQA_GENERATION__BACKEND": "server"})
    with pytest.raises(ConfigError, match="server_grammar"):
        Settings.load(env={"DOCQA_GENERATION__SERVER_GRAMMAR": "json"})


def test_the_api_key_stays_out_of_the_settings_repr():
    settings = Settings.load(env={"DOCQA_GENERATION__SERVER_API_KEY": "s3cret"})
    assert settings.generation.server_api_key == "s3cret"
    assert "s3cret" not in repr(settings)
