"""Fixtures on the real models: the GGUF answer models, a built index (the real embedder is
in tests/conftest.py, shared with tests/reliability).

Everything heavy is module- or session-scoped: the suite loads each model once.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
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


# Three pages of a town's history; the third names Margaret Hale among other topics: a short
# question about her is not similar to the whole page, only to the sentence that names her.
MILTON = [
    "Milton and its trade\nThe town of Milton grew around its cotton mills, which ran day and"
    "\nnight through the winter of that year. Coal came in by canal from the pits to the north,"
    "\nand the finished cloth left by rail for the port. Wages were paid weekly, on Saturdays.",
    "The strike\nIn the spring the weavers stopped work for higher wages. The masters brought in"
    "\nhands from Ireland, and the union's funds ran low by the end of the second month. The"
    "\nmill owner John Thornton refused to meet the union's delegates.",
    "Newcomers\nThe new rents on Crampton Crescent were high, and the houses were damp. The"
    "\nlending library opened in the evenings. Margaret Hale, the daughter of a clergyman who"
    "\nhad left the Church, came to Milton from a village in the south of England. The fog"
    "\nthat autumn was the worst in living memory, and the trains ran late for a week.",
]


@pytest.fixture(scope="session")
def milton_pdf(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("milton") / "milton.pdf"
    make_pdf(path, MILTON)
    return path


@pytest.fixture(scope="session")
def write_pdf():
    """`make_pdf`, for tests that build a document of their own."""
    return make_pdf


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
    make_pdf(
        root / "pump-manual.pdf",
        [
            "Aquaflow P200 pump manual\nInstallation\nMount the pump on a level concrete base.",
            "Maintenance\nReplace the impeller seal every 1,500 operating hours.\n"
            "Use only the grey AF-12 seal kit.",
        ],
    )
    make_docx(root / "greenhouse.docx")
    (root / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage")
    return root


@pytest.fixture(scope="module")
def index_settings(tmp_path_factory) -> Settings:
    root = tmp_path_factory.mktemp("index")
    return Settings.load(env={}, overrides={"index_dir": str(root)})


@pytest.fixture(scope="module")
def indexed_pipeline(index_settings, real_embedder, corpus_dir):
    """The default pipeline, real models, over the fixture corpus; one per test module."""
    from docqa.pipeline import build_pipeline

    pipe = build_pipeline(index_settings, embedder=real_embedder)
    pipe.ingest([corpus_dir])
    yield pipe
    pipe.close()


SERVER_MODEL = "smollm2-135m"


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on the small model, for the whole session;
    yields its base URL ("http://127.0.0.1:PORT/v1")."""
    import socket
    import subprocess
    import sys

    from generation.models import resolve_model

    model = resolve_model(SERVER_MODEL, Settings.load(env={}).model_cache)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "4096",
        "--n_threads",
        "2",
        "--model_alias",
        SERVER_MODEL,
    ]
    url = f"http://127.0.0.1:{port}/v1"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        wait_until_up(proc, f"{url}/models", log_path, "llama_cpp.server", timeout=60)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until_up(proc, url: str, log_path: Path, what: str, timeout: float) -> None:
    """Wait until `url` answers 200, failing the test with the log's tail if the process
    exits first or `timeout` seconds pass."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}:\n{_tail(log_path)}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not ready after {timeout:.0f} s:\n{_tail(log_path)}")
        time.sleep(0.25)


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
