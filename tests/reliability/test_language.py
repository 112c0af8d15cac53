"""The embedder reads English: a question in another language is refused saying so, not with
a similarity figure that means nothing to the person asking."""

from __future__ import annotations

import pytest

from docqa.pipeline import build_pipeline
from generation.fakes import ScriptedGenerator
from generation.language import HINT

pytestmark = [pytest.mark.reliability, pytest.mark.unit]


@pytest.mark.parametrize(
    "question",
    ["Wie lang ist der Fluss?", "Сколько стоит ремонт?", "¿Cuándo empieza la reparación del faro?"],
)
def test_a_question_in_another_language_is_told_to_ask_in_english(
    settings, embedder, corpus, question
):
    pipe = build_pipeline(settings, embedder=embedder, generator=ScriptedGenerator([]))
    pipe.ingest([corpus])
    answer = pipe.ask(question)
    assert answer.abstained and answer.abstain_reason.startswith(HINT)
    english = pipe.ask("What colour is the moon of Neptune's third lake?")
    assert english.abstained and HINT not in english.abstain_reason
    pipe.close()
