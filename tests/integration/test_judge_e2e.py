"""The answer model as a judge, on the default model: it tells a supported sentence apart."""

from __future__ import annotations

import pytest

from docqa.pipeline import build_pipeline
from generation.factcheck import Grounding
from generation.judge import ModelJudge
from generation.types import AnswerSentence

pytestmark = pytest.mark.integration

PASSAGE = (
    "The Kestrel Bay lighthouse was built in 1887 on the northern breakwater. Its lamp "
    "is visible for 22 nautical miles in clear weather."
)


@pytest.fixture(scope="module")
def judge(index_settings):
    return ModelJudge(build_pipeline(index_settings).generator, threshold=0.5)


def p_yes(judge, text):
    return judge.verify(AnswerSentence(text, (1,)), Grounding("q", {1: PASSAGE})).score


def test_supported_sentences_score_above_planted_errors(judge):
    right = p_yes(judge, "The lamp is visible for 22 nautical miles.")
    wrong_number = p_yes(judge, "The lamp is visible for 35 nautical miles.")
    invented = p_yes(judge, "The lighthouse keeper is called Johan Berg.")
    assert right > 0.5
    assert wrong_number < right and invented < right
    assert invented < 0.5


def test_reusing_the_evaluated_prefix_gives_the_same_probabilities(index_settings):
    """Consecutive judge prompts share the passages; reusing their evaluation changes nothing."""
    from generation.judge import judge_messages
    from generation.llm import LlamaCppGenerator
    from generation.models import resolve_model

    path = resolve_model("smollm2-135m", index_settings.model_cache)
    warm, cold = LlamaCppGenerator(path), LlamaCppGenerator(path)
    first = judge_messages("The lamp is visible for 22 nautical miles.", {1: PASSAGE})
    second = judge_messages("The tower was built in 1887.", {1: PASSAGE})
    warm.choice_probabilities(first, ["yes", "no"])
    reused = warm.choice_probabilities(second, ["yes", "no"])
    assert reused == pytest.approx(cold.choice_probabilities(second, ["yes", "no"]), abs=1e-4)
    # and going back to a prompt that diverges earlier still gives its own answer
    assert warm.choice_probabilities(first, ["yes", "no"]) == pytest.approx(
        cold.choice_probabilities(first, ["yes", "no"]), abs=1e-4
    )


def test_new_sampling_settings_reuse_the_loaded_model(index_settings):
    from generation.llm import LlamaCppGenerator
    from generation.models import resolve_model

    loaded = LlamaCppGenerator(resolve_model("smollm2-135m", index_settings.model_cache))
    loaded.count_tokens("load it")
    warmer = loaded.with_sampling(0.8, 7)
    assert warmer._llm is loaded._llm  # one copy of the weights
    assert (warmer._temperature, loaded._temperature) == (0.8, 0.0)
    text = warmer.complete([{"role": "user", "content": "Say hi."}], max_tokens=8).text
    assert isinstance(text, str)
