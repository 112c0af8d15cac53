"""What every stage does with text: split it into sentences and embed it.

Below ingest, retrieval and generation alike, and importing no other docqa package: the
`Embedder` protocol and the sentence-transformers embedder (`text.embedding`), a hashing
stand-in for tests (`text.fakes`), and the sentence splitter (`text.sentences`).
"""
