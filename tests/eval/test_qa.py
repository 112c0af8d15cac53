import pytest

from eval.dataset import Question, load_questions
from eval.qa import score, summarize
from generation.types import ABSTENTION, Answer, AnswerSentence, SentenceVerdict, Source
from retrieval.types import Hit

pytestmark = pytest.mark.unit

HIT = Hit(1, "The lamp is visible for 22 miles.", "/h.md", "H", "", None, 0, 9, "", 0.1, 0.8)


class Says:
    def __init__(self, ok):
        self.ok = ok

    def verify(self, sentence, passages, question):
        assert passages == {1: HIT.text}
        return SentenceVerdict("supported" if self.ok else "unsupported", 1.0, "")


def answer(text, abstained=False):
    sentences = () if abstained else (AnswerSentence(text, (1,)),)
    return Answer("q", ABSTENTION if abstained else text, abstained, sentences,
                  (Source(1, HIT),), timings={"total_s": 2.0})


def test_scoring_answerable_and_unanswerable_questions():
    q = Question("a", "How far?", True, (("22",),))
    u = Question("b", "Who?", False)
    assert score(q, answer("It is 22 miles [1]."), Says(True)).correct
    assert not score(q, answer("", abstained=True), Says(True)).correct
    assert score(u, answer("", abstained=True), Says(True)).correct
    wrong = score(u, answer("Bob [1]."), Says(False))
    assert not wrong.correct and wrong.unsupported == 1


def test_summary_rates():
    q = Question("a", "How far?", True, (("22",),))
    u = Question("b", "Who?", False)
    outcomes = [score(q, answer("22 [1]."), Says(True)), score(u, answer("Bob [1]."), Says(False))]
    s = summarize(outcomes)
    assert s["answerable_accuracy"] == 1.0
    assert s["wrong_answer_rate_unanswerable"] == 1.0
    assert s["unsupported_sentence_rate"] == 0.5
    assert s["mean_total_s"] == 2.0


def test_question_files_are_validated_with_line_numbers(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": 1, "question": "x", "answerable": false}\n{"id": 2}\n')
    with pytest.raises(ValueError, match="q.jsonl:2: not a question record"):
        load_questions(path)
