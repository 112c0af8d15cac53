"""`docqa serve`: the REST and OpenAI-compatible API, the MCP server (streamable HTTP at /mcp)
and the chat page (at /) in one process, over one `Hub`: one set of models, one lock.

Binding beyond loopback without an API key is refused: the API can read and delete indexes
and, within `serve.ingest_roots`, files on this machine.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from core.errors import DocqaError
from docqa.config import ServeSettings
from docqa.pipeline import Pipeline
from docqa.service.api import LOOPBACK, _error, create_app, key_matches
from docqa.service.hub import Busy, Hub
from ingest.watch import watch

log = logging.getLogger(__name__)


class UnsafeBindError(DocqaError):
    """A server asked to listen beyond this machine without an API key."""


def check_bind(serve: ServeSettings, host: str) -> None:
    if host not in LOOPBACK and not serve.api_key:
        raise UnsafeBindError(
            f"refusing to serve on {host} without an API key: set serve.api_key "
            "(env DOCQA_SERVE__API_KEY), or bind 127.0.0.1"
        )


def make_hub(pipeline: Pipeline) -> Hub:
    serve = pipeline.settings.serve
    return Hub(
        pipeline,
        max_waiting=serve.max_waiting,
        roots=[Path(r) for r in serve.ingest_roots],
    )


def build_app(hub: Hub, *, chat: bool | None = None, mcp: bool = True) -> FastAPI:
    """The whole server's app: API, MCP at /mcp, and the chat at / (unless `chat` is False)."""
    serve = hub.base.settings.serve
    app = create_app(hub, serve)
    if mcp:
        from docqa.service.mcp import build_mcp

        server = build_mcp(hub)
        mcp_app = server.streamable_http_app(streamable_http_path="/", host=serve.host)
        app.mount("/mcp", _KeyRequired(mcp_app, serve.api_key))

        @contextlib.asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            async with server.session_manager.run():
                yield

        app.router.lifespan_context = lifespan
    if serve.chat if chat is None else chat:
        from docqa.chat import chat_config
        from ui.page import mount

        mount(app, hub.base, chat_config(hub.base.settings), hub.lock)
    return app


class _KeyRequired:
    """The API key check for a mounted ASGI app (the MCP endpoint)."""

    def __init__(self, app: ASGIApp, key: str | None) -> None:
        self._app, self._key = app, key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._key and scope["type"] == "http":
            headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
            if not key_matches(headers, self._key):
                response = _error(401, "missing or wrong API key", "invalid_api_key")
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)


def start_watchers(hub: Hub, stop: threading.Event) -> list[threading.Thread]:
    """One thread per collection with watched folders (`serve.watch`): an ingest of those
    folders now, and after every burst of changes."""
    serve = hub.base.settings.serve
    threads = []
    for collection, folders in serve.watch.items():
        paths = [Path(f).expanduser() for f in folders]

        def ingest(_changed=None, collection=collection, paths=paths) -> None:
            while not stop.is_set():
                try:
                    report = hub.ingest(collection, paths, trusted=True)
                except Busy:
                    stop.wait(1.0)
                    continue
                for o in report.outcomes:
                    if o.status != "unchanged":
                        log.info("watch %s: %s %s %s", collection, o.status, o.path, o.reason)
                return

        def run(collection=collection, paths=paths, ingest=ingest) -> None:
            try:
                ingest()
                watch(paths, ingest, debounce_s=serve.watch_debounce_s, stop=stop)
            except Exception as exc:  # noqa: BLE001 - the server goes on without this watch
                log.error("watching %s for %s stopped: %s", paths, collection, exc)

        thread = threading.Thread(target=run, name=f"docqa-watch-{collection}", daemon=True)
        thread.start()
        threads.append(thread)
    return threads


def serve(
    pipeline: Pipeline,
    *,
    host: str | None = None,
    port: int | None = None,
    chat: bool | None = None,
) -> None:
    """Run the server until interrupted; `chat` overrides `serve.chat`."""
    import uvicorn

    settings = pipeline.settings.serve
    host = host or settings.host
    check_bind(settings, host)
    hub = make_hub(pipeline)
    stop = threading.Event()
    start_watchers(hub, stop)
    try:
        uvicorn.run(
            build_app(hub, chat=chat), host=host, port=port or settings.port, log_level="warning"
        )
    finally:
        stop.set()
        hub.close()
