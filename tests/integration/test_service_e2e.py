"""`docqa serve` and `docqa mcp` as a user runs them: real processes on the default models,
spoken to by the real clients (the `openai` package, the MCP SDK over streamable HTTP and
over stdio)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import openai
import pytest
from mcp import Client, StdioServerParameters

from tests.integration.conftest import wait_until_up

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).parents[1] / "fixtures" / "corpus"
KEY = "e2e-key"
QUESTION = "How many nautical miles is the Kestrel Bay lighthouse visible for?"


def _env(index: Path, collections: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "DOCQA_INDEX": str(index),
        "DOCQA_COLLECTIONS_DIR": str(collections),
        "DOCQA_SERVE__API_KEY": KEY,
    }


@pytest.fixture(scope="module")
def indexed(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("service")
    index, collections = root / "index", root / "collections"
    docqa = [sys.executable, "-m", "docqa"]
    subprocess.run(
        [*docqa, "ingest", str(CORPUS)], env=_env(index, collections), check=True, timeout=300
    )
    return index, collections


@pytest.fixture(scope="module")
def served(indexed) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = indexed[0].parent / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "docqa", "serve", "--port", str(port), "--no-chat"],
            env=_env(*indexed),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(proc, f"{url}/api/health", log, "docqa serve", timeout=120)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_an_openai_client_gets_a_cited_answer_streamed_and_whole(served):
    client = openai.OpenAI(base_url=f"{served}/v1", api_key=KEY, max_retries=0, timeout=300)
    whole = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": QUESTION}]
    )
    message = whole.choices[0].message
    docqa = message.model_extra["docqa"]
    assert not docqa["abstained"], docqa["abstain_reason"]
    assert "22" in message.content and "[1]" in message.content
    cited = [s for s in docqa["sources"] if s["cited"]]
    assert cited and all(s["path"].endswith("harbor-guide.txt") for s in cited)
    assert whole.usage.prompt_tokens > 0
    streamed = list(
        client.chat.completions.create(
            model="default", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in streamed)
    assert "22" in text and "Sources:" in text
    assert streamed[-1].model_extra["docqa"]["abstained"] is False
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{served}/v1", api_key="nope", max_retries=0).models.list()


def test_an_mcp_client_over_streamable_http(served):
    async def session():
        import httpx2  # the MCP SDK's HTTP client
        from mcp.client.streamable_http import streamable_http_client

        headers = {"Authorization": f"Bearer {KEY}"}
        http = httpx2.AsyncClient(headers=headers, timeout=120)
        async with http, Client(streamable_http_client(f"{served}/mcp/", http_client=http)) as c:
            tools = {t.name for t in (await c.list_tools()).tools}
            found = await c.call_tool("search", {"query": "lighthouse nautical miles"})
            return tools, found

    tools, found = anyio.run(session)
    assert tools == {"search", "ask", "list_sources", "list_collections"}
    assert found.structured_content["passages"][0]["path"].endswith("harbor-guide.txt")


def test_docqa_mcp_over_stdio_calls_every_tool(indexed):
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "docqa", "mcp"], env=_env(*indexed)
    )

    async def session():
        async with Client(params) as c:
            collections = await c.call_tool("list_collections", {})
            sources = await c.call_tool("list_sources", {})
            found = await c.call_tool("search", {"query": "impeller seal", "k": 3})
            asked = await c.call_tool("ask", {"question": "Who won the football world cup?"})
            return collections, sources, found, asked

    collections, sources, found, asked = anyio.run(session)
    assert [c["name"] for c in collections.structured_content["collections"]] == ["default"]
    assert len(sources.structured_content["files"]) == 3
    assert found.structured_content["passages"]
    answer = asked.structured_content
    assert answer["abstained"] is True and answer["abstain_reason"]  # the documents do not say
