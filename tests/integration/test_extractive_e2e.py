"""Extractive mode on the real small model, in-process and behind a server: every answer
sentence is copied from its source."""

from __future__ import annotations

import pytest

from docqa.pipeline import build_pipeline

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["llama_cpp", "server"])
def pipeline(request, index_settings, real_embedder, corpus_dir):
    """The small model in-process, then the same model behind llama-cpp-python's server."""
    generation = {"model": "smollm2-135m", "mode": "extractive", "backend": request.param}
    if request.param == "server":
        generation["server_url"] = request.getfixturevalue("llama_server")
    settings = index_settings.model_copy(
        update={
            "generation": index_settings.generation.model_copy(update=generation),
            "factcheck": index_settings.factcheck.model_copy(update={"policy": "flag"}),
        }
    )
    pipe = build_pipeline(settings, embedder=real_embedder)
    pipe.ingest([corpus_dir])
    yield pipe
    pipe.close()


@pytest.mark.parametrize(
    "question",
    [
        "How long does the sourdough rest before baking?",
        "What budget did the council approve for the tram line?",
    ],
)
def test_every_sentence_is_a_verbatim_copy_from_the_passage_it_cites(pipeline, question):
    answer = pipeline.ask(question)
    if answer.abstained:
        assert answer.abstain_reason
        return
    texts = {s.n: " ".join(s.hit.passage.text.split()) for s in answer.sources}
    for sentence in answer.sentences:
        (n,) = sentence.citations
        assert " ".join(sentence.text[:-1].split()) in texts[n]
