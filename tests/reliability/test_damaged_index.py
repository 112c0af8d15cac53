"""An index that is read-only, damaged or on a full disk is read, repaired or refused in one line.

SQLite is the index's source of truth and the vector file a cache of it: a cache that cannot
be read is rebuilt, a database that cannot be read is refused naming the index and what to do,
and commands that only read never write.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from docqa import cli
from docqa.pipeline import build_pipeline
from generation.fakes import ScriptedGenerator
from index.sqlite import DB_NAME

pytestmark = [pytest.mark.reliability, pytest.mark.unit]


@pytest.fixture
def built(settings, embedder, corpus):
    """An index over the test corpus, closed: (settings, embedder)."""
    pipe = build_pipeline(settings, embedder=embedder, generator=ScriptedGenerator([]))
    pipe.ingest([corpus])
    pipe.close()
    return settings, embedder


def reader(settings, embedder):
    return build_pipeline(settings, embedder=embedder, generator=ScriptedGenerator([]))


def run_cli(monkeypatch, settings, embedder, *args: str) -> int:
    monkeypatch.setattr(
        cli,
        "build_pipeline",
        lambda s: build_pipeline(s, embedder=embedder, generator=ScriptedGenerator([])),
    )
    return cli.main(["--index", str(settings.index_dir), *args])


def vector_files(settings) -> list[Path]:
    return sorted(settings.index_dir.glob("vectors-*.faiss"))


@pytest.mark.parametrize("damage", [b"", b"\x00garbage" * 100])
def test_an_unreadable_vector_file_is_rebuilt_from_the_database(built, damage):
    settings, embedder = built
    for path in vector_files(settings):
        path.write_bytes(damage)
    pipe = reader(settings, embedder)
    hits = pipe.retriever().search("lighthouse repair budget", 2)
    assert hits and hits[0].passage.source.endswith("notes.txt")
    pipe.close()


def test_random_bytes_as_the_database_are_one_line(built, monkeypatch, capsys):
    settings, embedder = built
    db = settings.index_dir / DB_NAME
    for extra in settings.index_dir.glob(DB_NAME + "-*"):
        extra.unlink()
    db.write_bytes(os.urandom(8192))
    for command in (["sources"], ["ingest", str(settings.index_dir.parent / "corpus")]):
        assert run_cli(monkeypatch, settings, embedder, *command) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert str(settings.index_dir) in err and "is damaged" in err


def test_reading_never_writes(built):
    settings, embedder = built
    for path in vector_files(settings):
        path.unlink()  # a reader rebuilds the cache in memory
    before = {p.name: p.stat().st_mtime_ns for p in settings.index_dir.iterdir()}
    pipe = reader(settings, embedder)
    assert len(pipe.sources()) == 3
    assert pipe.retriever().search("sourdough", 1)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        pipe.store()._conn.execute("CREATE TABLE written(x)")
    pipe.close()
    after = {
        p.name: p.stat().st_mtime_ns
        for p in settings.index_dir.iterdir()
        if not p.name.startswith(DB_NAME + "-")
    }  # SQLite's own read-side files
    assert after == {k: v for k, v in before.items() if not k.startswith(DB_NAME + "-")}


@contextlib.contextmanager
def mounted(kind: str, where: Path, source: Path | None = None):
    """A tmpfs of 8 MB, or a read-only bind mount of `source`, at `where` (root only)."""
    where.mkdir(parents=True, exist_ok=True)
    if kind == "tmpfs":
        command = ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(where)]
    else:
        command = ["mount", "--bind", "-o", "ro", str(source), str(where)]
    if os.geteuid() != 0 or subprocess.run(command, capture_output=True).returncode != 0:
        pytest.skip(f"cannot mount a {kind} here (needs root in a privileged environment)")
    try:
        if kind == "ro":  # older util-linux ignores ro on the first bind: remount
            subprocess.run(["mount", "-o", "remount,bind,ro", str(where)], check=True)
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_an_index_on_a_read_only_mount_can_be_listed_and_searched(built, tmp_path):
    settings, embedder = built
    for path in vector_files(settings):
        path.unlink()  # and its vector cache cannot be saved there either
    with mounted("ro", tmp_path / "ro", settings.index_dir) as ro:
        pipe = reader(settings.model_copy(update={"index_dir": ro}), embedder)
        assert len(pipe.sources()) == 3
        assert pipe.retriever().search("lighthouse", 1)[0].passage.source.endswith("notes.txt")
        pipe.close()


def test_another_users_index_can_be_listed(tmp_path):
    """`docqa sources` as a user who cannot write the index (a real process, real models)."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root to run a command as another user")
    shared = Path(tempfile.mkdtemp(prefix="docqa-shared-"))
    try:
        os.chmod(shared, 0o755)
        (shared / "doc.md").write_text("# Doc\n\nThe tide table is on page four.\n")
        env = {**os.environ, "DOCQA_INDEX": str(shared / "index"), "HF_HUB_OFFLINE": "1"}
        docqa = [sys.executable, "-m", "docqa"]
        subprocess.run(
            [*docqa, "ingest", str(shared / "doc.md")], env=env, check=True, capture_output=True
        )
        for path in [shared, *shared.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        result = subprocess.run(
            [*as_nobody, *docqa, "sources"],
            capture_output=True,
            text=True,
            env={**env, "HOME": str(shared)},
        )
        assert result.returncode == 0, result.stderr
        assert "doc.md" in result.stdout
    finally:
        for path in [shared, *shared.rglob("*")]:
            path.chmod(0o755)
        shutil.rmtree(shared)


def test_a_full_disk_is_one_line_and_the_index_recovers(
    settings, embedder, tmp_path, monkeypatch, capsys
):
    with mounted("tmpfs", tmp_path / "small") as small:
        index = small / "index"
        settings = settings.model_copy(update={"index_dir": index})
        docs = tmp_path / "docs"
        docs.mkdir()
        for i in range(40):
            (docs / f"note{i:02}.md").write_text(f"# Note {i}\n\n" + f"Fact {i} is here. " * 300)
        (docs / "note00.md").write_text("# Note 0\n\nThe dock opens at nine.\n")
        pipe = build_pipeline(settings, embedder=embedder, generator=ScriptedGenerator([]))
        pipe.ingest([docs / "note00.md"])
        pipe.close()
        filler = small / "filler"
        free = shutil.disk_usage(small).free
        filler.write_bytes(b"\0" * max(free - 64 * 1024, 0))
        assert run_cli(monkeypatch, settings, embedder, "ingest", str(docs)) == 1
        err = capsys.readouterr().err
        last = err.strip().splitlines()[-1]
        assert "Traceback" not in err
        assert last.startswith("docqa: error: ") and str(index) in last and "full" in last
        assert run_cli(monkeypatch, settings, embedder, "sources") == 0  # reading still works
        capsys.readouterr()
        filler.unlink()
        code = run_cli(monkeypatch, settings, embedder, "ingest", str(docs))
        assert code == 0, capsys.readouterr().err
        pipe = reader(settings, embedder)
        assert len(pipe.sources()) == 40
        assert pipe.retriever().search("dock opens", 1)[0].passage.source.endswith("note00.md")
        pipe.close()
