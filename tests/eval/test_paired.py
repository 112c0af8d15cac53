"""The paired comparison of two configurations, on hand-checked numbers."""

import pytest

from eval.dataset import Question
from eval.paired import paired_difference, run, table
from generation.types import ABSTENTION, Answer

pytestmark = pytest.mark.unit


def reply(text):
    return Answer("q", text, False, usage={"prompt_tokens": 100})


def test_both_configurations_answer_every_question_and_the_difference_is_paired():
    questions = [
        Question("a1", "How tall?", True, answers=("22 metres",)),
        Question("a2", "How old?", True, answers=("1871",)),
        Question("u1", "Who painted it?", False),
        Question("u2", "When was it sold?", False),
    ]
    a_answers = {
        "How tall?": reply("It is 22 metres tall."),
        "How old?": Answer("q", ABSTENTION, True),
        "Who painted it?": reply("Ana painted it."),
        "When was it sold?": Answer("q", ABSTENTION, True),
    }
    b_answers = {**a_answers, "How old?": reply("It was built in 1871.")}
    seen = []
    a, b = run(
        questions,
        lambda q: a_answers[q],
        lambda q: b_answers[q],
        on_pair=lambda x, y: seen.append((x.id, y.id)),
    )
    assert seen == [(q.id, q.id) for q in questions]
    assert [r.right for r in a] == [True, False, False, True]
    assert [r.right for r in b] == [True, True, False, True]
    text = table(a, b, ("whole", "selected"))
    assert "| answerable accuracy | 0.50 (" in text and "| 1.00 (1.00–1.00) | +0.50" in text
    assert "| wrong answers to unanswerable | 0.50 (" in text
    assert "| prompt tokens, median (answers written) | 100 | 100 | 1.00× |" in text


def test_identical_runs_differ_by_exactly_nothing():
    flags = [True, False, True, True, False]
    assert paired_difference(flags, flags) == (0.0, 0.0, 0.0)
    assert paired_difference([], []) is None
