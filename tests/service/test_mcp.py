"""The MCP server through the official SDK's own client, over stdio: every tool, and the
indexed documents as resources."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from docqa.pipeline import build_pipeline
from tests.service.conftest import BUDGET

pytestmark = pytest.mark.unit

SERVER = Path(__file__).with_name("fake_mcp.py")


def _call(settings, coroutine):
    overrides = {
        "index_dir": str(settings.index_dir),
        "collections_dir": str(settings.collections_dir),
        "factcheck.calibration": str(settings.factcheck.calibration),
    }
    params = StdioServerParameters(
        command=sys.executable, args=[str(SERVER), json.dumps(overrides), BUDGET]
    )

    async def run():
        async with Client(params) as client:
            return await coroutine(client)

    return anyio.run(run)


def test_every_tool_and_the_documents(settings, embedder, corpus):
    build_pipeline(settings, embedder=embedder).ingest([corpus])

    async def session(client):
        tools = {t.name: t for t in (await client.list_tools()).tools}
        found = await client.call_tool("search", {"query": "lighthouse repair budget", "k": 2})
        asked = await client.call_tool(
            "ask", {"question": "What is the budget for the lighthouse repair?"}
        )
        sources = await client.call_tool("list_sources", {})
        collections = await client.call_tool("list_collections", {})
        missing = await client.call_tool("list_sources", {"collection": "nope"})
        notes = next(
            f for f in sources.structured_content["files"] if f["path"].endswith("notes.txt")
        )
        document = await client.read_resource(f"docqa://default/documents/{notes['sha256']}")
        return tools, found, asked, sources, collections, missing, (notes, document)

    tools, found, asked, sources, collections, missing, (notes, document) = _call(settings, session)
    assert set(tools) == {"search", "ask", "list_sources", "list_collections"}
    assert "abstain" in tools["ask"].description  # an agent is told what an abstention means
    passages = found.structured_content["passages"]
    assert passages[0]["path"].endswith("notes.txt") and passages[0]["collection"] == "default"
    answer = asked.structured_content
    assert answer["abstained"] is False and answer["sentences"][0]["citations"] == [1]
    assert "18,000 euros" in answer["answer"]
    assert len(sources.structured_content["files"]) == 3
    assert [c["name"] for c in collections.structured_content["collections"]] == ["default"]
    assert missing.is_error and "no collection 'nope'" in missing.content[0].text
    text = document.contents[0].text
    assert "lighthouse repair is 18,000 euros" in text and text.startswith(notes["path"])
