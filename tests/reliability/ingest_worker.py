"""Ingest a folder into an index with the hash embedder: the process the crash test kills.

    python ingest_worker.py CORPUS INDEX [--hold | --real]

INDEX is the index folder; `DOCQA_STORE__*` variables in the environment put the index on
another back-end (PostgreSQL), and `DOCQA_RETRIEVAL__*` ones set its vector layout, as they
would for docqa itself.

Prints "ready" once its imports are done, a line per file as its outcome is final (its status:
"indexed", "removed", …) and "rebuilding" when the vector index is being rebuilt in a new
layout, so the test can time its kill to land anywhere inside the ingest. With
`--hold` it then keeps the index's writer lock until killed, printing "locked"; with `--real`
it embeds with the default model instead of the hash embedder.
"""

import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.fakes import HashEmbedder  # noqa: E402
from docqa.config import Settings  # noqa: E402
from docqa.pipeline import build_pipeline  # noqa: E402
from generation.fakes import ScriptedGenerator  # noqa: E402


class Announce(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("building the vector index"):
            print("rebuilding", flush=True)


logging.getLogger("index.sqlite").addHandler(Announce())
logging.getLogger("index.sqlite").setLevel(logging.INFO)

corpus, index = Path(sys.argv[1]), sys.argv[2]
real = sys.argv[3:] == ["--real"]
pipeline = build_pipeline(
    Settings.load(
        env={
            k: v
            for k, v in os.environ.items()
            if k.startswith(("DOCQA_STORE__", "DOCQA_RETRIEVAL__"))
        },
        overrides={"index_dir": index},
    ),
    embedder=None if real else HashEmbedder(),
    generator=ScriptedGenerator([]),
)
print("ready", flush=True)
pipeline.ingest([corpus], on_outcome=lambda outcome: print(outcome.status, flush=True))
if sys.argv[3:] == ["--hold"]:
    with pipeline.store().writing():
        print("locked", flush=True)
        time.sleep(600)
pipeline.close()
print("done", flush=True)
