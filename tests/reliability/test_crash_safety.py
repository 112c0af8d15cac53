"""Kill an ingest with SIGKILL at random moments, many times: nothing half-written survives.

Each round changes the corpus (edits, deletions, new files), starts an ingest in a child
process and kills it at a random moment: before any file is stored (while parsing and
embedding), or after a random number of files were stored, a random few milliseconds into the
next ones (the stores come in a burst once a pool of chunks is embedded). Then the index must
open, FAISS and SQLite must hold the same chunks, and every file in the index must be present
exactly as one complete version of it: its chunk count and full-text rows those of the content
whose hash it records.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from docqa.config import Settings
from docqa.pipeline import build_pipeline
from generation.fakes import ScriptedGenerator
from ingest.fakes import HashEmbedder
from ingest.store import IndexStore

pytestmark = pytest.mark.reliability

WORKER = Path(__file__).with_name("ingest_worker.py")
ROUNDS = 25
FILES = 40


def text(name: str, version: int) -> str:
    sections = [
        f"## Part {s}\n\n" + " ".join(
            f"The {name} record {version} notes item {s}-{k} with value {version * 100 + k}."
            for k in range(6 + (version + s) % 9)
        )
        for s in range(1 + version % 4)
    ]
    return f"# {name} v{version}\n\n" + "\n\n".join(sections) + "\n"


def pipeline_for(index: Path, store: dict[str, str] | None = None):
    """A pipeline on the hash embedder; `store` holds `store.*` overrides (another back-end)."""
    settings = Settings.load(env={}, overrides={**(store or {}), "index_dir": str(index)})
    return build_pipeline(settings, embedder=HashEmbedder(), generator=ScriptedGenerator(
        ["The record notes it [1]."], yes=0.99))


def expected_chunks(tmp: Path, contents: dict[str, str]) -> dict[str, int]:
    """sha256 → chunk count, from an uninterrupted ingest of every version seen."""
    corpus = tmp / "reference-corpus"
    corpus.mkdir(exist_ok=True)
    for i, body in enumerate(contents.values()):
        (corpus / f"v{i}.md").write_text(body)
    pipe = pipeline_for(tmp / "reference-index")
    pipe.ingest([corpus])
    counts = {r.sha256: r.chunks for r in pipe.sources()}
    pipe.close()
    return counts


def check_consistent(index: Path, expected: dict[str, int],
                     store_overrides: dict[str, str] | None = None) -> int:
    pipe = pipeline_for(index, store_overrides)
    store = pipe.store()
    chunks = store.count_chunks()
    assert store.size == chunks, "the vector index and the chunks disagree"
    if chunks:
        everything = store.search_vectors(np.ones(HashEmbedder().dimension, np.float32), chunks)
        assert sorted(i for i, _ in everything) == store.chunk_ids()
    if isinstance(store, IndexStore):  # PostgreSQL's tsvector is a column of the chunk row
        fts = store._conn.execute("SELECT count(*) FROM chunks_fts").fetchone()[0]
        assert fts == chunks, "the full-text index and the chunks disagree"
    for record in pipe.sources():
        assert record.documents >= 1 and record.chunks == expected[record.sha256], record.path
    pipe.close()
    return chunks


def test_killed_ingests_leave_every_document_whole(tmp_path, backend, on_backend):
    store, env = on_backend
    rounds = ROUNDS if backend == "faiss" else ROUNDS // 2
    rng = random.Random(7)
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    seen: dict[str, str] = {}  # every content ever written, by sha256 once hashed
    versions = {f"doc{i:02d}.md": 0 for i in range(FILES)}

    def write(name: str) -> None:
        body = text(name, versions[name])
        (corpus / name).write_text(body)
        seen[body] = body

    for name in versions:
        write(name)

    killed = 0
    for _ in range(rounds):
        for name in rng.sample(sorted(versions), 20):  # edit half the files
            versions[name] += 1
            write(name)
        gone = rng.choice(sorted(versions))  # delete one, add one
        (corpus / gone).unlink()
        del versions[gone]
        new = f"new{len(seen):03d}.md"
        versions[new] = rng.randrange(5)
        write(new)

        child = subprocess.Popen([sys.executable, str(WORKER), str(corpus), str(index)],
                                 stdout=subprocess.PIPE, text=True, env=env)
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        for _ in range(rng.randrange(0, 22)):  # files stored before the kill
            if not child.stdout.readline():
                break
        time.sleep(rng.uniform(0, 0.01))
        child.send_signal(signal.SIGKILL)
        child.wait()
        killed += child.returncode == -signal.SIGKILL
        check_consistent(index, expected_chunks(tmp_path, seen), store)

    print(f"{killed} of {rounds} ingests on {backend} killed by SIGKILL; the index stayed "
          "consistent")
    assert killed >= rounds * 3 // 4, f"only {killed} of {rounds} ingests were killed mid-way"
    pipe = pipeline_for(index, store)  # a full ingest afterwards completes the index
    report = pipe.ingest([corpus])
    assert not report.failed
    assert {Path(r.path).name for r in pipe.sources()} == set(versions)
    answer = pipe.ask("What does the doc03 record note?")
    assert not answer.abstained and answer.sources
    pipe.close()
    check_consistent(index, expected_chunks(tmp_path, seen), store)


@pytest.mark.integration
def test_docqa_ask_answers_after_killed_ingests_on_the_real_models(tmp_path):
    """The same kills with the default embedder, then the CLI answers from the index."""
    rng = random.Random(11)
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(Path(__file__).parents[1] / "fixtures" / "corpus", corpus)
    for round_ in range(5):
        (corpus / f"log{round_}.md").write_text(text(f"log{round_}", round_))
        child = subprocess.Popen(
            [sys.executable, str(WORKER), str(corpus), str(index), "--real"],
            stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(2, 8))  # model load, then the ingest itself
        child.send_signal(signal.SIGKILL)
        child.wait()
    docqa = [sys.executable, "-m", "docqa", "--index", str(index)]
    run = subprocess.run([*docqa, "ingest", str(corpus)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    run = subprocess.run([*docqa, "ask", "--model", "smollm2-135m", "--json",
                          "How long does the sourdough rest before baking?"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert any(s["path"].endswith("bakery.html") for s in answer["sources"])
