"""What is on a person's disk never loses indexed data, aborts a batch, or leaks into the index.

Folders that cannot be listed, folders moved and replaced by links, links out of the folder,
link loops, names that are not UTF-8 or hold newlines, an empty path from an unset variable,
files that stopped parsing, and the index folder inside the folder being ingested.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from docqa import cli
from docqa.pipeline import build_pipeline
from generation.fakes import ScriptedGenerator
from ingest import loaders

pytestmark = [pytest.mark.reliability, pytest.mark.unit]


@pytest.fixture
def pipe(settings, embedder):
    pipeline = build_pipeline(settings, embedder=embedder, generator=ScriptedGenerator([]))
    yield pipeline
    pipeline.close()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    for name, text in {
        "top.md": "# Top\n\nThe lighthouse keeper is Ana.\n",
        "sub/a.txt": "The crane lifts 40 tonnes.\n",
        "sub/b.txt": "The ferry leaves at 7:40.\n",
    }.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def by_name(report) -> dict[str, tuple[str, str]]:
    return {os.path.basename(o.path): (o.status, o.reason) for o in report.outcomes}


def indexed(pipe) -> set[str]:
    return {os.path.basename(r.path) for r in pipe.sources()}


# ---- folders that cannot be looked at ---------------------------------------------------------
def test_a_folder_that_cannot_be_listed_keeps_its_indexed_files(pipe, tree, monkeypatch):
    pipe.ingest([tree])
    real_list = loaders._list

    def denied(folder):
        if folder.name == "sub":
            raise PermissionError(13, "Permission denied")
        return real_list(folder)

    monkeypatch.setattr(loaders, "_list", denied)
    report = pipe.ingest([tree])
    assert report.count("removed") == 0
    assert indexed(pipe) == {"top.md", "a.txt", "b.txt"}
    status, reason = by_name(report)["sub"]
    assert status == "skipped"
    assert reason == "cannot list: permission denied; its 2 indexed files kept as they were"


def test_an_unlistable_root_removes_nothing(pipe, tree, monkeypatch):
    pipe.ingest([tree])
    monkeypatch.setattr(
        loaders,
        "_list",
        lambda folder: (_ for _ in ()).throw(PermissionError(13, "Permission denied")),
    )
    report = pipe.ingest([tree])
    assert report.count("removed") == 0 and len(indexed(pipe)) == 3
    assert report.skipped[0].reason.startswith("cannot list: permission denied")


def test_a_folder_moved_and_replaced_by_a_link_keeps_its_files_and_says_so(pipe, tree, tmp_path):
    pipe.ingest([tree])
    moved = tmp_path / "elsewhere"
    (tree / "sub").rename(moved)
    (tree / "sub").symlink_to(moved, target_is_directory=True)
    report = pipe.ingest([tree])
    assert report.count("removed") == 0
    assert indexed(pipe) == {"top.md", "a.txt", "b.txt"}
    status, reason = by_name(report)["sub"]
    assert status == "skipped" and "leads outside the folder" in reason
    assert "2 indexed files kept" in reason


# ---- links ------------------------------------------------------------------------------------
def test_links_out_of_the_folder_are_not_followed(pipe, tree, tmp_path):
    secret = tmp_path / "private" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("The vault code is 4242.\n")
    (tree / "escape.txt").symlink_to(secret)
    (tree / "proc-status").symlink_to("/proc/self/status")
    report = pipe.ingest([tree])
    outcomes = by_name(report)
    assert outcomes["escape.txt"][0] == "skipped"
    assert outcomes["escape.txt"][1].startswith("link to a file outside")
    assert outcomes["proc-status"][0] == "skipped"
    assert indexed(pipe) == {"top.md", "a.txt", "b.txt"}
    assert all("4242" not in h.passage.text for h in pipe.retriever().search("vault code", 4))


def test_a_file_named_on_the_command_line_is_read_through_its_link(pipe, tree, tmp_path):
    target = tmp_path / "outside.md"
    target.write_text("# Outside\n\nThe pier is 300 metres long.\n")
    link = tree / "link.md"
    link.symlink_to(target)
    report = pipe.ingest([link])
    assert report.count("indexed") == 1
    assert [r.path for r in pipe.sources()] == [str(target.resolve())]


def test_one_file_reached_by_two_paths_is_indexed_once(pipe, tree):
    (tree / "alias.md").symlink_to(tree / "top.md")
    report = pipe.ingest([tree, tree / "alias.md"])
    assert report.count("indexed") == 3
    assert sorted(indexed(pipe)) == ["a.txt", "b.txt", "top.md"]


def test_link_loops_are_reported_and_the_batch_goes_on(pipe, tree, capsys, monkeypatch):
    (tree / "loop-a").symlink_to(tree / "loop-b")
    (tree / "loop-b").symlink_to(tree / "loop-a")
    (tree / "sub" / "up").symlink_to(tree, target_is_directory=True)
    report = pipe.ingest([tree])
    assert report.count("indexed") == 3
    assert by_name(report)["loop-a"][0] == "skipped"
    # named on the command line: one line naming the file, no traceback
    monkeypatch.setattr(cli, "build_pipeline", lambda s: pipe)
    monkeypatch.setattr(pipe, "close", lambda: None)
    assert cli.main(["--index", str(pipe.settings.index_dir), "ingest", str(tree / "loop-a")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[0].startswith(f"failed: {tree / 'loop-a'}: ")


# ---- names ------------------------------------------------------------------------------------
def test_a_name_that_is_not_utf8_is_indexed_and_named(pipe, tree):
    bad = os.path.join(os.fsencode(tree), b"caf\xe9 menu.txt")
    with open(bad, "wb") as handle:
        handle.write(b"The cafe serves soup on Fridays.\n")
    report = pipe.ingest([tree])
    assert report.count("indexed") == 4 and not report.failed
    assert "caf\\xe9 menu.txt" in indexed(pipe)
    again = pipe.ingest([tree])  # the same key on the next run: unchanged, not re-added
    assert again.count("unchanged") == 4 and again.count("removed") == 0


def test_names_with_newlines_and_tabs_stay_on_one_line(pipe, tree, capsys, monkeypatch):
    (tree / "two\nlines\t.txt").write_text("The harbour opens at six.\n")
    pipe.ingest([tree])
    monkeypatch.setattr(cli, "build_pipeline", lambda s: pipe)
    monkeypatch.setattr(pipe, "close", lambda: None)
    assert cli.main(["--index", str(pipe.settings.index_dir), "sources"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert any(line.split("\t")[0].endswith("two\\nlines\\t.txt") for line in lines)


# ---- empty paths and removing folders ------------------------------------------------------
@pytest.mark.parametrize("command", ["ingest", "remove"])
def test_an_empty_path_is_refused(pipe, tree, command, capsys, monkeypatch):
    pipe.ingest([tree])
    monkeypatch.chdir(tree)
    monkeypatch.setattr(cli, "build_pipeline", lambda s: pipe)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--index", str(pipe.settings.index_dir), command, ""])
    assert exit_.value.code == 2
    assert "empty path" in capsys.readouterr().err
    assert len(indexed(pipe)) == 3
    with pytest.raises(ValueError, match="empty path"):
        pipe.remove("")


def test_removing_a_folder_asks_for_yes(pipe, tree, capsys, monkeypatch):
    pipe.ingest([tree])
    monkeypatch.setattr(cli, "build_pipeline", lambda s: pipe)
    monkeypatch.setattr(pipe, "close", lambda: None)
    index = str(pipe.settings.index_dir)
    assert cli.main(["--index", index, "remove", str(tree / "sub")]) == 1
    assert "holds 2 indexed files; nothing removed (add --yes" in capsys.readouterr().err
    assert len(indexed(pipe)) == 3
    assert cli.main(["--index", index, "remove", str(tree / "top.md")]) == 0  # one file: no ask
    assert cli.main(["--index", index, "remove", "--yes", str(tree / "sub")]) == 0
    assert indexed(pipe) == set()


# ---- the index's own folder ------------------------------------------------------------------
def test_the_index_folder_inside_the_ingested_folder_is_not_ingested(settings, embedder, tree):
    inside = settings.model_copy(update={"index_dir": tree / "index"})
    pipe = build_pipeline(inside, embedder=embedder, generator=ScriptedGenerator([]))
    uploads = tree / "index" / "uploads"
    pipe.ingest([tree])
    uploads.mkdir(parents=True)
    (uploads / "up.md").write_text("# Uploaded\n\nThe bridge opened in 1932.\n")
    pipe.ingest([uploads / "up.md"])  # as the chat's upload does
    report = pipe.ingest([tree])
    assert report.count("removed") == 0
    assert indexed(pipe) == {"top.md", "a.txt", "b.txt", "up.md"}
    assert not any("sqlite" in p or "faiss" in p for p in indexed(pipe))
    assert by_name(report)["index"][0] == "skipped"
    pipe.close()


# ---- files that stop parsing -----------------------------------------------------------------
def test_a_file_that_no_longer_parses_leaves_the_index(pipe, tree):
    pipe.ingest([tree])
    (tree / "sub" / "a.txt").write_bytes(b"")
    (tree / "sub" / "b.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    report = pipe.ingest([tree])
    outcomes = by_name(report)
    assert outcomes["a.txt"][0] == outcomes["b.txt"][0] == "failed"
    assert "earlier version (1 chunks) was removed from the index" in outcomes["a.txt"][1]
    assert indexed(pipe) == {"top.md"}
    assert all("tonnes" not in h.passage.text for h in pipe.retriever().search("crane tonnes", 4))


def test_a_file_that_cannot_be_read_keeps_its_indexed_version(pipe, tree, monkeypatch):
    pipe.ingest([tree])
    target = tree / "sub" / "a.txt"
    target.write_text("The crane lifts 45 tonnes now.\n")
    real_open = Path.open

    def locked(self, *args, **kwargs):
        if self.name == "a.txt":
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", locked)
    report = pipe.ingest([tree])
    status, reason = by_name(report)["a.txt"]
    assert status == "failed"
    assert reason == "cannot read: permission denied; the index keeps its earlier version"
    assert indexed(pipe) == {"top.md", "a.txt", "b.txt"}


def test_force_reads_unchanged_files_again(pipe, tree):
    pipe.ingest([tree])
    assert pipe.ingest([tree]).count("unchanged") == 3
    report = pipe.ingest([tree], force=True)
    assert report.count("updated") == 3 and report.count("unchanged") == 0
