"""What a chat user can make the server read: uploads, and paths inside `ui.ingest_roots`.

Loopback binding, the login and upload-name sanitising are tested in
tests/integration/test_ui_e2e.py and tests/ui/test_chat.py; here, the "Ingest path" box.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from docqa.chat import chat_app
from docqa.pipeline import build_pipeline
from generation.fakes import ScriptedGenerator
from ui.app import DocqaApp

pytestmark = pytest.mark.reliability


def app_for(settings, embedder, roots: list[Path]) -> DocqaApp:
    settings = settings.model_copy(
        update={"ui": settings.ui.model_copy(update={"ingest_roots": [str(r) for r in roots]})}
    )
    return chat_app(build_pipeline(settings, embedder=embedder, generator=ScriptedGenerator([])))


@pytest.fixture
def layout(tmp_path):
    """An allowed folder with a document, a secret outside it, and links pointing out."""
    allowed, outside = tmp_path / "allowed", tmp_path / "private"
    allowed.mkdir()
    outside.mkdir()
    (allowed / "notes.md").write_text("# Notes\n\nThe pump seal lasts 1,500 hours.\n")
    (outside / "secret.txt").write_text("The vault code is 4242.\n")
    (allowed / "escape.txt").symlink_to(outside / "secret.txt")
    (allowed / "escape-dir").symlink_to(outside, target_is_directory=True)
    return allowed, outside


def statuses(rows) -> dict[str, tuple[str, str]]:
    return {Path(r[0]).name: (r[1], r[2]) for r in rows}


def test_the_path_box_is_off_until_roots_are_configured(settings, embedder, layout):
    allowed, _ = layout
    rows, docs = app_for(settings, embedder, []).ingest_path(str(allowed))
    assert rows[0][1] == "failed" and "ui.ingest_roots" in rows[0][2]
    assert docs == []


def test_paths_outside_the_roots_are_refused_unread(settings, embedder, layout):
    allowed, outside = layout
    app = app_for(settings, embedder, [allowed])
    for hostile in (
        outside / "secret.txt",
        outside,
        allowed / ".." / "private",
        allowed / "escape.txt",
        Path("/etc/passwd"),
    ):
        rows, docs = app.ingest_path(str(hostile))
        assert rows and all(r[1] == "failed" for r in rows), hostile
        assert all("outside the folders allowed here" in r[2] for r in rows), rows
        assert docs == []


def test_a_root_is_ingested_without_what_its_links_point_to(settings, embedder, layout):
    allowed, _ = layout
    app = app_for(settings, embedder, [allowed])
    rows, docs = app.ingest_path(str(allowed))
    status = statuses(rows)
    assert status["notes.md"] == ("indexed", "1 chunk")
    assert status["escape.txt"][0] == "skipped"
    assert status["escape.txt"][1].startswith("link to a file outside")
    assert "secret.txt" not in status  # a linked folder is not walked at all
    assert [Path(d[0]).name for d in docs] == ["notes.md"]
    answerless = app.library.retriever().search("vault code", 4)
    assert all("4242" not in h.passage.text for h in answerless)
