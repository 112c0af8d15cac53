"""Where documents are kept: the stores (SQLite + FAISS in a folder, or PostgreSQL), their
vector layouts, the manifest that ties an index to its embedder, and the records they hold.

Ingest writes through `index`; retrieval reads through it. It imports no other docqa package,
and nothing heavy loads on `import index`: each module imports its libraries itself.
"""
