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
