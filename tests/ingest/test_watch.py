"""Watched folders: an added, an edited and a deleted file reach the index by themselves."""

from __future__ import annotations

import threading
import time

import pytest

from docqa.pipeline import build_pipeline
from ingest.watch import watch

pytestmark = pytest.mark.unit


def _eventually(check, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_a_watched_folder_follows_its_files(settings, embedder, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "kept.txt").write_text("The ferry leaves at noon from pier four.\n")
    pipeline = build_pipeline(settings, embedder=embedder)
    pipeline.ingest([folder])
    lock = threading.Lock()
    batches: list[set] = []

    def again(changed) -> None:
        with lock:
            batches.append(changed)
            pipeline.ingest([folder])

    def indexed() -> dict[str, str]:
        with lock:
            return {r.path.rsplit("/", 1)[-1]: r.sha256 for r in pipeline.sources()}

    stop = threading.Event()
    watcher = threading.Thread(
        target=watch, args=([folder], again), kwargs={"debounce_s": 0.2, "stop": stop}
    )
    watcher.start()
    try:
        time.sleep(0.5)  # the watch is set up
        (folder / "added.md").write_text("# Added\n\nThe bakery opens at seven.\n")
        assert _eventually(lambda: "added.md" in indexed()), "the added file was not ingested"
        before = indexed()["kept.txt"]
        (folder / "kept.txt").write_text("The ferry leaves at one from pier five.\n")
        assert _eventually(lambda: indexed().get("kept.txt") not in (None, before))
        hits = pipeline.retriever().search("ferry pier", 1)
        assert "pier five" in hits[0].passage.text
        (folder / "added.md").unlink()
        assert _eventually(lambda: "added.md" not in indexed()), "the deleted file stayed"
        (folder / ".kept.txt.swp").write_text("editor noise")
        time.sleep(0.6)
        assert not any(p.name == ".kept.txt.swp" for b in batches for p in b)
    finally:
        stop.set()
        watcher.join(10)
    assert not watcher.is_alive()
    pipeline.close()


def test_watching_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="cannot watch .*nowhere"):
        watch([tmp_path / "nowhere"], lambda changed: None)
