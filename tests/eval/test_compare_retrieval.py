import json

import pytest

from eval.compare_retrieval import compare, main

pytestmark = pytest.mark.unit


def summary(ndcg: dict[str, float]) -> dict:
    per_query = {q: {"ndcg@10": v, "mrr": v} for q, v in ndcg.items()}
    return {"rows": [{"method": "fused", "per_query": per_query}]}


def test_one_moved_query_in_twenty_is_the_same_and_a_shift_of_all_differs():
    base = {f"q{i}": 0.5 for i in range(20)}
    one_moved = {**base, "q3": 0.9}
    all_better = {q: 0.9 for q in base}
    (row, _) = compare(summary(base), summary(one_moved))
    assert row["changed"] == 1 and row["diff"] == pytest.approx(0.02) and row["same"]
    (row, _) = compare(summary(base), summary(all_better))
    assert row["changed"] == 20 and not row["same"]


def test_only_the_queries_both_runs_judged_are_paired():
    (row, _) = compare(summary({"a": 0.0, "b": 1.0}), summary({"b": 1.0, "c": 0.0}))
    assert row["queries"] == 1 and row["diff"] == 0.0


def test_a_summary_without_per_query_figures_is_a_one_line_error(tmp_path, capsys):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"rows": [{"method": "fused", "ndcg@10": 0.5}]}))
    assert main([str(old), str(old)]) == 1
    assert "without per-query figures" in capsys.readouterr().err
