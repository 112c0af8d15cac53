"""Two writers never interleave; a reader asking during an ingest sees whole file versions."""

from __future__ import annotations

import hashlib
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.fakes import HashEmbedder
from docqa.config import Settings
from docqa.pipeline import build_pipeline
from generation.fakes import ScriptedGenerator
from index.errors import IndexBusyError
from index.manifest import Manifest
from index.sqlite import IndexStore

pytestmark = pytest.mark.reliability

WORKER = Path(__file__).with_name("ingest_worker.py")


def pipeline_for(index: Path, store: dict[str, str]):
    settings = Settings.load(env={}, overrides={**store, "index_dir": str(index)})
    return build_pipeline(settings, embedder=HashEmbedder(), generator=ScriptedGenerator([]))


def write_corpus(corpus: Path, version: int, files: int) -> dict[str, int]:
    """Every chunk of every file names the file's version; returns sha256 → version."""
    versions = {}
    for i in range(files):
        body = "\n\n".join(
            f"## Part {s}\n\n"
            + " ".join(
                f"Ledger {i} version {version} line {s}-{k} reads {version * 7 + k}."
                for k in range(8)
            )
            for s in range(3)
        )
        (corpus / f"ledger{i:03d}.md").write_text(body)
        versions[hashlib.sha256(body.encode()).hexdigest()] = version
    return versions


def test_two_stores_in_one_process_do_not_both_write(tmp_path):
    manifest = Manifest("hash", 8, 224, 1)
    a = IndexStore.open(tmp_path, manifest, create=True)
    b = IndexStore.open(tmp_path, manifest, create=False)
    with a.writing(), pytest.raises(IndexBusyError, match="changed by another docqa process"):
        b.writing().__enter__()
    a.close()
    b.close()
    with IndexStore.open(tmp_path, manifest, create=False) as b, b.writing():
        pass  # released when its holder let go


def test_an_ingest_while_another_process_writes_is_refused_then_proceeds(tmp_path, on_backend):
    store, env = on_backend
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    write_corpus(corpus, 0, 3)
    holder = subprocess.Popen(
        [sys.executable, str(WORKER), str(corpus), str(index), "--hold"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert holder.stdout is not None
        lines = iter(holder.stdout.readline, "")  # "ready", a line per file, then "locked"
        assert "locked" in (line.strip() for line in lines)
        pipe = pipeline_for(index, store)
        with pytest.raises(IndexBusyError, match=rf"\(pid {holder.pid}\)"):
            pipe.ingest([corpus])
        with pytest.raises(IndexBusyError):
            pipe.remove(corpus)
    finally:
        holder.send_signal(signal.SIGKILL)  # the kernel (or PostgreSQL) drops a dead holder's lock
        holder.wait()
    write_corpus(corpus, 1, 3)
    assert pipe.ingest([corpus]).count("updated") == 3
    pipe.close()


def test_questions_during_an_ingest_see_whole_file_versions(tmp_path, on_backend):
    store_overrides, env = on_backend
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    versions = write_corpus(corpus, 0, 120)
    reader = pipeline_for(index, store_overrides)
    reader.ingest([corpus])
    store, retriever = reader.store(), reader.retriever()
    versions |= write_corpus(corpus, 1, 120)

    writer = subprocess.Popen(
        [sys.executable, str(WORKER), str(corpus), str(index)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    asked, seen_versions = 0, set()
    while writer.poll() is None or asked < 5:
        with store.snapshot():
            hits = retriever.search(f"ledger {asked % 120} line reads", 6)
            for hit in hits:
                record = store.file_record(hit.passage.source)
                assert record is not None, hit.passage.source
                stated = int(re.search(r"version (\d+)", hit.passage.text).group(1))
                assert stated == versions[record.sha256], hit.passage.source
                seen_versions.add(stated)
        asked += 1
    assert writer.wait() == 0
    assert asked >= 5
    # after the writer's flush, a new question follows it to the new version
    hits = retriever.search("ledger 7 line reads", 6)
    assert {int(re.search(r"version (\d+)", h.passage.text).group(1)) for h in hits} == {1}
    reader.close()
