import os

import pytest

from index.manifest import Manifest
from index.sqlite import IndexStore
from ingest.ingester import Ingester

pytestmark = pytest.mark.unit


@pytest.fixture
def ingester(open_store, embedder):
    """An ingester on each index back-end: incremental ingest must behave the same on both."""
    store = open_store(Manifest(embedder.model_id, 64, 128, 1), create=True, check_chunking=True)
    return Ingester(
        store, embedder, chunk_tokens=128, overlap_sentences=1, max_file_bytes=1_000_000
    )


def test_first_ingest_indexes_every_file(ingester, corpus):
    report = ingester.ingest([corpus])
    assert report.count("indexed") == 3 and not report.failed
    assert report.chunks >= 3
    assert "3 files: 3 indexed" in report.summary()


def test_unchanged_files_are_skipped_without_embedding(ingester, corpus, embedder):
    ingester.ingest([corpus])
    calls = len(embedder.calls)
    report = ingester.ingest([corpus])
    assert report.count("unchanged") == 3
    assert len(embedder.calls) == calls


def test_touched_but_identical_file_is_not_re_embedded(ingester, corpus, embedder):
    ingester.ingest([corpus])
    calls = len(embedder.calls)
    os.utime(corpus / "notes.txt", (1, 1))
    assert ingester.ingest([corpus]).count("unchanged") == 3
    assert len(embedder.calls) == calls


def test_changed_file_is_replaced_and_deleted_file_removed(ingester, corpus):
    ingester.ingest([corpus])
    (corpus / "notes.txt").write_text("Completely new notes about the harbour crane.")
    (corpus / "page.html").unlink()
    report = ingester.ingest([corpus])
    status = {os.path.basename(o.path): o.status for o in report.outcomes}
    assert status == {"notes.txt": "updated", "rivers.md": "unchanged", "page.html": "removed"}


def test_bad_files_are_reported_and_the_rest_indexed(ingester, corpus):
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4\n garbage without structure")
    (corpus / "blob.bin").write_bytes(bytes(range(256)) * 8)
    missing = corpus / "missing.md"
    report = ingester.ingest([corpus, missing])
    failed = {os.path.basename(o.path): o.reason for o in report.failed}
    assert set(failed) == {"empty.txt", "broken.pdf", "blob.bin", "missing.md"}
    assert failed["missing.md"] == "no such file or directory"
    assert all(reason and "\n" not in reason for reason in failed.values())
    assert report.count("indexed") == 3


def test_chunk_budget_over_the_embedder_limit_is_refused(tmp_path, embedder):
    store = IndexStore.open(tmp_path, Manifest(embedder.model_id, 64, 999, 1), create=True)
    with pytest.raises(ValueError, match="silently truncated"):
        Ingester(store, embedder, chunk_tokens=999, overlap_sentences=1, max_file_bytes=10)
