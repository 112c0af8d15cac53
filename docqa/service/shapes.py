"""The JSON shapes the HTTP API and the MCP server share for passages, files and ingest
outcomes (an answer's is `Answer.to_dict`, the CLI's `--json`)."""

from __future__ import annotations

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


def outcome_dict(o: FileOutcome) -> dict:
    return {"path": o.path, "status": o.status, "chunks": o.chunks, "reason": o.reason}
