"""The FAISS index behind dense search, laid out by collection size.

Exact search over every vector is the right answer for a personal library: at 50,000 chunks
it takes a few milliseconds, needs no training and is never wrong. It grows linearly, though,
so past `exact_max` vectors the index becomes an inverted file (IVF): k-means cells trained on
a sample of the collection, of which a query scans only the `nprobe` nearest. Its codes are
8-bit scalar-quantised by default (a quarter of float32's memory); the few candidates it
returns are re-scored exactly by the caller, so quantisation costs speed, not ranking.

The layout follows the collection: `needs_rebuild` says when a flat index has outgrown exact
search, when an IVF index has grown four times past what its cells were trained for, or when
it has shrunk back to where exact search is cheap (with hysteresis, so a collection near the
threshold does not flip at every ingest). The store rebuilds from the embeddings SQLite keeps.

Indexes read from disk are memory-mapped, so opening a large collection for a question does
not copy it into memory. FAISS cannot modify a memory-mapped index (it aborts the process), so
`VectorIndex` reloads a private copy before its first change.

Not here: where the vectors come from (the store) or which file is current (the store's
generation counter).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

log = logging.getLogger(__name__)

# Training points per IVF cell: FAISS warns below 39; more buys little on embeddings.
TRAIN_PER_CELL = 48
# Maps flat codes and IVF lists alike; adding IO_FLAG_MMAP to it makes IVF reads fail (1.15).
_MMAP_FLAGS = faiss.IO_FLAG_MMAP_IFC


@dataclass(frozen=True, slots=True)
class VectorIndexPolicy:
    """When to switch from exact to approximate search, and how approximate to be."""

    exact_max: int = 50_000
    nprobe: int = 32
    quantize: bool = True
    refine: int = 2

    def kind_for(self, n: int) -> str:
        return "flat" if n <= self.exact_max else "ivf"

    @staticmethod
    def nlist_for(n: int) -> int:
        """Cells for n vectors: about 2·√n as a power of two (1M vectors → 2048 cells).

        >>> VectorIndexPolicy.nlist_for(100_000), VectorIndexPolicy.nlist_for(1_000_000)
        (512, 2048)
        """
        return 2 ** max(4, round(math.log2(2 * math.sqrt(max(n, 1)))))

    def needs_rebuild(self, index: faiss.Index, n: int) -> bool:
        """True when the index's layout no longer suits a collection of n vectors.

        >>> p = VectorIndexPolicy(exact_max=1000)
        >>> flat = faiss.IndexIDMap2(faiss.IndexFlatIP(4))
        >>> p.needs_rebuild(flat, 1000), p.needs_rebuild(flat, 1001)
        (False, True)
        """
        ivf = _ivf(index)
        if ivf is None:
            return n > self.exact_max
        if n <= self.exact_max // 2:
            return True
        return self.nlist_for(n) >= 2 * ivf.nlist


class VectorIndex:
    """A FAISS index of chunk ids → unit vectors, searched by inner product (cosine)."""

    def __init__(
        self, index: faiss.Index, policy: VectorIndexPolicy, *, path: Path | None = None
    ) -> None:
        self.policy = policy
        self._mapped_from = path  # set while `index` is a read-only memory map of this file
        self._adopt(index)

    def _adopt(self, index: faiss.Index) -> None:
        """Make `index` the one searched, with the policy's nprobe (FAISS does not save it)."""
        self._index = index
        ivf = _ivf(index)
        if ivf is not None:
            ivf.nprobe = min(self.policy.nprobe, ivf.nlist)

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    @property
    def exact(self) -> bool:
        """Whether scores are exact inner products (no re-scoring needed)."""
        return _ivf(self._index) is None

    def outgrown(self) -> bool:
        """Whether the collection has grown or shrunk past what this layout suits."""
        return self.policy.needs_rebuild(self._index, self.ntotal)

    def describe(self) -> str:
        ivf = _ivf(self._index)
        if ivf is None:
            return f"exact, {self.ntotal} vectors"
        quantized = isinstance(faiss.downcast_index(self._index), faiss.IndexIVFScalarQuantizer)
        codes = "8-bit codes" if quantized else "float32"
        return f"IVF {ivf.nlist} cells, nprobe {ivf.nprobe}, {codes}, {self.ntotal} vectors"

    # ---- reading -------------------------------------------------------------------------
    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Up to k (id, score) pairs, best first. An approximate index returns `refine`×k
        candidates so the caller can re-score them exactly and keep the best k."""
        if self.ntotal == 0 or k <= 0:
            return []
        depth = k if self.exact else k * self.policy.refine
        query = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
        # One query is faster on one thread: FAISS's OpenMP split of a single query took twice
        # as long as one thread at 10k–100k vectors on 2 cores (flat, 100k: 15.0 vs 7.4 ms).
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, ids = self._index.search(query, min(depth, self.ntotal))
        finally:
            faiss.omp_set_num_threads(threads)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    # ---- writing -------------------------------------------------------------------------
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._writable().add_with_ids(
            np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64)
        )

    def remove(self, ids: Iterable[int]) -> None:
        self._writable().remove_ids(np.fromiter(ids, dtype=np.int64))

    def save(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))

    def _writable(self) -> faiss.Index:
        if self._mapped_from is not None:
            log.debug("loading %s into memory before changing it", self._mapped_from.name)
            self._adopt(faiss.read_index(str(self._mapped_from)))
            self._mapped_from = None
        return self._index

    # ---- making --------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path, policy: VectorIndexPolicy) -> VectorIndex:
        return cls(faiss.read_index(str(path), _MMAP_FLAGS), policy, path=path)

    @classmethod
    def build(
        cls,
        dimension: int,
        n: int,
        policy: VectorIndexPolicy,
        batches: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]],
        sample: Callable[[int], np.ndarray],
    ) -> VectorIndex:
        """A new index for n vectors, laid out by `policy`.

        `batches()` yields (ids, vectors) covering the collection; `sample(m)` returns m
        vectors drawn uniformly from it, to train IVF cells on.
        """
        if policy.kind_for(n) == "flat":
            index: faiss.Index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        else:
            index = _trained_ivf(dimension, n, policy, sample)
        built = cls(index, policy)
        for ids, vectors in batches():
            built.add(ids, vectors)
        log.info("vector index: %s", built.describe())
        return built


def _trained_ivf(
    dimension: int, n: int, policy: VectorIndexPolicy, sample: Callable[[int], np.ndarray]
) -> faiss.Index:
    nlist = policy.nlist_for(n)
    quantizer = faiss.IndexFlatIP(dimension)
    if policy.quantize:
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dimension, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
    else:
        index = faiss.IndexIVFFlat(quantizer, dimension, nlist, faiss.METRIC_INNER_PRODUCT)
    points = np.ascontiguousarray(sample(min(n, TRAIN_PER_CELL * nlist)), dtype=np.float32)
    log.info("training %d IVF cells on %d vectors", nlist, len(points))
    index.train(points)
    return index


def _ivf(index: faiss.Index) -> faiss.IndexIVF | None:
    return faiss.try_extract_index_ivf(index)
