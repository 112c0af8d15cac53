"""Every package in the repository is one `pip install` installs: tests run from the source
tree and would pass with a package left out of pyproject.toml, while `docqa` itself would not
start."""

import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[1]
NOT_SHIPPED = {"tests", "bench", "scripts"}


def test_every_package_is_listed_in_pyproject():
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in ROOT.glob("**/__init__.py")
        if init.parent.relative_to(ROOT).parts[0] not in NOT_SHIPPED
        and not any(
            part.startswith(".") or part.endswith(".egg-info")
            for part in init.relative_to(ROOT).parts
        )
    }
    assert found == listed


def _llama_build(cmake_args: str) -> tuple[str, str]:
    import os
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "llama_build_key.py")],
        env={**os.environ, "CMAKE_ARGS": cmake_args},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out[0], out[1]


def test_setup_builds_the_llama_cpp_python_docqa_supports_under_a_key_of_its_flags():
    """setup.sh keeps each llama.cpp build under this key: other flags must not reuse it."""
    from generation.llama_internals import SUPPORTED_VERSION

    native, portable = _llama_build("-DGGML_NATIVE=ON"), _llama_build("-DGGML_NATIVE=OFF")
    assert native[0] == portable[0] == f"llama-cpp-python=={SUPPORTED_VERSION}"
    assert native[1].startswith(f"{SUPPORTED_VERSION}-") and native[1] != portable[1]
    assert _llama_build("-DGGML_NATIVE=ON") == native
