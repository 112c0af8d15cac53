"""A deterministic stand-in for the embedding model, for unit tests and wiring checks.

`HashEmbedder` hashes words into a fixed number of buckets (feature hashing), so texts that
share words are similar and the rest are not. It is good enough for retrieval tests to mean
something and costs microseconds; it is never the default.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"\w+")


class HashEmbedder:
    """Bag-of-words feature hashing into `dimension` buckets, L2-normalised."""

    def __init__(self, dimension: int = 64, max_tokens: int = 256) -> None:
        self.model_id = f"hash-{dimension}"
        self.dimension = dimension
        self.max_tokens = max_tokens
        self.calls: list[int] = []  # batch sizes, so tests can assert what was (not) embedded

    def count_tokens(self, text: str) -> int:
        return len(_WORD.findall(text)) + 2

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
                out[row, int.from_bytes(digest, "little") % self.dimension] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)
