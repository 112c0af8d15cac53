"""Shared fixtures: fake models for unit tests, settings pointing at a temporary index, and
one sample of every supported format (PDF and DOCX generated rather than committed, so the
binary fixtures stay in step with the libraries that write them and can be read as code)."""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.embedding import SentenceTransformerEmbedder
from core.fakes import HashEmbedder
from docqa import pipeline
from docqa.config import Settings
from index.base import Store
from index.manifest import Manifest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

FIXTURES = Path(__file__).parent / "fixtures"


PG_ENV = "DOCQA_TEST_POSTGRES"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A database of its own on the server named by $DOCQA_TEST_POSTGRES, with pgvector,
    dropped after the session; its DSN. `scripts/postgres.sh start` prints a server's DSN.

    Without the variable the PostgreSQL tests are skipped on a developer's machine, but fail
    in CI (`CI` set), where `.ci/run` starts the server: a skipped backend is not a tested one.
    """
    server = os.environ.get(PG_ENV)
    if not server:
        message = f'{PG_ENV} is not set: export {PG_ENV}="$(scripts/postgres.sh start)"'
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    import psycopg
    from psycopg.conninfo import make_conninfo

    name = f"docqa_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = make_conninfo(server, dbname=name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")
    yield dsn
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(params=["faiss", "postgres"])
def backend(request) -> str:
    """Run a test on both index back-ends: the same behaviour is asked of each."""
    return request.param


@pytest.fixture
def store_settings(backend: str, request, tmp_path: Path) -> dict[str, str]:
    """Settings overrides that put a test's index on `backend`: a folder under tmp_path, or a
    fresh schema in the session's test database."""
    if backend == "faiss":
        return {"index_dir": str(tmp_path / "index")}
    dsn = request.getfixturevalue("pg_database")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    return {
        "index_dir": str(tmp_path / "index"),
        "store.backend": "postgres",
        "store.postgres_dsn": dsn,
        "store.postgres_schema": schema,
    }


@pytest.fixture
def on_backend(store_settings: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(the `store.*` overrides, the environment for a docqa process) on the test's back-end:
    for tests that run ingests in subprocesses."""
    store = {k: v for k, v in store_settings.items() if k.startswith("store.")}
    env = {**os.environ, **{"DOCQA_" + k.upper().replace(".", "__"): v for k, v in store.items()}}
    return store, env


@pytest.fixture
def open_store(store_settings: dict[str, str]) -> Iterator[Callable[..., Store]]:
    """`open_store(manifest, create=..., check_chunking=...)` on the test's back-end; every
    store it opened is closed at the end."""
    opened: list[Store] = []

    def open_(manifest: Manifest, *, create: bool, check_chunking: bool = False) -> Store:
        settings = Settings.load(env={}, overrides=store_settings)
        store = pipeline.open_store(
            settings, lambda: manifest, create=create, check_chunking=check_chunking
        )
        opened.append(store)
        return store

    yield open_
    for store in opened:
        with contextlib.suppress(Exception):  # already closed by the test
            store.close()


@pytest.fixture(scope="session")
def real_embedder() -> SentenceTransformerEmbedder:
    """The default embedding model, loaded on first use and shared by the whole session."""
    return SentenceTransformerEmbedder()


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder(dimension=64, max_tokens=256)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for unit tests: a temporary index, and the hand-set calibration of
    tests/fixtures (so a test's outcome does not move when docqa's calibration is refitted)."""
    return Settings.load(
        env={},
        overrides={
            "index_dir": str(tmp_path / "index"),
            "collections_dir": str(tmp_path / "collections"),
            "model_cache": str(tmp_path / "models"),
            "factcheck.calibration": str(FIXTURES / "calibration.json"),
        },
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


@pytest.fixture(scope="session")
def formats_dir() -> Path:
    return FIXTURES / "formats"


@pytest.fixture(scope="session")
def pdf_bytes() -> bytes:
    """Two pages with distinct text and a metadata title."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=1)  # the same bytes on every run
    pdf.setTitle("Attention Report")
    pdf.setAuthor("Jane Example")
    pdf.drawString(72, 760, "Page one talks about self-attention.")
    pdf.drawString(72, 740, "Queries, keys and values.")
    pdf.showPage()
    pdf.drawString(72, 760, "Page two covers positional encoding.")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


@pytest.fixture(scope="session")
def blank_pdf_bytes() -> bytes:
    """A page with nothing extractable, like a scan without OCR."""
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.rect(100, 100, 200, 200)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


@pytest.fixture(scope="session")
def docx_bytes() -> bytes:
    """Title, nested headings, a bullet list and a table, in that order."""
    import docx

    document = docx.Document()
    document.add_heading("Transformers", level=0)
    document.add_paragraph("An introduction to the architecture.")
    document.add_heading("2. Architecture", level=1)
    document.add_heading("Encoder", level=2)
    document.add_paragraph("The encoder stacks self-attention layers.")
    document.add_paragraph("Multi-head attention", style="List Bullet")
    document.add_paragraph("Feed-forward network", style="List Bullet")
    table = document.add_table(rows=2, cols=3)
    for cell, value in zip(table.rows[0].cells, ("Layer", "Heads", "Width"), strict=True):
        cell.text = value
    for cell, value in zip(table.rows[1].cells, ("6", "8", "512"), strict=True):
        cell.text = value
    document.add_heading("Decoder", level=2)
    document.add_paragraph("The decoder adds cross-attention.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
