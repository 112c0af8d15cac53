"""Kill an ingest with SIGKILL at random moments, many times: nothing half-written survives.

Each round changes the corpus (edits, deletions, new files), starts an ingest in a child
process and kills it at a random moment: before any file is stored (while parsing and
embedding), or after a random number of files were stored, a random few milliseconds into the
next ones (the stores come in a burst once a pool of chunks is embedded). Then the index must
open, FAISS and SQLite must hold the same chunks, and every file in the index must be present
exactly as one complete version of it: its chunk count and full-text rows those of the content
whose hash it records.

A second test kills ingests that remove many files, and ingests whose collection crosses the
exact-search threshold so that the vector index is rebuilt in the other layout (flat ↔ IVF):
the kill lands among the removals or while the rebuild runs. Both tests run on both back-ends:
64 + 36 rounds in all (the PostgreSQL store has no layouts to rebuild; its rounds kill during
removals).
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

from core.fakes import HashEmbedder
from docqa.config import Settings
from docqa.pipeline import build_pipeline
from generation.fakes import ScriptedGenerator
from index.sqlite import IndexStore

pytestmark = pytest.mark.reliability

WORKER = Path(__file__).with_name("ingest_worker.py")
ROUNDS = {"faiss": 40, "postgres": 24}
LAYOUT_ROUNDS = {"faiss": 24, "postgres": 12}
FILES = 40


def text(name: str, version: int) -> str:
    sections = [
        f"## Part {s}\n\n"
        + " ".join(
            f"The {name} record {version} notes item {s}-{k} with value {version * 100 + k}."
            for k in range(6 + (version + s) % 9)
        )
        for s in range(1 + version % 4)
    ]
    return f"# {name} v{version}\n\n" + "\n\n".join(sections) + "\n"


def pipeline_for(index: Path, store: dict[str, str] | None = None):
    """A pipeline on the hash embedder; `store` holds `store.*` (another back-end) and
    `retrieval.*` overrides."""
    settings = Settings.load(
        env={},
        overrides={
            **(store or {}),
            "index_dir": str(index),
            # the hand-set calibration of the unit tests: the scripted answer's fate must not
            # move when docqa's calibration is refitted
            "factcheck.calibration": str(
                Path(__file__).parents[1] / "fixtures" / "calibration.json"
            ),
        },
    )
    return build_pipeline(
        settings,
        embedder=HashEmbedder(),
        generator=ScriptedGenerator(["The record notes it [1]."], yes=0.99),
    )


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


def check_consistent(
    index: Path, expected: dict[str, int], store_overrides: dict[str, str] | None = None
) -> int:
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
    rounds = ROUNDS[backend]
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

        child = subprocess.Popen(
            [sys.executable, str(WORKER), str(corpus), str(index)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        for _ in range(rng.randrange(0, 22)):  # files stored before the kill
            if not child.stdout.readline():
                break
        time.sleep(rng.uniform(0, 0.01))
        child.send_signal(signal.SIGKILL)
        child.wait()
        killed += child.returncode == -signal.SIGKILL
        check_consistent(index, expected_chunks(tmp_path, seen), store)

    print(
        f"{killed} of {rounds} ingests on {backend} killed by SIGKILL; the index stayed consistent"
    )
    assert killed >= rounds * 3 // 4, f"only {killed} of {rounds} ingests were killed mid-way"
    pipe = pipeline_for(index, store)  # a full ingest afterwards completes the index
    report = pipe.ingest([corpus])
    assert not report.failed
    assert {Path(r.path).name for r in pipe.sources()} == set(versions)
    present = sorted(versions)[0].removesuffix(".md")
    answer = pipe.ask(f"What does the {present} record note?")
    assert not answer.abstained and answer.sources
    pipe.close()
    check_consistent(index, expected_chunks(tmp_path, seen), store)


def start(corpus: Path, index: Path, env: dict[str, str]) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, str(WORKER), str(corpus), str(index)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    return child


def kill_after(child: subprocess.Popen, wanted: str, count: int, delay_s: float) -> bool:
    """Read the worker's lines until `count` lines equal to `wanted` have come, wait `delay_s`,
    SIGKILL it; True when the kill landed before the ingest finished."""
    assert child.stdout is not None
    seen = 0
    while seen < count:
        line = child.stdout.readline()
        if not line or line.strip() == "done":
            break
        seen += line.strip() == wanted
    time.sleep(delay_s)
    child.send_signal(signal.SIGKILL)
    child.wait()
    return child.returncode == -signal.SIGKILL


def test_kills_during_removals_and_vector_layout_rebuilds(tmp_path, backend, on_backend):
    """Alternate rounds: restore the whole corpus (the collection crosses the exact-search
    threshold, so the index is rebuilt as IVF), then delete most of it (removals, and a rebuild
    back to exact search). Kill among the removals, or just after the rebuild announced
    itself."""
    store, env = on_backend
    layout = {"retrieval.exact_search_max": "60"}  # ~150 chunks in all, ~25 after deleting
    env = {**env, "DOCQA_RETRIEVAL__EXACT_SEARCH_MAX": layout["retrieval.exact_search_max"]}
    overrides = {**store, **layout}
    rng = random.Random(13)
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    names = [f"doc{i:02d}.md" for i in range(FILES)]
    bodies = {name: text(name, i % 3) for i, name in enumerate(names)}
    expected = expected_chunks(tmp_path, {b: b for b in bodies.values()})
    landed = {"removed": 0, "rebuilding": 0}
    for round_ in range(LAYOUT_ROUNDS[backend]):
        present = {p.name for p in corpus.iterdir()}
        if round_ % 2 == 0:  # grow: everything back
            for name in names:
                (corpus / name).write_text(bodies[name])
            wanted = "rebuilding" if backend == "faiss" else "indexed"
            count = 1 if backend == "faiss" else rng.randrange(1, FILES - len(present) + 1)
            delay = rng.uniform(0, 0.004)
        else:  # shrink: delete all but five
            for name in rng.sample(sorted(present), len(present) - 5):
                (corpus / name).unlink()
            wanted, count, delay = "removed", rng.randrange(1, len(present) - 5), 0.0
        if round_ == 0:  # the first ingest builds the index whole, to have a layout to change
            pipe = pipeline_for(index, overrides)
            pipe.ingest([corpus])
            assert pipe.store().describe_vectors().startswith("IVF" if backend == "faiss" else "")
            pipe.close()
            continue
        child = start(corpus, index, env)
        if kill_after(child, wanted, count, delay) and wanted in landed:
            landed[wanted] += 1
        check_consistent(index, expected, overrides)
    print(
        f"{backend}: kills that landed among removals {landed['removed']}, during a "
        f"layout rebuild {landed['rebuilding']}, in {LAYOUT_ROUNDS[backend]} rounds"
    )
    assert landed["removed"] >= LAYOUT_ROUNDS[backend] // 2 - 2
    if backend == "faiss":
        assert landed["rebuilding"] >= LAYOUT_ROUNDS[backend] // 4
    pipe = pipeline_for(index, overrides)  # and a full ingest afterwards completes the index
    for name in names:
        (corpus / name).write_text(bodies[name])
    assert not pipe.ingest([corpus]).failed
    assert len(pipe.sources()) == FILES
    pipe.close()
    check_consistent(index, expected, overrides)


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
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(2, 8))  # model load, then the ingest itself
        child.send_signal(signal.SIGKILL)
        child.wait()
    docqa = [sys.executable, "-m", "docqa", "--index", str(index)]
    run = subprocess.run([*docqa, "ingest", str(corpus)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    run = subprocess.run(
        [
            *docqa,
            "ask",
            "--model",
            "smollm2-135m",
            "--json",
            "How long does the sourdough rest before baking?",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert any(s["path"].endswith("bakery.html") for s in answer["sources"])
