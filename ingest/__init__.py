"""Ingest: load → sniff → parse → chunk → embed, incrementally; writes through `index`."""
