"""Shared fixtures: fake models for unit tests, settings pointing at a temporary index."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from docqa.config import Settings
from ingest.fakes import HashEmbedder

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder(dimension=64, max_tokens=256)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.load(
        env={},
        overrides={"index_dir": str(tmp_path / "index"), "model_cache": str(tmp_path / "models")},
    )


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A small folder of documents in several formats, written fresh for each test."""
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "rivers.md").write_text(
        "---\ntitle: Rivers of Nowhere\n---\n# Rivers\n\n## Length\n\n"
        "The Silverrun river is 412 kilometres long. It flows north into Lake Quill.\n\n"
        "## Fish\n\nThe river is home to the blue pike, which spawns in April.\n"
    )
    (root / "notes.txt").write_text(
        "Meeting notes. The budget for the lighthouse repair is 18,000 euros.\n"
        "The repair starts in June and is led by Ana Kovacs.\n"
    )
    (root / "page.html").write_text(
        "<html><head><title>Bakery</title></head><body><h1>Bakery</h1>"
        "<p>The sourdough rests for 36 hours before baking.</p></body></html>"
    )
    return root
