"""The docstring examples of the pure modules are tests too."""

import doctest
import importlib

import pytest

pytestmark = pytest.mark.unit

MODULES = [
    "ingest.chunking", "core.sentences", "index.vectors", "retrieval.fusion", "generation.grammar",
    "generation.prompts",
    "generation.claims", "generation.factcheck", "generation.judge", "generation.rewrite",
    "eval.dataset",
    "eval.qa", "eval.metrics", "eval.report", "eval.detect", "eval.baseline",
    "eval.detect_rows", "eval.beir_from_qa",
    "generation.calibration", "generation.windows", "generation.parts", "generation.gate",
    "generation.support", "generation.probes", "eval.curve", "eval.fitting", "eval.calibrate",
    "eval.progress", "ui.chat", "ui.app", "docqa.cli", "ingest.loaders", "generation.control",
    "ingest.sniff", "generation.language", "index.errors",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
