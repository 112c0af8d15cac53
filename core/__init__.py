"""What every stage builds on: sentences, the embedder, and the root of the errors.

Below index, ingest, retrieval and generation alike, and importing no other docqa package: the
`Embedder` protocol and the sentence-transformers embedder (`core.embedding`), a hashing
stand-in for tests (`core.fakes`), the sentence splitter (`core.sentences`) and `DocqaError`
(`core.errors`).
"""
