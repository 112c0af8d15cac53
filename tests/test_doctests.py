"""Every docstring example in docqa's packages is a test too: the modules are found, not
listed, so an example written in a new module runs from the day it is written."""

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[1]
PACKAGES = ["core", "index", "ingest", "retrieval", "generation", "ui", "eval", "docqa"]
# `python -m` entry points: importing them is harmless, but they are scripts, not libraries.
SCRIPTS = {"docqa.__main__"}


def modules_with_examples() -> list[str]:
    names = []
    for package in PACKAGES:
        found = pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}.")
        for name in [package, *(info.name for info in found)]:
            if name in SCRIPTS:
                continue
            module = importlib.import_module(name)
            if any(t.examples for t in doctest.DocTestFinder().find(module)):
                names.append(name)
    return sorted(names)


WITH_EXAMPLES = modules_with_examples()


def test_the_examples_are_found():
    assert len(WITH_EXAMPLES) >= 40  # a discovery that silently found nothing would pass all


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
