"""Retrieval evaluation on a BEIR-format data set: dense, BM25 and fused, on docqa's own index.

The corpus goes through the real ingest path (each document written as a file, sniffed, parsed,
chunked, embedded and stored with the configured settings) into a temporary index, so the
figures describe docqa as a user runs it, ingest throughput included. Documents are ranked
where their best chunk ranks. Fused retrieval draws as many candidates from each side as the
deepest cut-off needs, so recall@100 is not capped by the interactive candidate count.

BEIR files: `corpus.jsonl` (`_id`, `title`, `text`), `queries.jsonl` (`_id`, `text`) and a
qrels TSV (`query-id`, `corpus-id`, `score`, with or without the header line).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from core.embedding import Embedder
from eval.dataset import read_jsonl
from eval.metrics import dedupe, ndcg_at_k, percentile, recall_at_k, reciprocal_rank
from eval.progress import progress
from index.base import StoreReader
from ingest.ingester import IngestReport
from retrieval.hybrid import HybridRetriever

METHODS = ("dense", "bm25", "fused")
# Chunks retrieved per document wanted: long documents have several chunks, and a document
# only counts once, so ranking to depth k needs more than k chunks.
CHUNKS_PER_DOCUMENT = 3


@dataclass(frozen=True, slots=True)
class BeirSet:
    corpus: dict[str, tuple[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_beir(corpus: Path, queries: Path, qrels: Path) -> BeirSet:
    docs = dict(
        read_jsonl(
            corpus,
            "a corpus document with an _id",
            lambda r, _: (str(r["_id"]), (str(r.get("title") or ""), str(r.get("text") or ""))),
        )
    )
    texts = dict(
        read_jsonl(
            queries, "a query with _id and text", lambda r, _: (str(r["_id"]), str(r["text"]))
        )
    )
    judged: dict[str, dict[str, int]] = {}
    for number, line in enumerate(Path(qrels).read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split("\t") if "\t" in line else line.split()
        if not parts or (number == 1 and parts[0] in ("query-id", "query_id", "qid")):
            continue
        try:
            qid, did, grade = parts[0], parts[-2], int(float(parts[-1]))
        except (ValueError, IndexError) as exc:
            raise ValueError(f"{qrels}:{number}: not a 'query-id corpus-id score' line") from exc
        judged.setdefault(qid, {})[did] = grade
    missing = sorted(q for q in judged if q not in texts)
    if missing:
        raise ValueError(f"{qrels}: judgements for unknown queries: {', '.join(missing[:5])}")
    return BeirSet(docs, texts, judged)


@dataclass(slots=True)
class RetrievalResult:
    rows: list[dict[str, Any]]
    documents: int
    chunks: int
    failed: list[str] = field(default_factory=list)
    ingest_s: float = 0.0
    queries: int = 0

    def markdown(self) -> str:
        """The metrics table, then the corpus and throughput figures and any failed document."""
        from eval.report import fmt, markdown_table

        table = markdown_table(
            self.rows,
            [
                ("method", "method"),
                ("ndcg@10", "nDCG@10"),
                ("recall@10", "recall@10"),
                ("recall@100", "recall@100"),
                ("mrr", "MRR"),
                ("query_p50_ms", "p50 ms"),
                ("query_p95_ms", "p95 ms"),
                ("queries_per_s", "queries/s"),
            ],
        )
        per_s = (lambda n: fmt(n / self.ingest_s)) if self.ingest_s else (lambda n: "—")
        lines = [
            table,
            "",
            f"{self.queries} judged queries; {self.documents} documents → "
            f"{self.chunks} chunks, ingested in {self.ingest_s:.1f} s "
            f"({per_s(self.chunks)} chunks/s, {per_s(self.documents)} documents/s).",
        ]
        lines += [f"- failed: {failure}" for failure in self.failed]
        return "\n".join(lines)


class Temporary(Protocol):
    """A pipeline over an index of its own: what `evaluate` ingests into and searches.
    `docqa.pipeline.Pipeline.temporary` makes one; evaluation does not build it itself."""

    settings: Any  # docqa.config.Settings: the retrieval settings are read
    embedder: Embedder

    def ingest(self, paths: Sequence[Path], *, progress: bool = False) -> IngestReport: ...
    def store(self) -> StoreReader: ...


def evaluate(
    data: BeirSet,
    temporary: Callable[[Path], AbstractContextManager[Temporary]],
    *,
    ks: tuple[int, ...] = (10, 100),
    show_progress: bool | None = None,
) -> RetrievalResult:
    """Ingest `data.corpus` into a fresh temporary index (`temporary(folder)`, dropped after)
    and score every judged query."""
    depth = max(ks)
    with tempfile.TemporaryDirectory(prefix="docqa-beir-") as tmp:
        folder = Path(tmp) / "corpus"
        folder.mkdir()
        by_path = _write_corpus(data.corpus, folder)
        with temporary(Path(tmp) / "index") as pipeline:
            report = pipeline.ingest([folder], progress=bool(show_progress))
            store = pipeline.store()
            doc_of = {i: by_path[c.source] for i, c in store.get_chunks(store.chunk_ids()).items()}
            chunks = len(doc_of)
            r = pipeline.settings.retrieval
            retriever = HybridRetriever(
                store,
                pipeline.embedder,
                candidates=max(r.candidates, depth * CHUNKS_PER_DOCUMENT),
                rrf_k=r.rrf_k,
                lexical_max_rows=r.lexical_max_rows,
            )
            rank: dict[str, Callable[[str, int], list[tuple[int, float]]]] = {
                "dense": retriever.dense,
                "bm25": retriever.lexical,
                "fused": retriever.fused,
            }
            judged = [q for q in data.qrels if any(g > 0 for g in data.qrels[q].values())]
            rows = [
                _score_method(
                    method,
                    rank[method],
                    data,
                    judged,
                    doc_of,
                    ks,
                    min(depth * CHUNKS_PER_DOCUMENT, chunks),
                    show_progress,
                )
                for method in METHODS
            ]
    failed = [f"{by_path.get(o.path, o.path)}: {o.reason}" for o in report.failed]
    return RetrievalResult(rows, len(data.corpus), chunks, failed, report.elapsed_s, len(judged))


def _score_method(
    method: str,
    rank: Callable[[str, int], list[tuple[int, float]]],
    data: BeirSet,
    judged: list[str],
    doc_of: dict[int, str],
    ks: tuple[int, ...],
    chunk_depth: int,
    show_progress: bool | None,
) -> dict[str, Any]:
    """Mean metrics and query latency of one ranking method over the judged queries, and
    each query's metrics."""
    depth = max(ks)
    scores: dict[str, list[float]] = {"ndcg@10": [], "mrr": []}
    scores.update({f"recall@{k}": [] for k in ks})
    seconds = []
    per_query: dict[str, dict[str, float]] = {}
    with progress(len(judged), "queries", show=show_progress) as bar:
        bar.describe(method)
        for qid in judged:
            started = time.perf_counter()
            ranked = rank(data.queries[qid], chunk_depth)
            seconds.append(time.perf_counter() - started)
            docs = dedupe(doc_of[i] for i, _ in ranked if i in doc_of)[:depth]
            relevant = data.qrels[qid]
            scores["ndcg@10"].append(ndcg_at_k(docs, relevant, 10))
            scores["mrr"].append(reciprocal_rank(docs, relevant))
            for k in ks:
                scores[f"recall@{k}"].append(recall_at_k(docs, relevant, k))
            per_query[qid] = {name: values[-1] for name, values in scores.items()}
            bar.update()
    row: dict[str, Any] = {"method": method}
    row.update({name: sum(v) / len(v) if v else None for name, v in scores.items()})
    row["query_p50_ms"] = _ms(percentile(seconds, 50))
    row["query_p95_ms"] = _ms(percentile(seconds, 95))
    row["queries_per_s"] = len(seconds) / sum(seconds) if sum(seconds) else None
    row["per_query"] = per_query  # for paired comparisons (eval.compare_retrieval)
    return row


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _write_corpus(corpus: dict[str, tuple[str, str]], folder: Path) -> dict[str, str]:
    """One text file per document (ids may hold any character, so files are numbered)."""
    by_path = {}
    for number, (doc_id, (title, text)) in enumerate(corpus.items()):
        path = folder / f"{number:08d}.txt"
        path.write_text(f"{title}\n\n{text}\n" if title else f"{text}\n", encoding="utf-8")
        by_path[os.path.abspath(path)] = doc_id
    return by_path
