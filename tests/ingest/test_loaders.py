"""Loading files from disk: walking folders, refusing bad paths, and sniff → parse wiring."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ingest.errors import EmptyDocumentError, IngestError, UnsupportedFormatError
from ingest.loaders import documents_from_bytes, iter_files, load_file, read_checked

pytestmark = pytest.mark.unit

MB = 1024 * 1024


def test_load_feed_named_txt(formats_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "feed.txt"
    shutil.copy(formats_dir / "atom_feed.txt", path)
    docs = load_file(path, max_bytes=MB)
    assert [d.key for d in docs] == ["entry-1", "entry-2"]
    assert {d.source for d in docs} == {str(path)}


def test_load_pdf_and_docx(tmp_path: Path, pdf_bytes: bytes, docx_bytes: bytes) -> None:
    (tmp_path / "a.bin").write_bytes(pdf_bytes)
    (tmp_path / "b.bin").write_bytes(docx_bytes)
    assert load_file(tmp_path / "a.bin", max_bytes=MB)[0].format == "pdf"
    fmt, docs = documents_from_bytes(docx_bytes, tmp_path / "b.bin")
    assert fmt == "docx" and docs[0].source == str(tmp_path / "b.bin")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="no such file"):
        load_file(tmp_path / "nope.md", max_bytes=MB)


def test_folder_is_not_a_regular_file(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="not a regular file"):
        read_checked(tmp_path, MB)


def test_too_big(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * (3 * MB))
    with pytest.raises(IngestError, match=r"^file is 3 MB, over the 2 MB limit$"):
        load_file(path, max_bytes=2 * MB)


def test_too_big_message_never_shows_equal_numbers(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * (MB + MB // 10))
    with pytest.raises(IngestError, match=r"file is 1\.1 MB, over the 1\.0 MB limit"):
        read_checked(path, MB)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.md"
    path.touch()
    with pytest.raises(EmptyDocumentError, match="empty file"):
        load_file(path, max_bytes=MB)


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "image.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(100))
    with pytest.raises(UnsupportedFormatError, match="binary content"):
        load_file(path, max_bytes=MB)


def make_tree(root: Path) -> None:
    for name in ("b.md", "a/z.txt", "a/b/c.html", "c.txt", ".hidden.md", ".git/config", "a/.x"):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")


def test_iter_files_sorted_and_skips_hidden(tmp_path: Path) -> None:
    make_tree(tmp_path)
    found = [p.relative_to(tmp_path).as_posix() for p in iter_files([tmp_path])]
    assert found == ["a/b/c.html", "a/z.txt", "b.md", "c.txt"]


def test_iter_files_reports_missing_and_dedupes(tmp_path: Path) -> None:
    make_tree(tmp_path)
    missing = tmp_path / "missing.pdf"
    found = list(iter_files([tmp_path / "c.txt", missing, tmp_path]))
    assert found[:2] == [tmp_path / "c.txt", missing]
    assert found.count(tmp_path / "c.txt") == 1
    assert tmp_path / "b.md" in found


def test_explicit_hidden_file_is_kept(tmp_path: Path) -> None:
    make_tree(tmp_path)
    assert list(iter_files([tmp_path / ".hidden.md"])) == [tmp_path / ".hidden.md"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlinked_folders_skipped(tmp_path: Path) -> None:
    make_tree(tmp_path)
    (tmp_path / "a" / "loop").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "link.md").symlink_to(tmp_path / "b.md")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_files([tmp_path])]
    assert "link.md" not in found  # same file as b.md, yielded once
    assert not any(p.startswith("a/loop") for p in found)
