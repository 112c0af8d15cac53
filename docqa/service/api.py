"""docqa's HTTP API: a REST API for the library's verbs and an OpenAI-compatible chat endpoint,
on one FastAPI app (the chat page and the MCP server can share it, see `service.server`).

Every route is a thin layer over `service.hub.Hub`, which holds the one lock on the model and
the index. Errors have one shape on every route, OpenAI's (`{"error": {"message", "type",
"code"}}`), so that an OpenAI client raises its usual exceptions and a script reads one field.
`/openapi.json` and `/docs` describe the REST API; `docs/api.md` shows clients for each part.
"""

from __future__ import annotations

import hmac
import json
import logging
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from fastapi import Depends, FastAPI, File, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from core.errors import DocqaError
from docqa.collections import UPLOADS, CollectionError
from docqa.config import ServeSettings
from docqa.service.hub import Busy, Hub, OutsideRootsError
from docqa.service.shapes import hit_dict, outcome_dict
from generation.types import Answer, Done, Token
from ui.uploads import UploadError, save_upload

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")
RETRY_AFTER_S = 5
KEEPALIVE_S = 1.0  # a stream writes at least this often while the answer is being made


# ---- request bodies ------------------------------------------------------------------------
class AskRequest(BaseModel):
    question: str = Field(min_length=1)
    collections: list[str] = Field(default_factory=lambda: ["default"])
    conversation: str | None = Field(
        None,
        description="Continue this conversation: the question may refer to earlier answers, "
        "and the conversation can be exported. Omitted: a new one; its id is in the reply.",
    )


class SearchRequest(BaseModel):
    query: str = Field(min_length=1)
    collections: list[str] = Field(default_factory=lambda: ["default"])
    k: int = Field(5, ge=1, le=50)


class CollectionBody(BaseModel):
    name: str


class IngestPaths(BaseModel):
    paths: list[str] = Field(min_length=1)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """OpenAI's chat-completions request; sampling options are accepted and ignored (docqa's
    answers are greedy and grammar-constrained)."""

    model_config = ConfigDict(extra="allow")
    model: str = "default"
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False


# ---- errors --------------------------------------------------------------------------------
class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.code, self.kind = status, message, code, kind


def _error(status: int, message: str, code: str, kind: str = "invalid_request_error"):
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
    return JSONResponse(
        {"error": {"message": message, "type": kind, "code": code, "param": None}},
        status_code=status,
        headers=headers,
    )


def key_matches(headers: Mapping[str, str], key: str | None) -> bool:
    """Whether a request carries the API key (`Authorization: Bearer KEY` or `X-API-Key`);
    always true when no key is set. Compared in constant time."""
    if not key:
        return True
    given = headers.get("authorization", "")
    token = given[7:] if given.lower().startswith("bearer ") else headers.get("x-api-key", "")
    return hmac.compare_digest(token.encode(), key.encode())


def _status(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, Busy):
        return 503, "busy"
    if isinstance(exc, OutsideRootsError):
        return 403, "outside_allowed_roots"
    if isinstance(exc, CollectionError):
        text = str(exc)
        return (404, "collection_not_found") if "there is no" in text else (409, "collection")
    if isinstance(exc, FileNotFoundError):
        return 404, "not_found"
    if isinstance(exc, FileExistsError):
        return 409, "exists"
    return 400, "bad_request"


# ---- the app -------------------------------------------------------------------------------
def create_app(hub: Hub, serve: ServeSettings) -> FastAPI:
    """The API over `hub`. With `serve.api_key` set, every route but /api/health wants it."""
    app = FastAPI(
        title="docqa",
        summary="Grounded, cited answers from your own documents, or an honest abstention.",
        version="1",
    )
    app.state.hub = hub

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return _error(exc.status, exc.message, exc.code, exc.kind)

    @app.exception_handler(DocqaError)
    @app.exception_handler(ValueError)
    @app.exception_handler(OSError)
    async def _library_error(request: Request, exc: Exception):
        status, code = _status(exc)
        return _error(
            status, str(exc), code, "server_busy" if status == 503 else "invalid_request_error"
        )

    from fastapi.exceptions import RequestValidationError

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return _error(422, f"{where}: {first.get('msg', 'invalid request')}", "invalid_request")

    key = serve.api_key

    def authorised(request: Request) -> None:
        if not key_matches(request.headers, key):
            raise ApiError(401, "missing or wrong API key", "invalid_api_key")

    auth = [Depends(authorised)]

    # ---- REST ------------------------------------------------------------------------------
    @app.get("/api/health", tags=["service"])
    def health() -> dict:
        """Whether the server is up (no key needed)."""
        return {"status": "ok"}

    @app.get("/api/collections", dependencies=auth, tags=["collections"])
    def list_collections() -> list[dict]:
        """Every collection with its files, chunks, size and last ingest."""
        return [c.to_dict() for c in hub.list_collections()]

    @app.post("/api/collections", dependencies=auth, tags=["collections"], status_code=201)
    def create_collection(body: CollectionBody) -> dict:
        return hub.create_collection(body.name).to_dict()

    @app.patch("/api/collections/{name}", dependencies=auth, tags=["collections"])
    def rename_collection(name: str, body: CollectionBody) -> dict:
        """Rename collection `name` to `body.name`."""
        return hub.rename_collection(name, body.name).to_dict()

    @app.delete("/api/collections/{name}", dependencies=auth, tags=["collections"])
    def delete_collection(
        name: str, confirm: Annotated[str, Query(description="the collection's name again")] = ""
    ) -> dict:
        """Delete a collection's index (never the documents it was made from). `confirm`
        must repeat the name, so that a mistyped request deletes nothing."""
        if confirm != name:
            raise ApiError(400, f"to delete {name!r}, repeat its name: ?confirm={name}", "confirm")
        hub.delete_collection(name)
        return {"deleted": name}

    @app.get("/api/collections/{name}/sources", dependencies=auth, tags=["documents"])
    def list_sources(name: str) -> list[dict]:
        """The indexed files of a collection."""
        return [r.to_dict() for r in hub.sources(name)]

    @app.post("/api/collections/{name}/documents", dependencies=auth, tags=["documents"])
    def upload(name: str, files: Annotated[list[UploadFile], File()]) -> dict:
        """Upload files and ingest them into the collection; each file's outcome."""
        folder = hub.pipeline(name).settings.index_folder / UPLOADS
        limit = hub.base.settings.ui.max_upload_mb * 1024 * 1024
        saved, outcomes = [], []
        for f in files:
            with tempfile.NamedTemporaryFile() as tmp:
                while chunk := f.file.read(1 << 20):
                    tmp.write(chunk)
                    if tmp.tell() > limit:
                        break
                tmp.flush()
                try:
                    saved.append(save_upload(Path(tmp.name), f.filename or "upload", folder, limit))
                except UploadError as exc:
                    outcomes.append({"path": f.filename, "status": "failed", "reason": str(exc)})
        if saved:
            report = hub.ingest(name, saved, trusted=True)
            outcomes += [outcome_dict(o) for o in report.outcomes]
        return {"outcomes": outcomes}

    @app.post("/api/collections/{name}/ingest", dependencies=auth, tags=["documents"])
    def ingest_paths(name: str, body: IngestPaths) -> dict:
        """Ingest files or folders on this machine, inside `serve.ingest_roots` only."""
        report = hub.ingest(name, [Path(p) for p in body.paths])
        return {"outcomes": [outcome_dict(o) for o in report.outcomes]}

    @app.delete("/api/collections/{name}/documents", dependencies=auth, tags=["documents"])
    def remove(name: str, path: Annotated[str, Query(description="an indexed path")]) -> dict:
        """Remove an indexed file (or every indexed file under a folder) from the collection."""
        return {"removed": [{"path": p, "chunks": n} for p, n in hub.remove(name, path)]}

    @app.post("/api/search", dependencies=auth, tags=["questions"])
    def search(body: SearchRequest) -> dict:
        """The passages closest to the query, with their provenance and scores."""
        hits = hub.search(body.collections, body.query, body.k)
        return {"query": body.query, "passages": [hit_dict(h) for h in hits]}

    @app.post("/api/ask", dependencies=auth, tags=["questions"])
    def ask(body: AskRequest) -> dict:
        """A grounded answer — sentences, citations, verdicts, sources, timings — as `docqa ask
        --json` prints it, or an abstention with its reason (`abstained`, `abstain_reason`)."""
        names = ",".join(body.collections)
        conversation = body.conversation or uuid.uuid4().hex
        history: list[tuple[str, str]] = []
        if body.conversation:
            _, before = hub.conversation(body.conversation)
            history = [(a.question, a.text) for a in before]
        answer = hub.ask(names, body.question, history)
        hub.record(conversation, names, answer)
        return {**answer.to_dict(), "conversation": conversation}

    @app.get("/api/conversations/{conversation}/export", dependencies=auth, tags=["questions"])
    def export_conversation(
        conversation: str, format: Literal["md", "html"] = "md"
    ) -> PlainTextResponse:
        """The conversation as Markdown or HTML: each sentence's citations, verdict and the
        quoted words of the passage, each source's file, place and content hash."""
        text = hub.export(conversation, format)
        media = "text/html" if format == "html" else "text/markdown"
        return PlainTextResponse(text, media_type=f"{media}; charset=utf-8")

    # ---- OpenAI-compatible -----------------------------------------------------------------
    @app.get("/v1/models", dependencies=auth, tags=["openai"])
    def models() -> dict:
        """Each collection is a model: the model name chooses what the answer comes from
        ("a,b" asks two collections at once)."""
        return {
            "object": "list",
            "data": [
                {"id": n, "object": "model", "created": 0, "owned_by": "docqa"}
                for n in hub.collections.names()
            ],
        }

    @app.post("/v1/chat/completions", dependencies=auth, tags=["openai"])
    async def chat_completions(body: ChatRequest):
        """The last user message answered from the collection the model names, earlier
        messages as the conversation. The reply's text is the checked answer with its [n]
        marks and a list of the cited sources; `message.docqa` (the last chunk's `docqa` when
        streaming) holds the whole answer as `/api/ask` returns it. An abstention is a normal
        reply whose `docqa.abstained` is true."""
        question, history = _conversation(body.messages)
        collections = body.model
        for name in collections.split(","):
            if name.strip() not in hub.collections.names():
                raise ApiError(404, f"there is no collection {name.strip()!r}", "model_not_found")
        made = int(time.time())
        cid = f"chatcmpl-{uuid.uuid4().hex}"
        if not body.stream:
            answer = await run_in_threadpool(hub.ask, collections, question, history)
            return {
                "id": cid,
                "object": "chat.completion",
                "created": made,
                "model": body.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": reply_text(answer),
                            "docqa": answer.to_dict(),
                        },
                        "finish_reason": "stop",
                    }
                ],
                "usage": _usage(answer),
            }
        events = hub.stream(collections, question, history)
        return _ClosingStream(
            _sse(events, cid, made, body.model),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return app


class _ClosingStream(StreamingResponse):
    """A stream that always closes its iterator, however the response ends: a client that
    goes away mid-answer closes the answer's generator, which releases the model's lock."""

    async def stream_response(self, send) -> None:
        try:
            await super().stream_response(send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.body_iterator.aclose()  # type: ignore[attr-defined]


_END = object()


async def _sse(events: Iterator, cid: str, made: int, model: str) -> AsyncIterator[str]:
    """OpenAI's chunk stream. The checked answer is only known at the end (the raw tokens may
    yet be dropped by the fact-check, and a client cannot take back text it was sent), so
    the role comes at once, SSE comments keep the connection visibly alive while the answer is
    made, and the checked text follows sentence by sentence."""

    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        body = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": made,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    try:
        yield chunk({"role": "assistant", "content": ""})
        answer: Answer | None = None
        last = time.monotonic()
        while True:
            event = await anyio.to_thread.run_sync(next, events, _END)
            if event is _END:
                break
            if isinstance(event, Done):
                answer = event.answer
            elif isinstance(event, Token) and time.monotonic() - last >= KEEPALIVE_S:
                last = time.monotonic()
                yield ": answering\n\n"
        assert answer is not None
        for piece in _pieces(reply_text(answer)):
            yield chunk({"content": piece})
        yield chunk({}, "stop", docqa=answer.to_dict(), usage=_usage(answer))
        yield "data: [DONE]\n\n"
    except DocqaError as exc:  # after the 200 header: the error travels as a chunk
        yield f"data: {json.dumps({'error': {'message': str(exc), 'type': 'server_error'}})}\n\n"
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(events.close)


def _pieces(text: str) -> list[str]:
    """The reply in sentence-sized pieces (a client renders them as they come)."""
    out, start = [], 0
    for i, ch in enumerate(text):
        if ch in ".?!\n" and (i + 1 == len(text) or text[i + 1] in " \n"):
            out.append(text[start : i + 1])
            start = i + 1
    if start < len(text):
        out.append(text[start:])
    return out


def reply_text(answer: Answer) -> str:
    """The answer as a chat client shows it: the checked text with its [n] marks, then the
    cited sources, so the citations mean something even where `docqa` fields are ignored."""
    if answer.abstained or not answer.cited:
        return answer.text
    lines = []
    for s in answer.cited:
        p = s.hit.passage
        place = ", ".join(x for x in (p.section, f"page {p.page}" if p.page else "") if x)
        coll = f" ({s.hit.collection})" if s.hit.collection not in (None, "default") else ""
        lines.append(f"[{s.n}] {p.source}{coll}" + (f" — {place}" if place else ""))
    return answer.text + "\n\nSources:\n" + "\n".join(lines)


def _conversation(messages: list[ChatMessage]) -> tuple[str, list[tuple[str, str]]]:
    """The question (the last user message) and the earlier (question, answer) pairs."""
    texts = [(m.role, _text(m.content)) for m in messages if m.role in ("user", "assistant")]
    if not texts or texts[-1][0] != "user" or not texts[-1][1].strip():
        raise ApiError(400, "the last message must be the user's question", "no_question")
    history, asked = [], None
    for role, text in texts[:-1]:
        if role == "user":
            asked = text
        elif asked is not None:
            history.append((asked, text.split("\n\nSources:\n")[0]))
            asked = None
    return texts[-1][1], history


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if isinstance(content, list):  # content parts: keep the text ones
        return "\n".join(str(p.get("text", "")) for p in content if p.get("type") == "text")
    return content or ""


def _usage(answer: Answer) -> dict:
    prompt = int(answer.usage.get("prompt_tokens", 0))
    completion = int(answer.usage.get("completion_tokens", 0))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
