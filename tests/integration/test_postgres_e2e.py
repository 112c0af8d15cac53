"""The PostgreSQL + pgvector store end to end, through the CLI, on the real embedder and the
small model: ingest, incremental re-ingest, delete, answer, and the same retrieval figures as
the default store on the same BEIR set.

The store-level behaviour (manifest checks, the writer lock, snapshots, hybrid retrieval) is
tested on both back-ends by the unit tests parametrised with the `backend` fixture.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[1] / "fixtures"
DOCQA = [sys.executable, "-m", "docqa"]


def docqa(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([*DOCQA, *args], env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture
def pg_env(pg_database, tmp_path) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "DOCQA_INDEX": str(tmp_path / "unused-folder"),
        "DOCQA_STORE__BACKEND": "postgres",
        "DOCQA_STORE__POSTGRES_DSN": pg_database,
        "DOCQA_STORE__POSTGRES_SCHEMA": f"e2e_{uuid.uuid4().hex[:10]}",
        "DOCQA_GENERATION__MODEL": "smollm2-135m",
    }


def test_cli_ingests_updates_deletes_and_answers_from_postgres(corpus_dir, tmp_path, pg_env):
    corpus = tmp_path / "docs"
    corpus.mkdir()
    for name in ("bakery.html", "harbor-guide.txt", "pump-manual.pdf", "greenhouse.docx"):
        (corpus / name).write_bytes((corpus_dir / name).read_bytes())

    first = docqa("ingest", str(corpus), env=pg_env)
    assert first.returncode == 0, first.stderr
    assert "4 indexed" in first.stdout
    assert not (tmp_path / "unused-folder").exists()  # nothing written to the folder store

    again = docqa("ingest", str(corpus), env=pg_env)
    assert "4 unchanged" in again.stdout, again.stdout

    (corpus / "harbor-guide.txt").write_text("The harbour office opens at nine.\n")
    (corpus / "greenhouse.docx").unlink()
    changed = docqa("ingest", str(corpus), env=pg_env)
    assert "1 updated" in changed.stdout and "1 removed" in changed.stdout, changed.stdout

    listed = docqa("sources", env=pg_env).stdout
    assert "greenhouse.docx" not in listed and listed.count("\n") == 3

    ask = docqa("ask", "--json", "How long does the sourdough rest before baking?", env=pg_env)
    assert ask.returncode == 0, ask.stderr
    data = json.loads(ask.stdout)
    assert any(s["path"].endswith("bakery.html") for s in data["sources"]), data["sources"]
    n_sources = len(data["sources"])
    for sentence in data["sentences"]:
        assert sentence["citations"] and all(1 <= n <= n_sources for n in sentence["citations"])
        assert sentence["verdict"]
    assert data["abstained"] or data["sentences"]

    removed = docqa("remove", str(corpus / "bakery.html"), env=pg_env)
    assert removed.returncode == 0, removed.stderr
    assert docqa("sources", env=pg_env).stdout.count("\n") == 2


def test_a_missing_postgres_index_is_a_one_line_error(pg_env):
    done = docqa("ask", "anything?", env=pg_env)
    assert done.returncode == 1
    assert done.stderr.strip().startswith("docqa: error: no index in PostgreSQL schema")
    assert done.stderr.strip().count("\n") == 0


def test_an_unreachable_server_is_a_one_line_error(pg_env):
    env = {**pg_env, "DOCQA_STORE__POSTGRES_DSN": "postgresql://docqa@127.0.0.1:9/none"}
    done = docqa("ask", "anything?", env=env)
    assert done.returncode == 1
    assert done.stderr.startswith("docqa: error: cannot connect to PostgreSQL")


def test_eval_retrieval_gives_the_same_figures_on_both_stores(pg_env, tmp_path):
    beir = FIXTURES / "beir"
    args = (
        "eval",
        "retrieval",
        str(beir / "corpus.jsonl"),
        str(beir / "queries.jsonl"),
        str(beir / "qrels.tsv"),
    )
    folder_env = {k: v for k, v in pg_env.items() if not k.startswith("DOCQA_STORE__")}
    summaries = {}
    for name, env in (("faiss", folder_env), ("postgres", pg_env)):
        done = docqa(*args, "--out", str(tmp_path / name), env=env)
        assert done.returncode == 0, done.stderr
        summaries[name] = json.loads((tmp_path / name / "summary.json").read_text())
    rows = {name: {r["method"]: r for r in s["rows"]} for name, s in summaries.items()}
    # Dense search is exact on both at this size: identical figures.
    for metric in ("ndcg@10", "recall@10", "mrr"):
        assert rows["postgres"]["dense"][metric] == pytest.approx(rows["faiss"]["dense"][metric])
    # The lexical rankings differ (ts_rank vs BM25), so fused figures may move a little.
    assert rows["postgres"]["fused"]["recall@10"] == 1.0
    assert abs(rows["postgres"]["fused"]["ndcg@10"] - rows["faiss"]["fused"]["ndcg@10"]) < 0.1
    assert summaries["postgres"]["chunks"] == summaries["faiss"]["chunks"]
