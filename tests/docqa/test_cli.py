from pathlib import Path

import pytest

from docqa.cli import format_answer, main
from generation.types import ABSTENTION, Answer, AnswerSentence, Source
from index.types import Passage
from retrieval.types import Hit

pytestmark = pytest.mark.unit


def test_human_output_lists_only_cited_sources_with_page_and_section():
    hits = [
        Hit(
            passage=Passage(
                id=1,
                text="The pump seal lasts 1,500 hours.",
                source="/m/pump.pdf",
                title="Pump",
                section="Pump > Care",
                page=2,
                end=30,
            ),
            score=0.1,
            dense_score=0.7,
        ),
        Hit(
            passage=Passage(id=2, text="Unrelated.", source="/m/other.md", title="Other", end=10),
            score=0.1,
            dense_score=0.4,
        ),
    ]
    answer = Answer(
        "q",
        "Seals last 1,500 hours [1].",
        False,
        (AnswerSentence("Seals last 1,500 hours.", (1,)),),
        tuple(Source(n, h) for n, h in enumerate(hits, 1)),
    )
    text = format_answer(answer)
    assert text.splitlines()[0] == "Seals last 1,500 hours [1]."
    assert "[1] /m/pump.pdf — Pump > Care, page 2" in text
    assert "other.md" not in text


def test_abstention_shows_its_reason():
    text = format_answer(Answer("q", ABSTENTION, True, abstain_reason="the index is empty"))
    assert text == f"{ABSTENTION}\n(the index is empty)"


def test_user_errors_are_one_line_and_exit_1(tmp_path, capsys):
    assert main(["--index", str(tmp_path / "none"), "sources"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("docqa: error: no index at")


def test_flagged_sentences_are_marked_and_explained():
    from generation.types import Evidence, SentenceVerdict

    hit = Hit(
        passage=Passage(
            id=1, text="The lamp is visible for 22 miles.", source="/h.md", title="H", end=33
        ),
        score=0.1,
        dense_score=0.8,
    )
    good = AnswerSentence(
        "Visible for 22 miles.",
        (1,),
        SentenceVerdict("supported", 0.9, "similar", Evidence(1, 0, 33, hit.passage.text)),
    )
    bad = AnswerSentence(
        "Built in 1900.",
        (1,),
        SentenceVerdict("unsupported", 0.0, "1900 is not in the cited passage"),
    )
    answer = Answer(
        "q", "Visible for 22 miles [1]. Built in 1900 [1].", False, (good, bad), (Source(1, hit),)
    )
    from docqa.cli import format_checks

    assert format_answer(answer).splitlines()[0] == (
        "Visible for 22 miles [1]. Built in 1900 [1]. (unsupported)"
    )
    checks = format_checks(answer)
    assert "✓ supported 0.90: Visible for 22 miles." in checks
    assert "? unsupported 0.00: Built in 1900." in checks
    assert "evidence [1]: The lamp is visible for 22 miles." in checks


@pytest.mark.parametrize(
    "argv",
    [
        ["--index", "/i", "--config", "/c.toml", "ui"],
        ["ui", "--index", "/i", "--config", "/c.toml"],
        ["--config", "/c.toml", "ui", "--index", "/i"],
    ],
)
def test_common_options_go_before_or_after_the_command(argv):
    from docqa.cli import _parser

    args = _parser().parse_args(argv)
    assert (args.index, args.config) == (Path("/i"), Path("/c.toml"))


def test_every_command_takes_the_common_options_after_its_name():
    from docqa.cli import _parser

    for argv in (
        ["ingest", "a.md"],
        ["ask", "q"],
        ["sources"],
        ["remove", "a.md"],
        ["ui"],
        ["prepare"],
        ["eval", "qa", "q.jsonl"],
        ["eval", "retrieval", "c", "q", "r"],
        ["eval", "detect", "d.jsonl"],
        ["collections"],
        ["collections", "create", "x"],
        ["serve"],
        ["mcp"],
    ):
        args = _parser().parse_args([*argv, "--index", "/i", "-v"])
        assert args.index == Path("/i") and args.verbose, argv
    assert _parser().parse_args(["--index", "/before", "sources"]).index == Path("/before")


def _ask_args(question, **extra):
    import argparse

    return argparse.Namespace(
        question=question, json=False, explain=False, **{"export": None, **extra}
    )


@pytest.mark.parametrize("interactive", [True, False])
def test_ask_prints_the_preview_first_on_a_terminal_only(
    settings, embedder, corpus, capsys, monkeypatch, interactive
):
    from docqa import cli
    from docqa.pipeline import build_pipeline
    from generation.fakes import ScriptedGenerator

    monkeypatch.setattr(cli, "_interactive", lambda: interactive)
    gen = ScriptedGenerator(["The budget is 18,000 euros [1]."])
    pipe = build_pipeline(settings, embedder=embedder, generator=gen)
    pipe.ingest([corpus])
    assert cli._ask(pipe, _ask_args("What is the budget for the lighthouse repair?")) == 0
    out = capsys.readouterr().out
    answer_at = out.index("The budget is 18,000 euros [1].")
    if interactive:
        assert out.startswith("Closest passage: [1] ") and "notes.txt" in out[:answer_at]
        assert "“" in out[:answer_at]
    else:
        assert "Closest passage" not in out and answer_at == 0
    pipe.close()


@pytest.mark.parametrize("suffix", [".md", ".html"])
def test_ask_exports_the_answer_with_verbatim_quotes(
    settings, embedder, corpus, capsys, tmp_path, suffix
):
    import html
    import re

    from docqa import cli
    from docqa.pipeline import build_pipeline
    from generation.fakes import ScriptedGenerator

    gen = ScriptedGenerator(["The budget is 18,000 euros [1]."])
    pipe = build_pipeline(settings, embedder=embedder, generator=gen)
    pipe.ingest([corpus])
    target = tmp_path / f"answer{suffix}"
    question = "What is the budget for the lighthouse repair?"
    assert cli._ask(pipe, _ask_args(question, export=target)) == 0
    text = target.read_text()
    notes = (corpus / "notes.txt").read_text()
    if suffix == ".md":
        quotes = [line.strip()[2:] for line in text.splitlines() if line.strip()[:2] == "> "]
    else:
        quotes = [html.unescape(q) for q in re.findall(r"<blockquote>(.*?)</blockquote>", text)]
    assert quotes and all(q in notes for q in quotes)
    sha = pipe.sources()[[r.path.endswith("notes.txt") for r in pipe.sources()].index(True)]
    assert sha.sha256 in text and "notes.txt" in text and question in html.unescape(text)
    assert "supported" in text
    pipe.close()
