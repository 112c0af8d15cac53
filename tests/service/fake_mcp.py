"""`python tests/service/fake_mcp.py SETTINGS_JSON`: docqa's MCP server on stdio over fake
models (a hashing embedder, a scripted answer), for the MCP tests' real SDK client."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.fakes import HashEmbedder  # noqa: E402
from docqa.config import Settings  # noqa: E402
from docqa.pipeline import build_pipeline  # noqa: E402
from docqa.service.hub import Hub  # noqa: E402
from docqa.service.mcp import build_mcp  # noqa: E402
from generation.fakes import ScriptedGenerator  # noqa: E402

if __name__ == "__main__":
    overrides = json.loads(sys.argv[1])
    reply = sys.argv[2]
    settings = Settings.load(env={}, overrides=overrides)
    pipeline = build_pipeline(
        settings, embedder=HashEmbedder(dimension=64), generator=ScriptedGenerator([reply])
    )
    build_mcp(Hub(pipeline)).run("stdio")
