"""How long the commands that embed nothing take, as a person runs them.

    python bench/startup.py [--repeat N]

`docqa --help`, `docqa sources` and an unchanged re-ingest of the fixture corpus, each a new
process, N times; medians. Baselines in the same run: the bare interpreter (`python -c pass`),
and each command as it was before the embedder's shape was read from its files (the same
command with `declared_shape` switched off, so the model loads to answer `dimension`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "fixtures" / "corpus"
# Run docqa with the embedder's declared shape switched off: the cost it saved.
LOADING = (
    "import sys, core.embedding as e; e.declared_shape = lambda folder: None; "
    "from docqa.cli import main; sys.exit(main())"
)


def timed(command: list[str], env: dict[str, str], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="docqa-bench-"))
    try:
        corpus, index = work / "corpus", work / "index"
        shutil.copytree(CORPUS, corpus)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "DOCQA_INDEX": str(index)}
        docqa = [sys.executable, "-m", "docqa"]
        subprocess.run([*docqa, "ingest", str(corpus)], env=env, check=True, capture_output=True)
        base = timed([sys.executable, "-c", "pass"], env, args.repeat)
        print(f"python -c pass: {base:.2f} s (median of {args.repeat})")
        print(f"{'command':32} {'now s':>7} {'model loaded s':>15} {'ratio':>6}")
        for name, tail in (
            ("docqa --help", ["--help"]),
            ("docqa sources", ["sources"]),
            ("docqa ingest (unchanged)", ["ingest", str(corpus)]),
        ):
            now = timed([*docqa, *tail], env, args.repeat)
            before = timed([sys.executable, "-c", LOADING, *tail], env, args.repeat)
            print(f"{name:32} {now:7.2f} {before:15.2f} {now / before:6.2f}")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
