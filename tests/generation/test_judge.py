import pytest

from generation.factcheck import Grounding
from generation.judge import ModelJudge
from generation.types import AnswerSentence

pytestmark = pytest.mark.unit


class Scorer:
    def __init__(self, p_yes):
        self.p_yes = p_yes
        self.calls = []

    def choice_probabilities(self, messages, choices):
        self.calls.append((messages, choices))
        return [self.p_yes, 1 - self.p_yes]


def test_judge_reads_p_yes_against_its_threshold():
    sentence = AnswerSentence("It is 22 miles.", (1,))
    assert ModelJudge(Scorer(0.8), 0.5).verify(sentence, Grounding("q", {1: "22 miles."})).ok
    low = ModelJudge(Scorer(0.3), 0.5).verify(sentence, Grounding("q", {1: "22 miles."}))
    assert low.verdict == "unsupported" and low.score == 0.3 and "0.30" in low.reason


def test_judge_sees_only_the_cited_passages():
    scorer = Scorer(0.9)
    ModelJudge(scorer).verify(
        AnswerSentence("x.", (2,)), Grounding("q", {1: "not cited", 2: "cited text"})
    )
    ((messages, choices),) = scorer.calls
    assert choices == ["yes", "no"]
    assert "[2] cited text" in messages[1]["content"]
    assert "not cited" not in messages[1]["content"]
