"""The embedder's dimension and input limit come from the model folder's files, so opening an
index or re-ingesting unchanged files loads no model; the files and the model agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.embedding import declared_shape, resolve_embedding_model


def write_folder(root: Path, modules: list[tuple[str, str, dict]], limit: int = 512) -> Path:
    root.mkdir(exist_ok=True)
    entries = []
    for i, (kind, path, config) in enumerate(modules):
        entries.append(
            {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
        )
        if config:
            (root / path).mkdir(exist_ok=True)
            (root / path / "config.json").write_text(json.dumps(config))
    (root / "modules.json").write_text(json.dumps(entries))
    (root / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": limit}))
    return root


@pytest.mark.unit
def test_a_dense_layer_sets_the_width(tmp_path):
    folder = write_folder(
        tmp_path / "m",
        [
            ("Transformer", "", {"hidden_size": 768}),
            (
                "Pooling",
                "1_Pooling",
                {
                    "word_embedding_dimension": 768,
                    "pooling_mode_mean_tokens": True,
                    "pooling_mode_max_tokens": True,
                },
            ),
            ("Dense", "2_Dense", {"in_features": 1536, "out_features": 256}),
            ("Normalize", "3_Normalize", {}),
        ],
    )
    assert declared_shape(folder) == (256, 512)


@pytest.mark.unit
def test_two_pooling_modes_double_the_width(tmp_path):
    folder = write_folder(
        tmp_path / "m",
        [
            ("Transformer", "", {"hidden_size": 384}),
            (
                "Pooling",
                "1_Pooling",
                {
                    "word_embedding_dimension": 384,
                    "pooling_mode_cls_token": True,
                    "pooling_mode_mean_tokens": True,
                },
            ),
        ],
        limit=128,
    )
    assert declared_shape(folder) == (768, 128)


@pytest.mark.unit
def test_an_unknown_module_or_missing_file_says_nothing(tmp_path):
    unknown = write_folder(
        tmp_path / "u",
        [("Transformer", "", {"hidden_size": 384}), ("LSTM", "1_LSTM", {"hidden_dim": 99})],
    )
    assert declared_shape(unknown) is None
    assert declared_shape(tmp_path / "nothing-here") is None


@pytest.mark.integration
def test_the_default_models_files_agree_with_the_loaded_model(real_embedder):
    declared = declared_shape(resolve_embedding_model("all-MiniLM-L6-v2"))
    model = real_embedder._load()
    dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    assert declared == (int(dim()), int(model.max_seq_length)) == (384, 256)
