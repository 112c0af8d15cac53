"""Ingest: load → sniff → parse → chunk → embed → store (FAISS + SQLite), incrementally."""
