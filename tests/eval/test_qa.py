import pytest

from eval.dataset import Question, load_questions
from eval.qa import Response, run, score, summarize, summarize_by_system
from generation.types import AnswerSentence, SentenceVerdict
from index.types import Passage
from retrieval.types import Hit

pytestmark = pytest.mark.unit


def hit(n, text):
    return Hit(
        passage=Passage(id=n, text=text, source=f"/doc{n}.md", title="T", end=len(text)),
        score=0.1,
        dense_score=0.8,
    )


LAMP = hit(1, "The lamp is visible for 22 miles.")
FEES = hit(2, "A berth costs 3 euros per metre.")


class Says:
    """A verifier that supports exactly the sentences containing `word`, and records calls."""

    def __init__(self, word):
        self.word = word
        self.calls = []

    def verify(self, sentence, grounding):
        self.calls.append((sentence.text, grounding.cited(sentence)))
        ok = self.word in sentence.text
        return SentenceVerdict("supported" if ok else "unsupported", float(ok), "")


def response(*sentences, abstained=False, passages=(LAMP, FEES), total=2.0):
    text = (
        "I don't know."
        if abstained
        else " ".join(f"{s.text[:-1]} {''.join(f'[{n}]' for n in s.citations)}." for s in sentences)
    )
    return Response(
        text,
        abstained,
        () if abstained else tuple(sentences),
        passages,
        {"retrieve_s": 0.1, "generate_s": total - 0.1, "total_s": total},
    )


FAR = Question("a", "How far is the lamp visible?", True, (("22",),))
WHO = Question("b", "Who built it?", False)


def test_a_right_answer_with_a_right_citation():
    out = score(FAR, response(AnswerSentence("It is 22 miles.", (1,))), Says("22"), Says("22"))
    assert out.correct and not out.abstained
    assert (out.citations, out.citations_correct, out.retrieval_hit) == (1, 1, True)
    assert out.unsupported_factcheck == out.unsupported_independent == 0


def test_a_right_answer_citing_the_wrong_passage_lowers_citation_precision():
    out = score(FAR, response(AnswerSentence("It is 22 miles.", (2,))), Says("22"))
    assert out.correct and (out.citations, out.citations_correct) == (1, 0)


def test_verifiers_see_only_the_cited_passages_or_all_when_nothing_is_cited():
    checks = Says("22")
    score(FAR, response(AnswerSentence("It is 22 miles.", (2,))), checks)
    assert checks.calls == [("It is 22 miles.", {2: FEES.passage.text})]
    checks = Says("22")
    out = score(FAR, response(AnswerSentence("It is 22 miles.", ())), checks)
    assert checks.calls[0][1] == {1: LAMP.passage.text, 2: FEES.passage.text}
    # Checked against every passage, yet it cited none: no citation to count for it.
    assert out.citations == 0 and out.sentences[0].citations == ()


def test_the_systems_own_verdicts_are_kept_and_the_independent_check_still_runs():
    own = SentenceVerdict("supported", 0.9, "checked by the pipeline")
    independent = Says("nothing")
    out = score(FAR, response(AnswerSentence("Bob did it.", (1,), own)), Says("22"), independent)
    assert out.sentences[0].factcheck == "supported" and out.sentences[0].reason == own.reason
    assert out.sentences[0].independent == "unsupported" and len(independent.calls) == 1


def test_citation_markers_do_not_count_as_answer_text():
    one = Question("c", "How many?", True, (("1",),))
    out = score(one, response(AnswerSentence("There are two.", (1,))), Says("two"))
    assert not out.correct


def test_abstaining_is_right_only_when_the_question_is_unanswerable():
    assert score(WHO, response(abstained=True), Says("x")).correct
    assert not score(FAR, response(abstained=True), Says("x")).correct
    wrong = score(WHO, response(AnswerSentence("Bob built it.", (1,))), Says("x"))
    assert not wrong.correct and wrong.unsupported_factcheck == 1
    assert wrong.retrieval_hit is None and wrong.citations == 0  # not an answerable question


def test_squad_style_answers_give_f1_and_exact_match():
    q = Question("d", "How far?", True, answers=("22 miles",))
    out = score(q, response(AnswerSentence("It is 22 miles.", (1,))), Says("22"))
    assert out.correct and out.exact is False and out.f1 == pytest.approx(2 / 3)
    assert score(q, response(abstained=True), Says("x")).f1 == 0.0


def test_summary_of_a_hand_checked_run():
    outcomes = [
        score(
            FAR,
            response(AnswerSentence("It is 22 miles.", (1,)), total=1.0),
            Says("22"),
            Says("22"),
        ),
        score(
            FAR,
            response(
                AnswerSentence("It is 22 miles.", (2,)),
                AnswerSentence("It is red.", (1,)),
                total=2.0,
            ),
            Says("22"),
            Says("22"),
        ),
        score(FAR, response(abstained=True, total=3.0), Says("22"), Says("22")),
        score(
            WHO, response(AnswerSentence("Bob built it.", (1,)), total=4.0), Says("22"), Says("22")
        ),
        score(WHO, response(abstained=True, total=5.0), Says("22"), Says("22")),
    ]
    row = summarize(outcomes)
    assert row["answerable_accuracy"] == pytest.approx(2 / 3)
    assert row["abstention_rate_answerable"] == pytest.approx(1 / 3)
    assert row["wrong_answer_rate_unanswerable"] == 0.5
    assert row["sentences"] == 4
    assert row["unsupported_rate_factcheck"] == row["unsupported_rate_independent"] == 0.5
    assert row["citation_precision"] == pytest.approx(2 / 3)  # [1] and [1] hold "22", [2] not
    assert row["retrieval_hit_rate"] == 1.0
    assert row["total_p50_s"] == 3.0 and row["total_p95_s"] == pytest.approx(4.8)
    assert row["f1"] is None


def test_undefined_rates_are_none_not_zero():
    row = summarize([score(FAR, response(AnswerSentence("It is 22 miles.", (1,))), Says("22"))])
    assert row["wrong_answer_rate_unanswerable"] is None
    assert row["unsupported_rate_independent"] is None


class Fixed:
    def __init__(self, name, reply):
        self.name, self.reply, self.asked = name, reply, []

    def respond(self, question):
        self.asked.append(question)
        return self.reply


def test_run_asks_every_system_every_question_and_groups_rows_by_system():
    a = Fixed("a", response(AnswerSentence("It is 22 miles.", (1,))))
    b = Fixed("b", response(abstained=True))
    seen = []
    outcomes = run([a, b], [FAR, WHO], Says("22"), on_outcome=seen.append)
    assert a.asked == b.asked == [FAR.question, WHO.question]
    assert [(o.system, o.id) for o in seen] == [("a", "a"), ("a", "b"), ("b", "a"), ("b", "b")]
    rows = summarize_by_system(outcomes)
    assert [r["system"] for r in rows] == ["a", "b"]
    assert rows[0]["answerable_accuracy"] == 1.0 and rows[1]["answerable_accuracy"] == 0.0
    assert rows[1]["wrong_answer_rate_unanswerable"] == 0.0


def test_question_files_are_validated_with_line_numbers(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": 1, "question": "x", "answerable": false}\n{"id": 2}\n')
    with pytest.raises(ValueError, match="q.jsonl:2: not a question record"):
        load_questions(path)
    path.write_text('{"id": 1, "question": "x", "answerable": true}\n')
    with pytest.raises(ValueError, match="q.jsonl:1: .*neither 'accept' nor 'answers'"):
        load_questions(path)
    path.write_text('{"id": 1, "question": "x", "answerable": false}\n' * 2)
    with pytest.raises(ValueError, match="q.jsonl:2: duplicate id '1'"):
        load_questions(path)


def test_both_answer_forms_load(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(
        '{"id": "a", "question": "x", "answerable": true, "accept": [["7b", "65b"]]}\n'
        '{"id": "b", "question": "y", "answerable": true, "answers": ["Paris"]}\n'
    )
    a, b = load_questions(path)
    assert a.accept == (("7b", "65b"),) and b.answers == ("Paris",)
    assert b.accepts("It is paris.") and not b.accepts("Comparison")
