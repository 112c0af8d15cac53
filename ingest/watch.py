"""Watched folders: files are re-ingested as they change, and removed when deleted.

A change only tells us that something under a watched path moved; the incremental ingest
already knows what to do about every file (skip the unchanged by size and time, replace the
changed, remove what is gone), so each burst of changes — after `debounce_s` of quiet, so that
an editor's save-rename-delete dance or a copied folder is one batch — runs that same ingest
over the watched paths, under the same writer lock as any other ingest. Nothing is decided
from the change events themselves, so a missed or merged event cannot leave the index wrong.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from index.sqlite import is_index_file

log = logging.getLogger(__name__)


def watch(
    paths: Sequence[Path],
    on_change: Callable[[set[Path]], None],
    *,
    debounce_s: float = 2.0,
    stop: threading.Event | None = None,
) -> None:
    """Call `on_change(changed paths)` after each burst of changes under `paths`, until `stop`
    is set (or, without one, until interrupted). An exception in `on_change` is logged and
    watching goes on: a file that cannot be read now may be readable after the next save."""
    from watchfiles import watch as changes

    roots = [Path(p).expanduser() for p in paths]
    missing = [str(p) for p in roots if not p.exists()]
    if missing:
        raise FileNotFoundError(f"cannot watch {', '.join(missing)}: no such file or folder")
    for batch in changes(
        *roots,
        debounce=int(debounce_s * 1000),
        stop_event=stop,
        raise_interrupt=False,
        watch_filter=_relevant,
    ):
        changed = {Path(p) for _, p in batch}
        log.info("%d change(s) under %s", len(changed), ", ".join(map(str, roots)))
        try:
            on_change(changed)
        except Exception as exc:  # noqa: BLE001 - a watcher outlives one bad batch
            log.warning("ingesting the changes failed: %s", exc)


def _relevant(change: object, path: str) -> bool:
    """Changes worth an ingest: not editors' swap and backup files, not the index's own
    files if it lives under a watched folder."""
    name = Path(path).name
    return not (
        name.startswith(".")
        or name.endswith(("~", ".swp", ".tmp", ".partial"))
        or is_index_file(name)
    )
