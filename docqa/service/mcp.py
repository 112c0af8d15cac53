"""docqa as an MCP server (the official `mcp` SDK): tools an agent calls to search the user's
documents and get grounded answers, and the indexed documents as resources.

The same `Hub` as the HTTP API, so the same lock, collections and allowed roots. Tools run
in worker threads: a question takes seconds on a CPU, and the server's event loop must keep
answering other requests (and, under `docqa serve`, other HTTP clients) meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError

from core.errors import DocqaError
from docqa.collections import CollectionError
from docqa.service.hub import Hub
from docqa.service.shapes import hit_dict

INSTRUCTIONS = (
    "docqa answers questions only from the user's own indexed documents, with numbered "
    "citations, and abstains when the documents do not state the answer. An abstention "
    "(`abstained: true`, with `abstain_reason`) is a real result: the documents do not say, so "
    "do not answer from your own knowledge as if they did. Use `search` for raw passages, "
    "`ask` for a checked answer, `list_collections` and `list_sources` to see what is indexed."
)


ANTICIPATED = (DocqaError, ValueError, OSError)  # bad input: the message is for the agent


async def _run(fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)` in a worker thread; docqa's own errors become the tool's error message (the
    SDK would otherwise hide them behind "Error executing tool")."""
    try:
        return await anyio.to_thread.run_sync(fn, *args)
    except ANTICIPATED as exc:
        raise ToolError(str(exc)) from exc


async def _read(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return await anyio.to_thread.run_sync(fn, *args)
    except (FileNotFoundError, CollectionError) as exc:
        raise ResourceNotFoundError(str(exc)) from exc
    except ANTICIPATED as exc:
        raise ResourceError(str(exc)) from exc


def build_mcp(hub: Hub) -> MCPServer:
    server = MCPServer("docqa", instructions=INSTRUCTIONS)

    @server.tool(
        structured_output=True,
        description="Search the user's indexed documents. Returns the passages closest to the "
        "query, best first, each with its file, section, page, character offsets, collection "
        "and scores. Passages are evidence to read, not an answer.",
    )
    async def search(
        query: str, collections: list[str] | None = None, k: int = 5
    ) -> dict[str, Any]:
        hits = await _run(hub.search, collections or ["default"], query, max(1, min(k, 50)))
        return {"query": query, "passages": [hit_dict(h) for h in hits]}

    @server.tool(
        structured_output=True,
        description="Answer a question from the user's indexed documents. Returns the checked "
        "answer: `answer` (text with [n] citation marks), `sentences` with their citations and "
        "support verdicts, `sources` (what each [n] is: file, section, page, text). When the "
        "documents do not state the answer, `abstained` is true and `abstain_reason` says why: "
        "report that the documents do not say; do not fill the gap from elsewhere.",
    )
    async def ask(question: str, collections: list[str] | None = None) -> dict[str, Any]:
        answer = await _run(hub.ask, ",".join(collections or ["default"]), question)
        return answer.to_dict()

    @server.tool(
        structured_output=True,
        description="The files indexed in a collection, with their content hashes.",
    )
    async def list_sources(collection: str = "default") -> dict[str, Any]:
        records = await _run(hub.sources, collection)
        return {"collection": collection, "files": [r.to_dict() for r in records]}

    @server.tool(
        structured_output=True,
        description="The collections (separate sets of documents) that can be asked.",
    )
    async def list_collections() -> dict[str, Any]:
        infos = await _run(hub.list_collections)
        return {"collections": [i.to_dict() for i in infos]}

    @server.resource(
        "docqa://{collection}/documents/{sha256}",
        description="An indexed document's text as docqa read it, by collection and content "
        "hash (list_sources gives both).",
        mime_type="text/plain",
    )
    async def document(collection: str, sha256: str) -> str:
        path, text = await _read(hub.document, collection, sha256)
        return f"{path}\n\n{text}"

    @server.resource(
        "docqa://collections",
        description="The collections, as list_collections returns them.",
        mime_type="application/json",
    )
    async def collections() -> list[dict[str, Any]]:
        infos = await _read(hub.list_collections)
        return [i.to_dict() for i in infos]

    return server
