import json

import pytest

from eval.beir_from_qa import build

pytestmark = pytest.mark.unit


def test_relevance_comes_from_the_accepted_answers(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ferry.md").write_text(
        "# Ferry\n\nThe first ferry to Lunden leaves at 7:40 from pier two, every weekday and "
        "on Saturdays.\n\n"
        "The last ferry back leaves Lunden at 22:15 and takes forty minutes to cross.\n"
    )
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        "\n".join(
            json.dumps(q)
            for q in [
                {
                    "id": "a",
                    "question": "When is the first ferry?",
                    "answerable": True,
                    "accept": [["7:40"]],
                },
                {
                    "id": "b",
                    "question": "How long is the crossing?",
                    "answerable": True,
                    "accept": [["forty", "minutes"], ["40 min"]],
                },
                {"id": "c", "question": "Who built the pier?", "answerable": False, "accept": []},
                {
                    "id": "d",
                    "question": "What does it cost?",
                    "answerable": True,
                    "accept": [["euro"]],
                },
            ]
        )
        + "\n"
    )
    counts = build(docs, questions, tmp_path / "beir")
    assert counts == {"passages": 2, "queries": 2, "judgements": 2, "unmatched": 1}
    corpus = [json.loads(line) for line in (tmp_path / "beir" / "corpus.jsonl").open()]
    qrels = (tmp_path / "beir" / "qrels.tsv").read_text().splitlines()
    by_id = {d["_id"]: d["text"] for d in corpus}
    assert qrels[0] == "query-id\tcorpus-id\tscore"
    judged = dict(line.split("\t")[:2] for line in qrels[1:])
    assert "7:40" in by_id[judged["a"]] and "forty minutes" in by_id[judged["b"]]
