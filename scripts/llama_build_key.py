"""Print the pinned llama-cpp-python requirement and the key of the build setup.sh makes of it.

The key names a build by what changes its binary: the version, the CMake flags (`CMAKE_ARGS`)
and, for a native build, the CPU's instruction sets, so that a wheel made for one CPU is never
installed on another from a shared home folder.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import tomllib
from pathlib import Path


def requirement() -> str:
    """llama-cpp-python's pin, read from pyproject.toml so that it is written only there."""
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    for dependency in pyproject["project"]["dependencies"]:
        if re.match(r"llama-cpp-python\s*==", dependency):
            return dependency.replace(" ", "")
    raise SystemExit("pyproject.toml does not pin llama-cpp-python")


def cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return " ".join(sorted(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return f"{platform.machine()} {platform.processor()}"


if __name__ == "__main__":
    pinned = requirement()
    flags = os.environ.get("CMAKE_ARGS", "")
    digest = hashlib.sha256(f"{pinned}\n{flags}\n{cpu()}".encode()).hexdigest()[:16]
    print(pinned, f"{pinned.split('==')[1]}-{digest}")
