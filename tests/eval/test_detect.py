import json

import pytest

from eval.detect import Detection, detect, load_rows, run, summarize
from generation.types import SentenceVerdict

pytestmark = pytest.mark.unit


class NumbersInContext:
    """Supports a sentence when each of its words with a digit occurs in the context."""

    def verify(self, sentence, grounding):
        context = grounding.passages[1]
        missing = [
            w
            for w in sentence.text.rstrip(".").split()
            if any(c.isdigit() for c in w) and w not in context
        ]
        return SentenceVerdict(
            "unsupported" if missing else "supported",
            0.1 if missing else 0.9,
            f"missing {missing}" if missing else "",
        )


def row(response, hallucinated, id="r"):
    return {
        "id": id,
        "context": "Built in 1887. Visible for 22 miles.",
        "question": "q",
        "response": response,
        "hallucinated": hallucinated,
    }


def test_a_response_is_flagged_when_any_sentence_is_unsupported(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                row("Built in 1887. Visible for 22 miles.", False, "ok"),
                row("Built in 1887. Visible for 40 miles.", True, "bad"),
                row("", False, "empty"),
            ]
        )
    )
    ok, bad, empty = run(load_rows(path), NumbersInContext())
    assert (ok.flagged, ok.score) == (False, pytest.approx(0.1))
    assert (bad.flagged, bad.score, bad.reasons) == (True, pytest.approx(0.9), ("missing ['40']",))
    assert (empty.flagged, empty.score, empty.words) == (False, 0.0, 0)


def test_summary_compares_with_the_length_baseline_on_the_same_labels():
    d = [
        Detection("a", True, True, 0.9, 5, ()),
        Detection("b", True, True, 0.8, 50, ()),
        Detection("c", False, False, 0.1, 60, ()),
        Detection("d", False, True, 0.7, 4, ()),
    ]
    checker, length = summarize(d)
    assert checker["detector"] == "fact-check" and length["detector"] == "length baseline"
    # fact-check: TP 2, FP 1, TN 1 → recalls 1 and 1/2; AUC: 0.9, 0.8 beat 0.1 and 0.7 → 1.0
    assert checker["balanced_accuracy"] == 0.75 and checker["roc_auc"] == 1.0
    assert (checker["precision"], checker["recall"]) == (pytest.approx(2 / 3), 1.0)
    # length: median 27.5 → flags b (50) and c (60): TP 1, FP 1, TN 1, FN 1
    assert length["balanced_accuracy"] == 0.5 and length["roc_auc"] == 0.5
    assert checker["rows"] == 4 and checker["hallucinated"] == 2


def test_bad_rows_name_their_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(row("x", False)) + "\n" + json.dumps(row("y", "yes")) + "\n")
    with pytest.raises(ValueError, match=r"rows.jsonl:2: .*true or false"):
        load_rows(path)
    path.write_text("\n")
    with pytest.raises(ValueError, match="no records"):
        load_rows(path)
    short = {**row("z", True), "passages": ["a", "b"], "headings": ["A"]}
    path.write_text(json.dumps(short) + "\n")
    with pytest.raises(ValueError, match=r"rows.jsonl:1: .*'headings' names 1 passages"):
        load_rows(path)


def test_passages_reach_the_check_under_their_headings(tmp_path):
    path = tmp_path / "rows.jsonl"
    titled = {**row("t", False), "passages": ["a", "b"], "headings": ["Guide > Setup", None]}
    path.write_text(json.dumps(titled) + "\n" + json.dumps(row("u", True)) + "\n")
    with_headings, without = load_rows(path)
    assert [h.passage.heading for h in with_headings.hits()] == ["Guide > Setup", ""]
    assert [h.passage.heading for h in without.hits()] == [""]
    seen = []

    def ground(question, hits):
        from generation.factcheck import Grounding

        seen.append(Grounding.over(question, dict(enumerate(hits, start=1))).headings)
        return Grounding.over(question, dict(enumerate(hits, start=1)))

    class Supported:
        def verify(self, sentence, grounding):
            return SentenceVerdict("supported", 1.0, "")

    detect(with_headings, Supported(), ground)
    assert seen == [{1: "Guide > Setup", 2: ""}]

    class Recorder:
        def verify(self, sentence, grounding):
            seen.append(dict(grounding.headings))
            return SentenceVerdict("supported", 1.0, "")

    seen.clear()
    detect(with_headings, Recorder())  # no answerability measured: the headings still reach it
    assert seen == [{1: "Guide > Setup", 2: ""}]


def test_detect_checks_each_sentence_against_the_context_as_source_1():
    seen = []

    class Recorder:
        def verify(self, sentence, grounding):
            seen.append(
                (sentence.text, sentence.citations, dict(grounding.passages), grounding.question)
            )
            return SentenceVerdict("supported", 1.0, "")

    from eval.detect import Row

    detect(Row("x", "ctx", "why?", "One.\nTwo", False), Recorder())
    assert seen == [("One.", (1,), {1: "ctx"}, "why?"), ("Two", (1,), {1: "ctx"}, "why?")]
    seen.clear()
    grounded = []

    def ground(question, hits):
        from generation.factcheck import Grounding

        grounded.append((question, [h.passage.text for h in hits]))
        return Grounding(
            question, {h.passage.id: h.passage.text for h in hits}, 0.7, {"stated": 1.0}
        )

    detect(Row("y", "a b", "who?", "One.", True, ("a", "b")), Recorder(), ground)
    assert grounded == [("who?", ["a", "b"])]
    assert seen == [("One.", (1, 2), {1: "a", 2: "b"}, "who?")]
