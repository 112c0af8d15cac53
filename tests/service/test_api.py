"""The HTTP API through real clients: the `openai` package against the OpenAI-compatible
routes, httpx against the REST routes, on a server listening on a loopback port."""

from __future__ import annotations

import concurrent.futures
import re
import time

import httpx
import openai
import pytest

from tests.service.conftest import KEY

pytestmark = pytest.mark.unit

QUESTION = "What is the budget for the lighthouse repair?"


def _client(url: str, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=30)


def _rest(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)


def test_a_whole_answer_carries_its_citations(server):
    reply = _client(server).chat.completions.create(
        model="default", messages=[{"role": "user", "content": QUESTION}]
    )
    message = reply.choices[0].message
    assert "18,000 euros [1]" in message.content
    assert re.search(r"Sources:\n\[1\] .*notes\.txt", message.content)
    docqa = message.model_extra["docqa"]
    assert docqa["abstained"] is False
    assert docqa["sentences"][0]["citations"] == [1]
    assert docqa["sources"][0]["path"].endswith("notes.txt")
    assert docqa["sources"][0]["collection"] == "default"
    assert reply.choices[0].finish_reason == "stop"


def test_a_streamed_answer_is_the_same_checked_text(server):
    client = _client(server)
    whole = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": QUESTION}]
    )
    chunks = list(
        client.chat.completions.create(
            model="default", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == whole.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["docqa"]["sentences"][0]["citations"] == [1]


def test_an_abstention_is_a_normal_reply(server, generator):
    generator.yes = 0.01  # the probes find nothing that answers
    reply = _client(server).chat.completions.create(
        model="default", messages=[{"role": "user", "content": QUESTION}]
    )
    docqa = reply.choices[0].message.model_extra["docqa"]
    assert docqa["abstained"] is True and docqa["abstain_reason"]
    assert reply.choices[0].message.content == docqa["answer"]
    assert "Sources:" not in reply.choices[0].message.content


def test_a_wrong_or_missing_key_is_refused(server):
    with pytest.raises(openai.AuthenticationError):
        _client(server, key="wrong").chat.completions.create(
            model="default", messages=[{"role": "user", "content": QUESTION}]
        )
    assert httpx.get(f"{server}/api/collections").status_code == 401
    assert httpx.get(f"{server}/api/health").status_code == 200  # a liveness probe needs none
    assert httpx.post(f"{server}/mcp/", json={}).status_code == 401


def test_the_model_names_the_collection(server):
    client = _client(server)
    assert [m.id for m in client.models.list()] == ["default"]
    with pytest.raises(openai.NotFoundError, match="no collection 'thesis'"):
        client.chat.completions.create(
            model="thesis", messages=[{"role": "user", "content": QUESTION}]
        )


def test_rest_upload_search_ask_export(server, tmp_path):
    rest = _rest(server)
    assert rest.post("/api/collections", json={"name": "house"}).status_code == 201
    text = "The boiler was serviced in March.\nThe boiler service costs 120 euros a year.\n"
    up = rest.post(
        "/api/collections/house/documents",
        files=[("files", ("../../boiler.txt", text.encode(), "text/plain"))],
    )
    assert up.status_code == 200, up.text
    assert [o["status"] for o in up.json()["outcomes"]] == ["indexed"]
    sources = rest.get("/api/collections/house/sources").json()
    assert [s["path"].rsplit("/", 1)[-1] for s in sources] == ["boiler.txt"]
    found = rest.post(
        "/api/search", json={"query": "boiler service cost", "collections": ["default", "house"]}
    ).json()["passages"]
    assert found[0]["collection"] == "house" and "120 euros" in found[0]["text"]

    asked = rest.post("/api/ask", json={"question": QUESTION}).json()
    assert not asked["abstained"] and asked["conversation"]
    follow = rest.post(
        "/api/ask", json={"question": "Who leads it?", "conversation": asked["conversation"]}
    )
    assert follow.status_code == 200
    exported = rest.get(f"/api/conversations/{asked['conversation']}/export?format=md")
    assert exported.headers["content-type"].startswith("text/markdown")
    quotes = [line.strip()[2:] for line in exported.text.splitlines() if line.strip()[:2] == "> "]
    notes = (tmp_path / "corpus" / "notes.txt").read_text()
    assert quotes and all(q in notes for q in quotes)
    assert re.search(r"sha256 `[0-9a-f]{64}`", exported.text)
    html = rest.get(f"/api/conversations/{asked['conversation']}/export?format=html")
    assert "<blockquote>" in html.text and QUESTION in html.text

    refused = rest.delete("/api/collections/house")
    assert refused.status_code == 400 and "confirm=house" in refused.json()["error"]["message"]
    assert rest.delete("/api/collections/house?confirm=house").status_code == 200
    assert [c["name"] for c in rest.get("/api/collections").json()] == ["default"]


def test_paths_outside_the_allowed_roots_are_refused(server, tmp_path, corpus):
    rest = _rest(server)
    outside = rest.post("/api/collections/default/ingest", json={"paths": [str(corpus)]})
    assert outside.status_code == 403
    assert "outside the folders" in outside.json()["error"]["message"]
    sneaky = tmp_path / "allowed" / "link"
    sneaky.symlink_to(corpus)  # a link inside the root that points outside it
    via_link = rest.post("/api/collections/default/ingest", json={"paths": [str(sneaky)]})
    assert via_link.status_code == 403
    (tmp_path / "allowed" / "ok.txt").write_text("The ferry leaves at noon.\n")
    inside = rest.post(
        "/api/collections/default/ingest", json={"paths": [str(tmp_path / "allowed")]}
    )
    assert inside.status_code == 200
    outcomes = {o["path"].rsplit("/", 1)[-1]: o["status"] for o in inside.json()["outcomes"]}
    assert outcomes == {"ok.txt": "indexed", "link": "skipped"}  # the link is not followed out


def test_two_hundred_concurrent_requests_leave_the_server_up(server):
    """Every request gets an answer (done, or 503 with Retry-After when too many wait), none
    hangs or breaks the server, and the lock is free afterwards."""

    def one(i: int) -> tuple[int, str | None]:
        with httpx.Client(timeout=60) as c:
            r = c.post(
                f"{server}/api/search",
                headers={"Authorization": f"Bearer {KEY}"},
                json={"query": f"lighthouse budget {i}", "k": 2},
            )
            return r.status_code, r.headers.get("retry-after")

    with concurrent.futures.ThreadPoolExecutor(max_workers=200) as pool:
        results = list(pool.map(one, range(200)))
    codes = {code for code, _ in results}
    assert codes <= {200, 503}, codes
    assert all(after == "5" for code, after in results if code == 503)
    assert sum(code == 200 for code, _ in results) >= 8
    assert _rest(server).post("/api/search", json={"query": "budget"}).status_code == 200


def test_a_client_that_leaves_mid_stream_releases_the_lock(server, hub, generator):
    generator.delay = 0.5  # eleven pieces: five and a half seconds of answer
    request = {
        "model": "default",
        "stream": True,
        "messages": [{"role": "user", "content": QUESTION}],
    }
    with (
        httpx.Client(timeout=30) as c,
        c.stream(
            "POST",
            f"{server}/v1/chat/completions",
            headers={"Authorization": f"Bearer {KEY}"},
            json=request,
        ) as response,
    ):
        for line in response.iter_lines():
            if line.startswith(":"):  # a keep-alive: the model is writing
                break
        assert hub.lock.locked()
        # leaving the block closes the connection mid-answer
    assert generator.closed.wait(10), "the model's stream was not closed"
    assert generator.streamed < 11  # cut off, not run to its end
    deadline = time.monotonic() + 10
    while hub.lock.locked() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not hub.lock.locked()
    generator.delay = 0.0
    again = _client(server).chat.completions.create(
        model="default", messages=[{"role": "user", "content": QUESTION}]
    )
    assert "18,000" in again.choices[0].message.content


def test_beyond_loopback_only_with_a_key(settings):
    from docqa.service.server import UnsafeBindError, check_bind

    with pytest.raises(UnsafeBindError, match="without an API key"):
        check_bind(settings.serve, "0.0.0.0")
    check_bind(settings.serve, "127.0.0.1")
    check_bind(settings.serve.model_copy(update={"api_key": "k"}), "0.0.0.0")


def test_the_server_keeps_a_watched_folder_ingested(hub, tmp_path):
    import threading

    from docqa.service.server import start_watchers

    folder = tmp_path / "watched"
    folder.mkdir()
    (folder / "first.txt").write_text("The choir rehearses on Tuesdays.\n")
    serve = hub.base.settings.serve.model_copy(
        update={"watch": {"default": [str(folder)]}, "watch_debounce_s": 0.2}
    )
    hub.base.settings = hub.base.settings.model_copy(update={"serve": serve})
    stop = threading.Event()
    threads = start_watchers(hub, stop)
    try:

        def names() -> set[str]:
            return {r.path.rsplit("/", 1)[-1] for r in hub.sources("default")}

        deadline = time.monotonic() + 15
        while "first.txt" not in names() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "first.txt" in names()  # ingested when the server starts
        time.sleep(0.5)
        (folder / "second.txt").write_text("The organ was tuned in May.\n")
        deadline = time.monotonic() + 15
        while "second.txt" not in names() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "second.txt" in names()
    finally:
        stop.set()
        for t in threads:
            t.join(10)


def test_requests_beyond_the_waiting_limit_are_refused_at_once(server, hub):
    """While the model is busy, eight requests wait their turn (serve.max_waiting) and the
    rest are told to come back, with Retry-After, instead of piling up."""

    def one(i: int) -> int:
        with httpx.Client(timeout=60) as c:
            return c.post(
                f"{server}/api/search",
                headers={"Authorization": f"Bearer {KEY}"},
                json={"query": f"lighthouse {i}"},
            ).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        with hub.lock:  # the model is busy
            futures = [pool.submit(one, i) for i in range(20)]
            deadline = time.monotonic() + 20
            while sum(f.done() for f in futures) < 12 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)  # and no more than those twelve finish while it is
            early = [f.result() for f in futures if f.done()]
            assert early == [503] * 12  # refused at once
        codes = [f.result() for f in futures]
    assert codes.count(200) == 8 and codes.count(503) == 12  # the waiting ones were answered


def test_the_rest_api_is_described(server):
    schema = httpx.get(f"{server}/openapi.json").json()
    for path in ("/api/ask", "/api/search", "/api/collections", "/v1/chat/completions"):
        assert path in schema["paths"], path
