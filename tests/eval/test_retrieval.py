from pathlib import Path

import pytest

from docqa.pipeline import build_pipeline
from eval.retrieval import evaluate, load_beir

pytestmark = pytest.mark.unit

BEIR = Path(__file__).parents[1] / "fixtures" / "beir"


def test_load_beir_reads_all_three_files():
    data = load_beir(BEIR / "corpus.jsonl", BEIR / "queries.jsonl", BEIR / "qrels.tsv")
    assert len(data.corpus) == 8 and data.corpus["tram"][0] == "Council approves the tram line"
    assert data.qrels["q4"] == {"library": 1, "hours": 0}
    assert "q6" in data.queries and "q6" not in data.qrels


def test_bad_beir_files_name_the_line(tmp_path):
    (tmp_path / "c.jsonl").write_text('{"_id": "a", "text": "x"}\n{"text": "no id"}\n')
    with pytest.raises(ValueError, match=r"c.jsonl:2: not a corpus document with an _id"):
        load_beir(tmp_path / "c.jsonl", BEIR / "queries.jsonl", BEIR / "qrels.tsv")
    (tmp_path / "q.tsv").write_text("q1\tlighthouse\tmany\n")
    with pytest.raises(ValueError, match=r"q.tsv:1: not a 'query-id corpus-id score' line"):
        load_beir(BEIR / "corpus.jsonl", BEIR / "queries.jsonl", tmp_path / "q.tsv")
    (tmp_path / "q.tsv").write_text("nope\tlighthouse\t1\n")
    with pytest.raises(ValueError, match="unknown queries: nope"):
        load_beir(BEIR / "corpus.jsonl", BEIR / "queries.jsonl", tmp_path / "q.tsv")


def test_evaluate_ingests_into_a_temporary_index_and_scores_each_method(settings, embedder):
    data = load_beir(BEIR / "corpus.jsonl", BEIR / "queries.jsonl", BEIR / "qrels.tsv")
    result = evaluate(data, build_pipeline(settings, embedder=embedder).temporary)
    assert [r["method"] for r in result.rows] == ["dense", "bm25", "fused"]
    assert result.documents == 8 and result.chunks == 8 and result.queries == 5
    assert not result.failed and not settings.index_dir.exists()  # nothing left behind
    for row in result.rows:
        # 8 documents: every relevant one is within the top 100
        assert row["recall@100"] == 1.0
        assert 0 < row["ndcg@10"] <= 1 and 0 < row["mrr"] <= 1
        assert row["query_p50_ms"] > 0
    # Each query shares a distinctive word with its one relevant document (lighthouse, moor,
    # dough, library, tram), so BM25 and the fusion rank every relevant document first.
    assert result.rows[1]["mrr"] == result.rows[2]["mrr"] == 1.0
    assert "5 judged queries; 8 documents → 8 chunks" in result.markdown()
