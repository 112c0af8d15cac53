"""The import rule, read from every module's imports: lower packages never import higher ones.

    core             imports no other docqa package (sentences, the embedder, DocqaError);
    index            imports only core (the stores);
    ingest           imports index and core, never retrieval;
    retrieval        imports index and core, never ingest;
    generation       imports retrieval and below;
    ui, eval         import generation and below, never each other;
    docqa            composes them all; only it (with bench/ and tests/) imports docqa.

Imports inside functions count as much as those at the top: a deferred import is still an
arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[1]
PACKAGES = ["core", "index", "ingest", "retrieval", "generation", "ui", "eval", "docqa"]
ALLOWED = {
    "core": set(),
    "index": {"core"},
    "ingest": {"index", "core"},
    "retrieval": {"index", "core"},
    "generation": {"retrieval", "index", "core"},
    "ui": {"generation", "retrieval", "index", "core", "ingest"},
    "eval": {"generation", "retrieval", "index", "core", "ingest"},
    "docqa": set(PACKAGES) - {"docqa"},
}


def imports_of(package: str) -> dict[str, set[str]]:
    """docqa package → the modules of `package` that import it."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in PACKAGES and top != package:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_only_what_lies_below_them(package):
    wrong = {
        target: sorted(modules)
        for target, modules in imports_of(package).items()
        if target not in ALLOWED[package]
    }
    assert not wrong, f"{package} imports {wrong}"
