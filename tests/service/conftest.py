"""A docqa server on a loopback port, over fake models, for the API's tests."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from docqa.pipeline import build_pipeline
from docqa.service.hub import Hub
from docqa.service.server import build_app
from generation.fakes import ScriptedGenerator

KEY = "test-key-1234"
BUDGET = "The budget for the lighthouse repair is 18,000 euros [1]."


class SlowGenerator(ScriptedGenerator):
    """Streams its reply a word every `delay` seconds, and notes when its stream is closed
    (a client that went away)."""

    def __init__(self, replies, delay: float = 0.0) -> None:
        super().__init__(replies)
        self.delay = delay
        self.closed = threading.Event()
        self.streamed = 0  # pieces handed out by the last stream

    def stream(self, messages, *, grammar=None, max_tokens=256):
        pieces = super().stream(messages, grammar=grammar, max_tokens=max_tokens)
        self.streamed = 0
        try:
            for piece in pieces:
                time.sleep(self.delay)
                self.streamed += 1
                yield piece
        finally:
            self.closed.set()


@contextlib.contextmanager
def running(app) -> Iterator[str]:
    """Serve `app` on a free loopback port in a thread; its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def generator() -> SlowGenerator:
    return SlowGenerator([BUDGET])


@pytest.fixture
def hub(settings, embedder, corpus, generator, tmp_path) -> Iterator[Hub]:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    serve = settings.serve.model_copy(
        update={"api_key": KEY, "ingest_roots": [str(allowed)], "max_waiting": 8}
    )
    pipeline = build_pipeline(
        settings.model_copy(update={"serve": serve}), embedder=embedder, generator=generator
    )
    pipeline.ingest([corpus])
    hub = Hub(pipeline, max_waiting=serve.max_waiting, roots=serve.ingest_roots)
    yield hub
    hub.close()
    pipeline.close()


@pytest.fixture
def server(hub) -> Iterator[str]:
    with running(build_app(hub, chat=False)) as url:
        yield url
