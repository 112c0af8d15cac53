"""The calibrated support check: which judges it asks, in which order, and over what."""

import pytest

from core.fakes import HashEmbedder
from generation.calibration import Logistic
from generation.factcheck import Grounding, check_answer
from generation.fakes import ScriptedGenerator
from generation.probes import PROBE_SYSTEM, Probes, supports_messages
from generation.support import SupportCheck
from generation.types import AnswerSentence
from generation.windows import SentenceWindows

pytestmark = pytest.mark.unit

PASSAGE = "The lamp is red. The tower is tall. The harbour is small."
PROMPT = (
    {"role": "system", "content": f'Sources: <source n="1">{PASSAGE}</source>'},
    {"role": "user", "content": "What colour is the lamp?"},
)
SENTENCES = [AnswerSentence("The lamp is red.", (1,)), AnswerSentence("The tower is tall.", (1,))]
RANGES = {"affirmed": (-4.0, 4.0), "judge": (-4.0, 4.0)}


def check(gen, weights, *, judge="auto", threshold=0.5):
    model = Logistic(("affirmed", "judge", "similarity"), weights, 0.0)
    return SupportCheck(
        SentenceWindows(HashEmbedder(64)),
        model,
        threshold,
        probes=Probes(gen),
        judge=judge,
        judge_ranges=RANGES,
    )


def grounding(messages=PROMPT):
    return Grounding("What colour is the lamp?", {1: PASSAGE}, messages=messages)


def test_each_judge_asks_about_every_sentence_before_the_next_judge_asks():
    # The window judge goes first, for all sentences; then the answer-prompt judge, whose
    # context (the answer prompt) the generator brings back once for all of them.
    gen = ScriptedGenerator([], yes=0.8)
    verdicts = check(gen, (1.0, 1.0, 0.0), judge="always").verify_all(SENTENCES, grounding())
    first, second, third, fourth = gen.probes
    assert first[0]["content"] == second[0]["content"] == PROBE_SYSTEM
    assert third == supports_messages(list(PROMPT), "The lamp is red.")
    assert fourth == supports_messages(list(PROMPT), "The tower is tall.")
    assert third[0] == PROMPT[0]  # the sources as the answer model read them
    assert all({"affirmed", "judge"} <= set(v.signals) for v in verdicts)
    assert all(v.ok and "the model judges it stated" in v.reason for v in verdicts)


def test_no_judge_is_asked_when_the_cheap_signals_decide():
    gen = ScriptedGenerator([], yes=0.9)
    # Similarity alone outweighs anything either judge could say, in either direction.
    verdicts = check(gen, (0.1, 0.1, 50.0)).verify_all(SENTENCES, grounding())
    assert gen.probes == []
    assert all("decided without the model judge" in v.reason for v in verdicts)


def test_the_answer_prompt_judge_is_skipped_once_the_window_judge_has_decided():
    gen = ScriptedGenerator([], yes=0.99)
    verdicts = check(gen, (0.1, 5.0, 0.0)).verify_all(SENTENCES[:1], grounding())
    assert len(gen.probes) == 1 and gen.probes[0][0]["content"] == PROBE_SYSTEM
    (verdict,) = verdicts
    assert verdict.ok and "judge" in verdict.signals
    # The judge not asked is reported at the end of its range nearest the threshold.
    assert verdict.signals["affirmed"] == RANGES["affirmed"][0]


def test_the_window_judge_is_asked_when_the_answer_prompt_judge_alone_could_decide():
    # The order is fixed, not chosen per sentence: the window judge first even here, and then
    # the answer-prompt judge is not needed.
    gen = ScriptedGenerator([], yes=0.99)
    check(gen, (5.0, 0.1, 0.0)).verify_all(SENTENCES[:1], grounding())
    assert [p[0]["content"] for p in gen.probes] == [PROBE_SYSTEM, PROMPT[0]["content"]]


def test_a_refused_sentence_reports_the_most_it_could_have_scored():
    gen = ScriptedGenerator([], yes=0.01)
    (verdict,) = check(gen, (0.1, 5.0, 0.0)).verify_all(SENTENCES[:1], grounding())
    assert not verdict.ok and verdict.signals["affirmed"] == RANGES["affirmed"][1]
    assert "the model judges it not stated" in verdict.reason


def test_without_the_answer_prompt_the_judge_reads_the_cited_passages():
    gen = ScriptedGenerator([], yes=0.8)
    check(gen, (1.0, 1.0, 0.0), judge="always").verify_all(SENTENCES[:1], grounding(()))
    system = gen.probes[-1][0]["content"]  # the answer-prompt judge, after the window judge
    assert PASSAGE in system and "You answer questions using only the numbered sources" in system


def test_a_sentence_checked_again_for_another_citation_reuses_its_answer():
    gen = ScriptedGenerator([], yes=0.01)
    passages = {1: PASSAGE, 2: "The ferry leaves at noon."}
    g = Grounding("What colour is the lamp?", passages, messages=PROMPT)
    check_answer(SENTENCES[:1], g, check(gen, (5.0, 0.0, 0.0)))
    # Refused with [1], then tried with [2] alone: the same question to the same prompt (the
    # window judge reads another window, so it is asked again).
    asked = [p for p in gen.probes if p[0]["content"] != PROBE_SYSTEM]
    assert asked == [supports_messages(list(PROMPT), "The lamp is red.")]


def test_the_window_judge_reads_its_window_under_the_passage_heading():
    gen = ScriptedGenerator([], yes=0.8)
    titled = Grounding(
        "What colour is the lamp?", {1: PASSAGE}, messages=PROMPT, headings={1: "Harbour > Lights"}
    )
    check(gen, (0.0, 1.0, 0.0), judge="always").verify_all(SENTENCES[:1], titled)
    window = gen.probes[0][1]["content"]
    assert window.startswith("Text: Harbour: Lights: The lamp is red.")
    # Without a heading (a detection row that names none), the window alone.
    gen = ScriptedGenerator([], yes=0.8)
    check(gen, (0.0, 1.0, 0.0), judge="always").verify_all(SENTENCES[:1], grounding())
    assert gen.probes[0][1]["content"].startswith("Text: The lamp is red.")


def test_the_sentence_is_scored_by_answerability_times_support():
    # Support from similarity alone: weight 0 on the judges, bias 0, so support = sigmoid(w·s).
    # The hash embedder gives the sentence its own window: similarity 1, support sigmoid(2)
    # = 0.881. With answerability 0.5 the sentence's probability is 0.440, below 0.5.
    gen = ScriptedGenerator([], yes=0.5)
    sentence = SENTENCES[:1]
    g = Grounding("What colour is the lamp?", {1: PASSAGE}, messages=PROMPT, answerability=0.5)
    (alone,) = check(gen, (0.0, 0.0, 2.0)).verify_all(sentence, grounding())
    (joint,) = check(gen, (0.0, 0.0, 2.0)).verify_all(sentence, g)
    assert alone.signals["similarity"] == pytest.approx(1.0)
    assert alone.ok and alone.score == pytest.approx(0.881, abs=1e-3)
    assert not joint.ok and joint.score == pytest.approx(0.5 * 0.881, abs=1e-3)
    assert "answerability 0.50 × support 0.88" in joint.reason


def test_a_doubtful_question_asks_the_judges_what_a_sure_one_would_not():
    # Support lies in [sigmoid(-4), sigmoid(4)] = [0.018, 0.982] whatever the window judge
    # says. Against 0.5: undecided for answerability 0.9 (0.016–0.884), decided below for
    # answerability 0.3 (at most 0.295), so the judge is not asked.
    gen = ScriptedGenerator([], yes=0.99)
    (sure,) = check(gen, (0.0, 1.0, 0.0)).verify_all(
        SENTENCES[:1], Grounding("q?", {1: PASSAGE}, messages=PROMPT, answerability=0.9)
    )
    asked = len(gen.probes)
    (doubtful,) = check(gen, (0.0, 1.0, 0.0)).verify_all(
        SENTENCES[:1], Grounding("q?", {1: PASSAGE}, messages=PROMPT, answerability=0.3)
    )
    assert asked == 1 and len(gen.probes) == asked
    assert sure.ok and not doubtful.ok
    assert doubtful.score == pytest.approx(0.3 * 0.982, abs=1e-3)  # the most it could score
