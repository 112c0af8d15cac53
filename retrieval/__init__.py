"""Retrieval: dense (FAISS) and lexical (SQLite FTS5 BM25) search fused by reciprocal rank."""

from retrieval.hybrid import HybridRetriever
from retrieval.types import Hit, Retriever

__all__ = ["Hit", "HybridRetriever", "Retriever"]
