"""Fixtures on the real models: the GGUF answer models, a built index (the real embedder is
in tests/conftest.py, shared with tests/reliability).

Everything heavy is module- or session-scoped: the suite loads each model once.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from docqa.config import Settings

CORPUS = Path(__file__).parents[1] / "fixtures" / "corpus"


def make_pdf(path: Path, pages: list[str]) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4)
    for text in pages:
        y = 800
        for line in text.split("\n"):
            pdf.drawString(72, y, line)
            y -= 16
        pdf.showPage()
    pdf.save()


def make_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Greenhouse Handbook", level=1)
    document.add_heading("Watering", level=2)
    document.add_paragraph("Tomato seedlings in the greenhouse are watered every 3 days.")
    document.save(str(path))


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    """The fixture corpus plus a generated PDF, a DOCX and one corrupt PDF."""
    root = tmp_path_factory.mktemp("corpus")
    shutil.copytree(CORPUS, root, dirs_exist_ok=True)
    make_pdf(root / "pump-manual.pdf", [
        "Aquaflow P200 pump manual\nInstallation\nMount the pump on a level concrete base.",
        "Maintenance\nReplace the impeller seal every 1,500 operating hours.\n"
        "Use only the grey AF-12 seal kit.",
    ])
    make_docx(root / "greenhouse.docx")
    (root / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage")
    return root


@pytest.fixture(scope="module")
def index_settings(tmp_path_factory) -> Settings:
    root = tmp_path_factory.mktemp("index")
    return Settings.load(env={}, overrides={"index_dir": str(root)})
