"""The JSON shapes the HTTP API and the MCP server share for passages, files and ingest
outcomes (an answer's is `Answer.to_dict`, the CLI's `--json`)."""

from __future__ import annotations

from index.base import FileRecord
from ingest.ingester import FileOutcome
from retrieval.types import Hit


def hit_dict(h: Hit) -> dict:
    p = h.passage
    return {
        "collection": h.collection,
        "path": p.source,
        "title": p.title,
        "section": p.section,
        "page": p.page,
        "start": p.start,
        "end": p.end,
        "text": p.text,
        "score": h.score,
        "dense_score": h.dense_score,
        "lexical_score": h.lexical_score,
    }


def record_dict(r: FileRecord) -> dict:
    return {
        "path": r.path,
        "format": r.format,
        "documents": r.documents,
        "chunks": r.chunks,
        "sha256": r.sha256,
        "size": r.size,
        "ingested_at": r.ingested_at,
    }


def outcome_dict(o: FileOutcome) -> dict:
    return {"path": o.path, "status": o.status, "chunks": o.chunks, "reason": o.reason}
