"""The library API end to end on fakes: ingest, ask, sources, remove through build_pipeline."""

import pytest

from docqa.pipeline import build_pipeline
from generation.fakes import ScriptedGenerator

pytestmark = pytest.mark.unit


def test_ingest_ask_sources_remove(settings, embedder, corpus):
    gen = ScriptedGenerator(["The budget is 18,000 euros [1]."])
    pipe = build_pipeline(settings, embedder=embedder, generator=gen)
    assert pipe.ingest([corpus]).count("indexed") == 3
    answer = pipe.ask("What is the budget for the lighthouse repair?")
    assert not answer.abstained
    assert answer.cited[0].hit.passage.source.endswith("notes.txt")
    assert "lighthouse" in gen.calls[0]["messages"][0]["content"]
    assert len(pipe.sources()) == 3
    removed = pipe.remove(corpus / "notes.txt")
    assert [p.rsplit("/", 1)[-1] for p, _ in removed] == ["notes.txt"]
    assert len(pipe.sources()) == 2
    pipe.close()


def test_retrieval_fuses_dense_and_lexical_hits(settings, embedder, corpus):
    pipe = build_pipeline(settings, embedder=embedder, generator=ScriptedGenerator([]))
    pipe.ingest([corpus])
    hits = pipe.retriever().search("sourdough baking hours", 3)
    assert hits[0].passage.source.endswith("page.html")
    assert hits[0].dense_score is not None and hits[0].lexical_score is not None
    assert all(h.dense_score is not None for h in hits)
    pipe.close()


def test_warm_up_declares_the_fixed_prompt_prefixes(settings, embedder, corpus):
    from generation.probes import PROBE_SYSTEM
    from generation.prompts import system_prefix
    from generation.rewrite import REWRITE_SYSTEM

    gen = ScriptedGenerator([])
    pipe = build_pipeline(settings, embedder=embedder, generator=gen)
    pipe.ingest([corpus])
    pipe.warm_up()
    assert set(gen.kept_prefixes) == {
        system_prefix(settings.generation.max_sentences),
        PROBE_SYSTEM,
        REWRITE_SYSTEM,
    }
    assert gen.calls == []  # warming up answers nothing
    pipe.close()
