"""The real embedder counts tokens on one thread while it encodes on another, as ingest does."""

from __future__ import annotations

import threading

import pytest

from core.embedding import SentenceTransformerEmbedder

pytestmark = pytest.mark.integration


def test_count_tokens_while_encoding_on_another_thread():
    embedder = SentenceTransformerEmbedder(batch_size=8)
    text = "The harbour crane lifts containers all day long. " * 12
    expected = embedder.count_tokens(text)
    texts = [("word " * (i % 60 + 1)).strip() for i in range(48)]
    alone = embedder.embed(texts)
    counts: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set():
            try:
                counts.append(embedder.count_tokens(text))
            except BaseException as exc:  # any error at all fails the test below
                errors.append(exc)
                return
            stop.wait(0.0002)

    counter = threading.Thread(target=count)
    counter.start()
    try:
        together = [embedder.embed(texts) for _ in range(3)]
    finally:
        stop.set()
        counter.join()
    assert errors == []  # a shared fast tokenizer raises "Already borrowed" here
    assert counts and set(counts) == {expected}
    for vectors in together:
        assert abs(vectors - alone).max() < 1e-5
