"""Knowing what the documents do not say, on the default model and the shipped calibration.

An on-topic question the fixture documents do not answer abstains before the model writes,
with its answerability in the reason; a two-part question whose second part is not in the
documents gets the first part answered and the second named as not stated; the dial's levels
change what is shown.
"""

from __future__ import annotations

import re

import pytest

from docqa.pipeline import build_pipeline
from generation.calibration import Calibration

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pipeline(indexed_pipeline):
    return indexed_pipeline


def at_level(pipeline, level):
    s = pipeline.settings
    return pipeline.reconfigure(
        s.model_copy(update={"factcheck": s.factcheck.model_copy(update={"level": level})})
    )


def test_an_on_topic_question_the_documents_do_not_answer_abstains_with_its_score(pipeline):
    answer = pipeline.ask("Who is the harbour master of Kestrel Bay?")
    assert answer.abstained, answer.text
    assert answer.answerability is not None
    score = re.search(r"answerability (\d\.\d\d) < (\d\.\d\d)", answer.abstain_reason)
    assert score, answer.abstain_reason
    assert float(score.group(1)) == pytest.approx(answer.answerability, abs=0.005)
    assert answer.timings["generate_s"] == 0.0  # decided before the model wrote anything


def test_the_answerable_part_is_answered_and_the_other_named(pipeline):
    answer = pipeline.ask("How tall is the Kestrel Bay lighthouse tower, and who designed it?")
    assert not answer.abstained, answer.abstain_reason
    assert "31" in " ".join(s.text for s in answer.sentences)
    assert answer.unanswered == ("who designed it?",)
    assert answer.text.endswith("The documents do not say: who designed it?")
    assert answer.to_dict()["unanswered"] == ["who designed it?"]


QUESTIONS = (
    "How many nautical miles is the Kestrel Bay lighthouse visible for?",
    "How many berths does the west pontoon have?",
)


def test_the_levels_change_what_is_shown(pipeline):
    calibration = Calibration.load()
    thresholds = [calibration.levels[n].threshold for n in ("strict", "balanced", "lenient")]
    assert thresholds == sorted(thresholds, reverse=True)
    question = QUESTIONS[0]
    everything = at_level(pipeline, 0.0).ask(question)
    assert not everything.abstained and "22" in everything.text
    nothing = at_level(pipeline, 1.0).ask(question)
    assert nothing.abstained and nothing.level == "1.00" and "< 1.00" in nothing.abstain_reason
    for q in QUESTIONS:
        shown = [at_level(pipeline, n).ask(q) for n in ("strict", "balanced", "lenient")]
        # A stricter level shows a subset of what a more lenient one shows.
        for stricter, looser in zip(shown, shown[1:], strict=False):
            assert stricter.abstained or not looser.abstained, q
            assert {s.text for s in stricter.sentences} <= {s.text for s in looser.sentences}


def test_a_question_about_a_name_in_a_many_topic_page_is_not_refused(
    tmp_path_factory, real_embedder, milton_pdf
):
    """A short question about one name against a page that covers several topics: the whole
    page is not similar to the question, the sentence that names her is."""
    from docqa.config import Settings

    root = tmp_path_factory.mktemp("milton")
    settings = Settings.load(env={}, overrides={"index_dir": str(root / "index")})
    pipe = build_pipeline(settings, embedder=real_embedder)
    try:
        pipe.ingest([milton_pdf])
        answer = pipe.ask("Who was Margaret Hale?")
        gate = pipe.gate().check(
            "Who was Margaret Hale?",
            pipe.retriever().search("Who was Margaret Hale?", settings.retrieval.top_k),
        )
    finally:
        pipe.close()
    assert gate.passed and gate.coverage == 1.0
    assert not answer.abstained, answer.abstain_reason
    assert "daughter" in answer.text or "clergyman" in answer.text
    assert any(s.hit.passage.page == 3 for s in answer.cited)


WINDOW = (
    "The Kestrel Bay lighthouse was built in 1887 on the northern breakwater. Its lamp is "
    "visible for 22 nautical miles in clear weather."
)


def test_the_judge_probe_ranks_questions_a_window_answers_above_those_it_does_not(pipeline):
    from generation.probes import Probes

    # The support check's judge. The probe alone is not a decision (a question about the
    # window's subject often scores high); it is one input of the calibrated support
    # probability, and what it must do is rank.
    probes = Probes(pipeline.generator)
    stated = [
        probes.answers(WINDOW, q)
        for q in ("When was the Kestrel Bay lighthouse built?", "How far is the lamp visible?")
    ]
    missing = [
        probes.answers(WINDOW, q)
        for q in (
            "Who designed the Kestrel Bay lighthouse?",
            "Who is the harbour master of Kestrel Bay?",
            "How much did the lighthouse cost to build?",
        )
    ]
    assert min(stated) > max(missing), (stated, missing)
    # The kept instructions and the reused context change nothing: a fresh probe agrees.
    again = Probes(pipeline.generator).answers(WINDOW, "Who designed the Kestrel Bay lighthouse?")
    assert again == pytest.approx(missing[0], abs=1e-3)


def test_the_stated_probe_ranks_questions_its_sources_answer_above_those_they_do_not(pipeline):
    from generation.probes import Probes
    from generation.prompts import build_messages
    from index.types import Passage
    from retrieval.types import Hit

    # The answerability probe reads the answer prompt itself: the sources, then the question
    # and "do the sources above state the answer?".
    source = Hit(
        passage=Passage(text=WINDOW, source="/d/harbour.md", title="Kestrel Bay harbour guide"),
        score=1.0,
    )
    probes = Probes(pipeline.generator)
    sentences = pipeline.settings.generation.max_sentences

    def stated(question):
        return probes.stated(build_messages(question, [source], sentences))

    answered = [
        stated(q)
        for q in ("When was the Kestrel Bay lighthouse built?", "How far is the lamp visible?")
    ]
    missing = [
        stated(q)
        for q in (
            "Who designed the Kestrel Bay lighthouse?",
            "Who is the harbour master of Kestrel Bay?",
            "How much did the lighthouse cost to build?",
        )
    ]
    assert min(answered) > max(missing), (answered, missing)


def test_the_answer_prompt_judge_ranks_sentences_its_sources_state_above_those_they_do_not(
    pipeline,
):
    from generation.probes import Probes
    from generation.prompts import build_messages
    from index.types import Passage
    from retrieval.types import Hit

    # The support check's first judge: after the answer prompt, "Proposed answer: … Do the
    # sources above state this answer to this exact question?". A sentence the sources state
    # but that answers another question ranks low too: support is for this question.
    source = Hit(
        passage=Passage(text=WINDOW, source="/d/harbour.md", title="Kestrel Bay harbour guide"),
        score=1.0,
    )
    probes = Probes(pipeline.generator)
    messages = build_messages(
        "When was the Kestrel Bay lighthouse built?",
        [source],
        pipeline.settings.generation.max_sentences,
    )
    stated = probes.supports(messages, "The Kestrel Bay lighthouse was built in 1887.")
    others = [
        probes.supports(messages, s)
        for s in (
            "The Kestrel Bay lighthouse was built in 1912.",
            "The Kestrel Bay lighthouse was built by Thomas Stevenson.",
            "Its lamp is visible for 22 nautical miles in clear weather.",
        )
    ]
    assert stated > max(others), (stated, others)
